"""Causal-language-model training: batching, a padding-aware loss, and a training loop.

Used to build the offline recipes at first use and, by the CLM alternation wrapper, to keep
training the baby LM on the new language between RL episodes. Every sentence is one row:
``<s> tokens </s>`` padded on the right; padding never counts in the loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lm_gym.utils.device import autocast


def bos_id(tokenizer) -> int:
    """The id that starts a sequence: BOS, or EOS for tokenizers without one (GPT-2)."""
    token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else None
    if token_id is None:
        token_id = tokenizer.eos_token_id
    if token_id is None:
        raise ValueError("the tokenizer has neither a BOS nor an EOS token to start sequences")
    return int(token_id)


def pad_id(tokenizer) -> int:
    """The padding id: the tokenizer's pad token, else EOS (padding is masked anyway)."""
    token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else None
    return int(token_id if token_id is not None else tokenizer.eos_token_id)


def encode_sentences(
    tokenizer, texts: Sequence[str], max_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode texts as right-padded ``<s> tokens </s>`` rows, truncated to ``max_length``.

    Returns:
        ``(input_ids, attention_mask)``, both int64 of shape ``(len(texts), longest row)``.
    """
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    start, end, pad = bos_id(tokenizer), tokenizer.eos_token_id, pad_id(tokenizer)
    rows = [
        ([start, *ids, end] if end is not None else [start, *ids])[:max_length] for ids in encoded
    ]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention_mask[i, : len(row)] = 1
    return input_ids, attention_mask


def clm_loss(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Mean next-token cross-entropy over the real (non-padding) target tokens."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-100
    )


class SentenceBatches:
    """An endless, seeded stream of shuffled sentence batches (epoch after epoch).

    The stream's position (epoch, index) is plain state, so a training run can be checkpointed
    and resumed to exactly the same batches.
    """

    def __init__(self, texts: Sequence[str], batch_size: int, seed: int = 0) -> None:
        if not texts:
            raise ValueError("cannot draw batches from an empty list of sentences")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.texts = list(texts)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.index = 0
        self._order = self._permutation(0)

    @property
    def batches_per_epoch(self) -> int:
        """Number of batches in one pass (the last partial batch is dropped)."""
        return max(1, len(self.texts) // self.batch_size)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.texts))

    def next_batch(self) -> list[str]:
        """The next batch of sentences; starts a new shuffled epoch when one runs out."""
        if self.index >= self.batches_per_epoch:
            self.epoch += 1
            self.index = 0
            self._order = self._permutation(self.epoch)
        start = self.index * self.batch_size
        chosen = self._order[start : start + self.batch_size]
        self.index += 1
        return [self.texts[i] for i in chosen]

    def state_dict(self) -> dict:
        """Position in the stream, for checkpoints."""
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Restore a position saved by :meth:`state_dict`."""
        self.seed, self.epoch, self.index = state["seed"], state["epoch"], state["index"]
        self._order = self._permutation(self.epoch)


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup: int, steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A linear ramp over ``warmup`` steps times a cosine that falls from 1 at the first step
    to 0 at ``steps`` (and stays there)."""

    def factor(step: int) -> float:
        ramp = min(1.0, (step + 1) / max(1, warmup))
        return ramp * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    parameters: Iterable[nn.Parameter],
    max_grad_norm: float = 1.0,
) -> float:
    """One clipped update of ``parameters`` from ``loss``, then one schedule step; the loss."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    optimizer.step()
    schedule.step()
    return loss.item()


def progress_bar(
    steps: int, progress: bool | str | Callable[[int], object], description: str
) -> tuple[tqdm, Callable[[int], object]]:
    """A tqdm bar over ``steps`` steps and a per-step callback, as ``progress`` asks: ``True``
    or a description shows the bar; a function hides it and is the callback."""
    report = progress if callable(progress) else (lambda steps: None)
    show = bool(progress) and not callable(progress)
    label = progress if isinstance(progress, str) else description
    return tqdm(range(steps), desc=label, disable=not show, leave=False), report


def train_clm(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    max_length: int = 64,
    seed: int = 0,
    warmup: int = 50,
    progress: bool | str | Callable[[int], object] = True,
) -> list[float]:
    """Train ``model`` in place with AdamW and a cosine schedule; return the loss per step.

    Args:
        progress: show a tqdm bar (a string is used as its description); a function is
            called with 1 after every step instead (``lm-gym prepare``'s overall bar).
    """
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    stream = SentenceBatches(texts, batch_size, seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = warmup_cosine_schedule(optimizer, warmup, steps)
    model.train()
    losses = []
    bar, on_step = progress_bar(steps, progress, "training")
    for _ in bar:
        input_ids, attention_mask = encode_sentences(tokenizer, stream.next_batch(), max_length)
        with autocast(device):
            loss = clm_loss(model, input_ids.to(device), attention_mask.to(device))
        losses.append(optimizer_step(loss, optimizer, schedule, model.parameters()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        on_step(1)
    model.eval()
    return losses
