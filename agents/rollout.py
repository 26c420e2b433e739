"""Token-level rollouts of an LM policy through a text-generation vector env.

One rollout is a batch of ``num_envs`` episodes that start together: every row is reset to a
new prompt, then all rows generate in lock step (one token per env step, sampled through the
policy's KV cache) until each has ended once. A row whose episode ended keeps being stepped
with a filler token until the last row is done; whatever the env does with it afterwards (a
new episode under NEXT_STEP or SAME_STEP autoreset, a masked reset under DISABLED) is never
recorded and is discarded by the next rollout's full reset. The filler is not EOS, so a
discarded episode never reaches its end (and never costs a reward call) within the rollout.

The log-probability of each sampled token and the value of each state are recorded while
sampling, from the same forward pass: they belong to the policy that actually acted, and PPO's
importance ratio is taken against that behaviour policy. When the env is wrapped in
:class:`lm_gym.wrappers.CLMAlternation`, the CLM updates that a finished batch makes due run in
the next rollout's ``reset``, after the agent's update, so the model does not change between
sampling and update (unless a CLM slot is shorter than the batch).

The loop never reads a value back from the device: rewards and episode ends come from the env
as NumPy arrays, actions go to the env as tensors when the env keeps tensors on the agent's
device (``tensor_device``), and the only per-step transfer is the small alive mask going *to*
the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from lm_gym.agents.policies import LMPolicy, prompt_of
from lm_gym.models.sampling import sample_tokens


@dataclass
class TokenRollout:
    """A batch of finished episodes, as tensors on the policy's device."""

    prompt_ids: torch.Tensor
    """``(B, P)`` the prompt block: each prompt right-aligned, padding on its left."""
    prompt_mask: torch.Tensor
    """``(B, P)`` 1 on the prompts' own tokens, 0 on the padding."""
    actions: torch.Tensor
    """``(B, T)`` sampled token ids (filler after an episode's end)."""
    mask: torch.Tensor
    """``(B, T)`` float, 1 where the action belongs to the episode."""
    rewards: torch.Tensor
    """``(B, T)`` float, the env's reward after each action."""
    logprobs: torch.Tensor
    """``(B, T)`` log-probability of each action under the policy that sampled it."""
    values: torch.Tensor | None
    """``(B, T)`` value of the state before each action (``None`` without a value head)."""
    returns: np.ndarray
    """``(B,)`` episode returns."""
    lengths: np.ndarray
    """``(B,)`` episode lengths (actions taken)."""
    end_info: dict[str, np.ndarray] = field(default_factory=dict)
    """Numeric episode-end info per row (e.g. the parent's ``ppl``), NaN where missing."""
    completions: list[str] = field(default_factory=list)
    """The decoded completions, when the env reports them."""

    @property
    def sequences(self) -> torch.Tensor:
        """``(B, P + T)`` the prompt block followed by the actions."""
        return torch.cat([self.prompt_ids, self.actions], dim=1)


def filler_token(vocab_size: int, eos_id: int | None, pad_id: int | None) -> int:
    """A valid action that is not EOS: the pad id when it differs from EOS, else 0 or 1."""
    if pad_id is not None and pad_id != eos_id and 0 <= pad_id < vocab_size:
        return int(pad_id)
    return 1 if eos_id == 0 else 0


def _collect_end_info(info: dict, rows: np.ndarray, numeric: dict, texts: dict) -> None:
    """Copy the episode-end entries of ``rows`` out of a vector-env ``info``."""
    for key, values in info.items():
        if key.startswith("_") or key == "prompt" or not isinstance(values, np.ndarray):
            continue
        present = info.get(f"_{key}", np.ones(len(values), dtype=bool))
        chosen = rows[present[rows]]
        if values.dtype.kind in "fiub" and values.ndim == 1:  # not per-student arrays
            target = numeric.setdefault(key, np.full(len(values), np.nan))
            target[chosen] = values[chosen]
        elif key == "completion":
            for row in chosen:
                texts[int(row)] = str(values[row])


def step_end_info(info: dict, rows: int) -> dict[str, np.ndarray]:
    """The numeric info of a step that ended the episodes of all ``rows`` rows (one-step
    episodes), one array of ``rows`` values per key (NaN where a row has none).

    ``info`` is a vector env's (arrays with ``_key`` masks) or, for ``rows == 1``, a single
    env's (scalars).
    """
    if rows == 1 and not any(isinstance(v, np.ndarray) and v.shape == (1,) for v in info.values()):
        info = {
            key: np.asarray([value])
            for key, value in info.items()
            if isinstance(value, int | float | np.number) and not isinstance(value, bool)
        }
    numeric: dict[str, np.ndarray] = {}
    _collect_end_info(info, np.arange(rows), numeric, {})
    return numeric


def collect_token_rollout(
    env: Any,
    policy: LMPolicy,
    generator: torch.Generator,
    *,
    temperature: float = 1.0,
    seed: int | None = None,
    on_step: Callable[[int], bool] | None = None,
) -> TokenRollout | None:
    """Run one lock-step batch of episodes; ``None`` when ``on_step`` asked to stop.

    Args:
        env: a token-mode vector env (``Discrete`` single action space).
        policy: the LM policy that samples the tokens.
        generator: the seeded generator every token is drawn from.
        temperature: sampling temperature (1 = the model's own distribution).
        seed: passed to the full ``reset`` that starts the rollout (only on a run's first).
        on_step: called after every env step with the number of live rows stepped; returning
            ``False`` aborts the rollout.
    """
    device = policy.device
    as_tensors = bool(getattr(env.unwrapped, "as_tensors", False))
    disabled = env.metadata.get("autoreset_mode") == AutoresetMode.DISABLED
    tokenizer = policy.tokenizer
    filler = filler_token(policy.action_size, tokenizer.eos_token_id, tokenizer.pad_token_id)

    obs, _ = env.reset(seed=seed)
    prompt_ids, prompt_mask = prompt_of(obs, device)
    batch, width = prompt_ids.shape[0], obs["input_ids"].shape[1]
    horizon = width - prompt_ids.shape[1]
    actions = torch.full((batch, horizon), filler, dtype=torch.long, device=device)
    alive_steps = np.zeros((batch, horizon), dtype=bool)
    rewards = np.zeros((batch, horizon), dtype=np.float32)
    alive = np.ones(batch, dtype=bool)
    numeric: dict[str, np.ndarray] = {}
    texts: dict[int, str] = {}

    logprobs = torch.zeros((batch, horizon), device=device)
    values = torch.zeros((batch, horizon), device=device)
    logits, value, cache = policy.start(prompt_ids, prompt_mask)
    steps = 0
    for t in range(horizon):
        logits = policy.forbid_early_eos(logits, t)
        sampled = sample_tokens(logits, generator, temperature=temperature)
        log_probs = torch.log_softmax(logits / temperature, dim=-1)
        logprobs[:, t] = log_probs.gather(-1, sampled[:, None]).squeeze(-1)
        if value is not None:
            values[:, t] = value
        if not alive.all():
            keep = torch.from_numpy(alive).to(device, non_blocking=True)
            sampled = torch.where(keep, sampled, filler)
        actions[:, t] = sampled
        step_actions = sampled if as_tensors else sampled.cpu().numpy()
        _, reward, terminated, truncated, info = env.step(step_actions)
        alive_steps[:, t] = alive
        rewards[:, t] = np.where(alive, reward, 0.0)
        ended = alive & (np.asarray(terminated) | np.asarray(truncated))
        if ended.any():
            _collect_end_info(info, np.flatnonzero(ended), numeric, texts)
        live = int(alive.sum())
        alive = alive & ~ended
        steps = t + 1
        if on_step is not None and not on_step(live):
            return None
        if not alive.any():
            break
        if disabled and ended.any():
            env.reset(options={"reset_mask": ended})
        logits, value, cache = policy.advance(sampled, cache)

    mask = alive_steps[:, :steps]
    return TokenRollout(
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        actions=actions[:, :steps],
        mask=torch.from_numpy(mask.astype(np.float32)).to(device),
        rewards=torch.from_numpy(rewards[:, :steps]).to(device),
        logprobs=logprobs[:, :steps],
        values=values[:, :steps] if policy.value_head is not None else None,
        returns=rewards[:, :steps].sum(1).astype(np.float64),
        lengths=mask.sum(1),
        end_info=numeric,
        completions=[texts.get(row, "") for row in range(batch)],
    )
