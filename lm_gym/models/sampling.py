"""Sampling from a causal LM: one token at a time through the KV cache, prompts left-padded.

Everything in lm_gym that samples from a language model goes through here: the agents' policies
(:mod:`lm_gym.agents.policies`), the evaluation's sampled continuations
(:mod:`lm_gym.evaluation.evaluate`) and the Bambino reward calibration. Prompts of different
lengths are right-aligned in one block with padding on their left (mask 0), as the
text-generation envs lay them out; the model then sees each row's real tokens only, at
positions counted from its own first token, so a padded batch gives every row the same
next-token distribution as that row alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lm_gym.models.loading import forward_with_cache

LogitsHook = Callable[[torch.Tensor, int], torch.Tensor]
"""``hook(logits (B, V), step) -> logits``: e.g. rule out EOS before a minimum length."""


def sample_tokens(
    logits: torch.Tensor, generator: torch.Generator, *, temperature: float, greedy: bool = False
) -> torch.Tensor:
    """Draw one token per row (pure sampling: no top-k/top-p, as in BAMBINO-LM's code).

    Sampling inverts each row's cumulative distribution at one uniform draw, which is exact and
    an order of magnitude faster on the CPU than ``torch.multinomial``; tokens of probability 0
    are never chosen.
    """
    if greedy:
        return logits.argmax(-1)
    cdf = torch.softmax(logits / temperature, dim=-1).cumsum(-1)
    uniform = torch.rand((logits.shape[0], 1), generator=generator, device=logits.device)
    # Scaling by the total keeps the draw below the last cdf entry despite rounding.
    draw = uniform * cdf[:, -1:]
    return torch.searchsorted(cdf, draw, right=True).squeeze(-1)


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids counted from each row's first real token (0 on the padding before it)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def with_bos(
    ids: torch.Tensor, mask: torch.Tensor, bos_id: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Put ``bos_id`` right before each row's first real token (one column wider).

    ``ids``/``mask`` are right-aligned blocks (padding on the left, mask 0) followed by any
    columns; the BOS lands in the padding column just before each row's first real token.
    With ``bos_id=None`` the inputs come back unchanged.
    """
    if bos_id is None:
        return ids, mask
    ids = torch.cat([torch.full_like(ids[:, :1], bos_id), ids], dim=1)
    mask = torch.cat([torch.zeros_like(mask[:, :1]), mask], dim=1)
    first = mask.long().argmax(dim=1)  # the first real token (the prompt is never empty)
    rows = torch.arange(ids.shape[0], device=ids.device)
    ids[rows, first - 1] = bos_id
    mask[rows, first - 1] = 1
    return ids, mask


@dataclass
class DecodingState:
    """What incremental decoding carries from one token to the next."""

    cache: Any
    """The model's KV cache."""
    attention_mask: torch.Tensor
    """``(B, length so far)``: 1 on every real token fed so far."""
    next_position: torch.Tensor
    """``(B,)`` position id of the next token of each row."""


def start_decoding(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    bos_id: int | None = None,
    **forward_kwargs: Any,
) -> tuple[Any, DecodingState]:
    """Feed a block of right-aligned prompts (with BOS before each, unless ``None``).

    Returns:
        ``(output, state)``: the model's output on the prompt block (its last position is each
        row's next-token distribution) and the state :func:`continue_decoding` takes.
    """
    ids, mask = with_bos(prompt_ids, prompt_mask, bos_id)
    place = positions(mask)
    output, cache = forward_with_cache(
        model,
        ids,
        None,
        attention_mask=mask.long(),
        position_ids=place,
        **forward_kwargs,
    )
    return output, DecodingState(cache, mask.long(), place[:, -1] + 1)


def continue_decoding(
    model: torch.nn.Module, tokens: torch.Tensor, state: DecodingState, **forward_kwargs: Any
) -> tuple[Any, DecodingState]:
    """Feed one token per row through the cache; outputs as :func:`start_decoding`."""
    mask = torch.cat([state.attention_mask, torch.ones_like(state.attention_mask[:, :1])], 1)
    output, cache = forward_with_cache(
        model,
        tokens[:, None],
        state.cache,
        attention_mask=mask,
        position_ids=state.next_position[:, None],
        **forward_kwargs,
    )
    return output, DecodingState(cache, mask, state.next_position + 1)


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    max_new_tokens: int,
    generator: torch.Generator,
    *,
    eos_id: int,
    pad_id: int,
    bos_id: int | None = None,
    temperature: float = 1.0,
    greedy: bool = False,
    vocab_size: int | None = None,
    logits_hook: LogitsHook | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample continuations of right-aligned prompts, one token per step through the KV cache.

    Args:
        vocab_size: logits beyond it are cut off (a model whose output layer is larger than
            its tokenizer), so no out-of-vocabulary id is drawn.
        logits_hook: applied to each step's logits before sampling.

    Returns:
        ``(tokens, mask)``, both ``(B, max_new_tokens)``: the ids, ``pad_id`` after each row's
        first EOS, and 1.0 for the ids that belong to the continuation (EOS included).
    """
    batch = prompt_ids.shape[0]
    tokens = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=prompt_ids.device)
    mask = torch.zeros_like(tokens, dtype=torch.float32)
    alive = torch.ones(batch, dtype=torch.bool, device=prompt_ids.device)
    output, state = start_decoding(model, prompt_ids, prompt_mask, bos_id=bos_id)
    for step in range(max_new_tokens):
        logits = output.logits[:, -1, :vocab_size].float()
        if logits_hook is not None:
            logits = logits_hook(logits, step)
        sampled = sample_tokens(logits, generator, temperature=temperature, greedy=greedy)
        tokens[:, step] = torch.where(alive, sampled, pad_id)
        mask[:, step] = alive.float()
        alive = alive & (sampled != eos_id)
        if step + 1 < max_new_tokens and alive.any():
            output, state = continue_decoding(model, sampled, state)
        elif not alive.any():
            break
    return tokens, mask
