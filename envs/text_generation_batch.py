"""The episode logic shared by the text-generation envs, single and vector.

:class:`TextGenerationTask` holds what stays fixed across episodes (tokenizer, prompts, reward,
sizes) and scores finished episodes; :class:`GenerationBatch` steps ``n`` episodes at once with
batched tensor operations. The single env (:mod:`lm_gym.envs.text_generation`) runs it with
``n = 1`` and the native vector env (:mod:`lm_gym.envs.text_generation_vector`) with ``n =
num_envs``, so both follow exactly the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from lm_gym.envs.text_prompts import PromptSet, build_prompts
from lm_gym.utils.limits import check_at_most, check_fits_context
from lm_gym.utils.validation import check_choice, check_positive_int

MODES = ("token", "sequence")
"""Action modes: one token per step, or the whole continuation in one step."""

RewardFunction = Callable[..., Sequence[float]]
"""``f(prompts, completions, **kwargs) -> list[float]``, the shape of TRL's reward functions.

A reward callable may also offer ``with_info(prompts, completions, **kwargs) -> (rewards,
{name: values})``; the env then puts each named list (e.g. the parent's ``ppl``) in ``info``.
"""

Shaping = Callable[[torch.Tensor, torch.Tensor], Any]
"""``shaping(input_ids, attention_mask) -> per-row rewards``, added after every step."""

MAX_EPISODE_TOKENS = 2**17
"""Most tokens an episode may hold (prompt plus continuation): every env row and observation
space holds that many ids, and no supported model reads longer sequences."""
AGENT_BOS_TOKENS = 1
"""Positions lm_gym's LM agents add in front of an observation (the BOS, ``prepend_bos``)."""


def check_episode_length(
    prompt_tokens: int, max_new_tokens: int, context_length: int | None = None
) -> None:
    """Bound an episode's tokens by memory and, when known, by the generating model's context.

    ``prompt_tokens`` is the prompt block's width (the longest prompt), or 0 when it is not
    known yet. Called from :meth:`TextGenerationTask.build`, before the prompts are cut (for
    memory) and after (for the context); the family configs call it too, before their models
    load.

    Raises:
        ValueError: naming the argument, the limit and why.
    """
    check_at_most(
        "max_new_tokens",
        max_new_tokens,
        MAX_EPISODE_TOKENS - prompt_tokens,
        f"an episode holds prompt_tokens + max_new_tokens ids per row, at most "
        f"{MAX_EPISODE_TOKENS:,} (prompt_tokens={prompt_tokens})",
    )
    check_fits_context(
        "an episode",
        {
            "the agents' BOS": AGENT_BOS_TOKENS,
            "the longest prompt": prompt_tokens,
            "max_new_tokens": max_new_tokens,
        },
        context_length,
        "the generating model",
        f"use max_new_tokens <= {(context_length or 0) - prompt_tokens - AGENT_BOS_TOKENS}, a "
        "shorter prompt or a model with a longer context",
    )


@dataclass(frozen=True)
class TextGenerationTask:
    """Everything that stays fixed across episodes: tokenizer, prompts, reward, sizes.

    Build it with :meth:`build`, which validates the arguments and tokenizes the prompts.
    """

    tokenizer: Any
    prompts: PromptSet
    """The prompts (right-aligned in a block of ``prompts.width`` columns), their texts and
    their true continuations."""
    texts: tuple[str, ...]
    """The corpus the prompts come from (a CLM wrapper can train on it)."""
    reward_fn: RewardFunction
    max_new_tokens: int
    mode: str
    vocab_size: int
    eos_token_id: int
    pad_token_id: int
    shaping: Shaping | None = None

    @classmethod
    def build(
        cls,
        tokenizer: Any,
        texts: Sequence[str],
        reward_fn: RewardFunction,
        *,
        prompt_tokens: int | None = None,
        prompt_words: int | None = None,
        prompt_pairs: Sequence[tuple[str, str]] | None = None,
        max_new_tokens: int = 16,
        mode: str = "token",
        vocab_size: int | None = None,
        shaping: Shaping | None = None,
        context_length: int | None = None,
    ) -> TextGenerationTask:
        """Validate the arguments and cut the prompts out of ``texts``.

        Args:
            tokenizer: the generating model's tokenizer; it needs an EOS token.
            texts: corpus texts; each is cut into a prompt and its true continuation (see
                :mod:`lm_gym.envs.text_prompts`); texts too short to leave a continuation are
                skipped.
            reward_fn: scores ``(prompts, completions)`` at episode end.
            prompt_tokens: cut prompts after this many tokens (the paper's "first k tokens");
                the default (5) when no other way is given.
            prompt_words: cut prompts after this many whitespace-separated words instead.
            prompt_pairs: or give ``(prompt, continuation)`` pairs directly (``texts`` is then
                only the corpus a CLM wrapper trains on; empty means the pairs' joined texts).
            max_new_tokens: most tokens an episode may generate.
            mode: ``"token"`` or ``"sequence"``.
            vocab_size: size of the action vocabulary; defaults to ``len(tokenizer)``. Pass the
                model's output size when it is larger (ids the tokenizer does not know decode to
                nothing).
            shaping: optional per-step reward added to the episode-end reward.
            context_length: the generating model's positions, when known: an episode (the
                agents' BOS, the prompt and ``max_new_tokens``) must fit it.

        Raises:
            ValueError / TypeError: for any bad argument, before any work is done.
        """
        check_choice("mode", mode, MODES)
        max_new_tokens = check_positive_int("max_new_tokens", max_new_tokens)
        check_episode_length(prompt_tokens or 0, max_new_tokens)
        if not callable(reward_fn):
            raise TypeError(f"reward_fn must be callable, got {type(reward_fn).__name__}")
        if shaping is not None and not callable(shaping):
            raise TypeError(f"shaping must be callable or None, got {type(shaping).__name__}")
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError("texts must be a list of strings (the prompt corpus)")
        if not all(isinstance(t, str) for t in texts) or not (texts or prompt_pairs):
            raise ValueError("texts must be a non-empty list of strings")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer needs an EOS token: episodes end when it is chosen")
        vocab = len(tokenizer) if vocab_size is None else vocab_size
        vocab = check_positive_int("vocab_size", vocab)
        eos = int(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        if not (eos < vocab and pad < vocab):
            raise ValueError(
                f"vocab_size={vocab} does not cover the EOS ({eos}) and pad ({pad}) ids"
            )
        if prompt_tokens is None and prompt_words is None and prompt_pairs is None:
            prompt_tokens = 5
        prompts = build_prompts(
            tokenizer, texts, words=prompt_words, tokens=prompt_tokens, pairs=prompt_pairs
        )
        check_episode_length(prompts.width, max_new_tokens, context_length)
        if prompts.ids.max() >= vocab:
            raise ValueError(f"the tokenizer produced ids >= vocab_size={vocab}")
        if not texts:
            texts = [prompt + rest for prompt, rest in zip(prompts.texts, prompts.continuations)]
        return cls(
            tokenizer=tokenizer,
            prompts=prompts,
            texts=tuple(texts),
            reward_fn=reward_fn,
            max_new_tokens=max_new_tokens,
            mode=mode,
            vocab_size=vocab,
            eos_token_id=eos,
            pad_token_id=int(pad),
            shaping=shaping,
        )

    @property
    def prompt_width(self) -> int:
        """Columns of the prompt block (the longest prompt, in tokens)."""
        return self.prompts.width

    @property
    def prompt_texts(self) -> tuple[str, ...]:
        """The prompts as text."""
        return self.prompts.texts

    @property
    def length(self) -> int:
        """Observation length L = prompt_width + max_new_tokens."""
        return self.prompt_width + self.max_new_tokens

    def observation_space(self) -> spaces.Dict:
        """``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=MultiBinary(L))``."""
        return spaces.Dict(
            {
                "input_ids": spaces.Box(0, self.vocab_size - 1, (self.length,), np.int64),
                "attention_mask": spaces.MultiBinary(self.length),
            }
        )

    def action_space(self) -> spaces.Space:
        """``Discrete(V)`` in token mode, ``Box(0, V-1, (max_new_tokens,), int64)`` otherwise."""
        if self.mode == "token":
            return spaces.Discrete(self.vocab_size)
        return spaces.Box(0, self.vocab_size - 1, (self.max_new_tokens,), np.int64)

    def score(
        self, prompt_index: np.ndarray, ids: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, dict[str, list]]:
        """Decode finished episodes and score them with one call of the reward function.

        Args:
            prompt_index: ``(m,)`` prompt row of each episode.
            ids: ``(m, L)`` token ids (prompt then generated ids).
            lengths: ``(m,)`` number of generated ids (>= 1), EOS included when chosen.

        Returns:
            ``(rewards (m,) float64, info)``; info holds ``prompt``, ``completion`` and any
            extras the reward callable reports.
        """
        k = self.prompt_width
        # EOS can only be the last generated id; the text and completion_ids leave it out.
        ended = ids[np.arange(len(ids)), k + lengths - 1] == self.eos_token_id
        ends = k + lengths - ended
        generated = [row[k:end].tolist() for row, end in zip(ids, ends)]
        prompts = [self.prompt_texts[i] for i in prompt_index]
        if self.pad_token_id in self.tokenizer.all_special_ids:
            # One array for the whole batch (the tokenizer skips the padding) is much faster
            # to hand over than a list of lists, which it checks element by element.
            padded = np.where(np.arange(ids.shape[1]) < ends[:, None], ids, self.pad_token_id)
            full = self.tokenizer.batch_decode(padded, skip_special_tokens=True)
        else:
            full_ids = [row[:end].tolist() for row, end in zip(ids, ends)]
            full = self.tokenizer.batch_decode(full_ids, skip_special_tokens=True)
        # TRL's convention: prompt + completion is the full text. Byte-level tokenizers may
        # decode a prompt cut inside a character differently; decode the new ids alone then.
        completions = [
            text[len(p) :]
            if text.startswith(p)
            else self.tokenizer.decode(g, skip_special_tokens=True)
            for text, p, g in zip(full, prompts, generated)
        ]
        with_info = getattr(self.reward_fn, "with_info", None)
        if with_info is not None:
            values, extras = with_info(prompts, completions, completion_ids=generated)
        else:
            values, extras = self.reward_fn(prompts, completions, completion_ids=generated), {}
        name = getattr(self.reward_fn, "__name__", type(self.reward_fn).__name__)
        rewards = finite_rewards(values, len(prompts), f"reward function {name}")
        return rewards, {"prompt": prompts, "completion": completions, **extras}


def check_actions(task: TextGenerationTask, actions: Any, shape: tuple[int, ...]) -> None:
    """Raise a clear error unless ``actions`` are in-vocabulary integer ids of ``shape``.

    Numpy arrays, Python numbers and lists, and torch tensors are accepted. Nothing is
    modified, so a rejected action leaves the env exactly as it was.

    Raises:
        TypeError: for a non-integer dtype (floats, bools, strings, objects).
        ValueError: for a wrong shape or an id outside ``[0, vocab_size)``.
    """
    if isinstance(actions, torch.Tensor) and actions.device.type == "cpu":
        actions = actions.detach().numpy()  # NumPy's checks are cheaper on small arrays
    if isinstance(actions, torch.Tensor):
        dtype = actions.dtype
        integer = not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)
        found = tuple(actions.shape)
    else:
        actions = np.asarray(actions)
        dtype, integer, found = actions.dtype, actions.dtype.kind in "iu", actions.shape
    if not integer:
        raise TypeError(f"actions must be integer token ids, got dtype {dtype}")
    if found != shape:
        raise ValueError(f"actions must have shape {shape}, got {found}")
    if isinstance(actions, torch.Tensor):  # one reduction, one device-to-host copy
        low, high = torch.stack(torch.aminmax(actions)).tolist()
    else:
        low, high = int(actions.min()), int(actions.max())
    if low < 0 or high >= task.vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"token id {bad} is outside the vocabulary [0, {task.vocab_size - 1}]")


def as_token_tensor(actions: Any, device: torch.device) -> torch.Tensor:
    """Checked actions as an int64 tensor on ``device`` (no copy when already there)."""
    if isinstance(actions, torch.Tensor):
        return actions.to(device=device, dtype=torch.int64)
    return torch.from_numpy(np.asarray(actions).astype(np.int64, copy=False)).to(device)


class GenerationBatch:
    """The state of ``num_rows`` episodes as tensors, and their batched transitions.

    Rows hold ``input_ids`` and ``attention_mask`` of shape ``(num_rows, L)``: the prompt
    block (the prompt's ids right-aligned, padding on their left with mask 0), then the
    generated ids, then padding (mask 0). Every operation is a whole-batch array
    operation; Python loops only run over the rows that finish, to decode and score them.
    On the CPU the per-step updates go through NumPy views that share the tensors' memory
    (a NumPy call on 64 numbers costs a fraction of a torch call); on other devices they are
    torch operations on the tensors themselves, written the same way.
    """

    def __init__(
        self,
        task: TextGenerationTask,
        num_rows: int,
        device: torch.device,
        numpy_views: bool | None = None,
    ) -> None:
        """``numpy_views``: update through NumPy views (default: on the CPU only)."""
        self.task = task
        self.num_rows = num_rows
        self.device = device
        self.prompt_ids = torch.from_numpy(task.prompts.ids).to(device)
        self.prompt_mask = torch.from_numpy(task.prompts.mask).to(device)
        self.input_ids = torch.full((num_rows, task.length), task.pad_token_id, device=device)
        self.attention_mask = torch.zeros((num_rows, task.length), dtype=torch.int8, device=device)
        self.generated = torch.zeros(num_rows, dtype=torch.int64, device=device)
        self.prompt_index = np.zeros(num_rows, dtype=np.int64)
        self.done = np.ones(num_rows, dtype=bool)
        self.started = False
        """Whether any row has been reset (before that there is no prompt)."""
        self._on_cpu = device.type == "cpu" if numpy_views is None else numpy_views
        tensors = (
            self.input_ids,
            self.attention_mask,
            self.generated,
            self.prompt_ids,
            self.prompt_mask,
        )
        self._ids, self._mask, self._generated, self._prompts, self._prompt_mask = (
            tuple(t.numpy() for t in tensors) if self._on_cpu else tensors
        )
        self._all_rows = self._index(np.arange(num_rows))

    def _index(self, rows: np.ndarray) -> np.ndarray | torch.Tensor:
        """Row indices in the form the state arrays take (NumPy on the CPU, else tensors)."""
        return rows if self._on_cpu else torch.from_numpy(rows).to(self.device)

    def reset_rows(self, rows: np.ndarray, rng: np.random.Generator) -> list[str]:
        """Start new episodes in ``rows`` (bool mask) with prompts drawn from ``rng``."""
        chosen = rng.integers(len(self.task.prompt_texts), size=int(rows.sum()))
        self.prompt_index[rows] = chosen
        self.done[rows] = False
        self.started = True
        index, k = self._index(np.flatnonzero(rows)), self.task.prompt_width
        prompts = self._index(chosen)
        self._ids[index] = self.task.pad_token_id
        self._ids[index, :k] = self._prompts[prompts]
        self._mask[index] = 0
        self._mask[index, :k] = self._prompt_mask[prompts]
        self._generated[index] = 0
        return [self.task.prompt_texts[i] for i in chosen]

    def step(self, actions: torch.Tensor, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Apply valid ``actions`` to the ``active`` rows (bool mask); the others stay as they are.

        Returns:
            ``(rewards, terminated, truncated, end_info)``: float64 and bool arrays over all
            rows, and the episode-end info of the rows that finished (``"rows"`` holds them).
        """
        task = self.task
        append = self._append_tokens if task.mode == "token" else self._set_continuations
        ended, at_limit = append(actions, active)
        term = np.zeros(self.num_rows, dtype=bool)
        trunc = np.zeros(self.num_rows, dtype=bool)
        term[active], trunc[active] = ended, at_limit & ~ended
        rewards = np.zeros(self.num_rows, dtype=np.float64)
        if task.shaping is not None:
            rows = torch.from_numpy(np.flatnonzero(active)).to(self.device)
            shaped = task.shaping(self.input_ids[rows], self.attention_mask[rows])
            rewards[active] += finite_rewards(shaped, int(active.sum()), "shaping")
        finished = term | trunc
        end_info: dict[str, Any] = {}
        if finished.any():
            end_rows = np.flatnonzero(finished)
            index = torch.from_numpy(end_rows).to(self.device)
            ids = self.input_ids[index].cpu().numpy()
            lengths = self.generated[index].cpu().numpy()
            scores, end_info = task.score(self.prompt_index[end_rows], ids, lengths)
            rewards[end_rows] += scores
            end_info["rows"] = end_rows
            self.done[end_rows] = True
        return rewards, term, trunc, end_info

    def _append_tokens(self, actions: torch.Tensor, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Token mode: write each active row's token after its text; EOS and length flags."""
        task = self.task
        acted = actions.numpy() if self._on_cpu else actions
        if active.all():
            rows = self._all_rows
        else:
            rows = self._index(np.flatnonzero(active))
            acted = acted[rows]
        column = self._generated[rows] + task.prompt_width
        self._ids[rows, column] = acted
        self._mask[rows, column] = 1
        self._generated[rows] += 1
        ended = acted == task.eos_token_id
        at_limit = self._generated[rows] >= task.max_new_tokens
        return _numpy(ended), _numpy(at_limit)

    def _set_continuations(
        self, actions: torch.Tensor, active: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Sequence mode: write each active row's continuation up to its first EOS."""
        task, k = self.task, self.task.prompt_width
        rows = torch.from_numpy(np.flatnonzero(active)).to(self.device)
        acted = actions[rows]
        is_eos = acted == task.eos_token_id
        has_eos = is_eos.any(dim=1)
        first_eos = is_eos.to(torch.int8).argmax(dim=1) + 1
        count = torch.where(has_eos, first_eos, task.max_new_tokens)
        keep = torch.arange(task.max_new_tokens, device=self.device) < count.unsqueeze(1)
        self.input_ids[rows, k:] = torch.where(keep, acted, task.pad_token_id)
        self.attention_mask[rows, k:] = keep.to(torch.int8)
        self.generated[rows] = count
        ones = np.ones(len(rows), dtype=bool)
        return ones, ~ones

    def observation(self, rows: np.ndarray | None = None, as_tensor: bool = False) -> dict:
        """A copy of the observation of all rows (or of the given row indices)."""
        ids, mask = self.input_ids, self.attention_mask
        if rows is not None:
            index = torch.from_numpy(np.asarray(rows)).to(self.device)
            ids, mask = ids[index], mask[index]
        if as_tensor:
            return {"input_ids": ids.clone(), "attention_mask": mask.clone()}
        return {"input_ids": ids.cpu().numpy().copy(), "attention_mask": mask.cpu().numpy().copy()}

    def render_rows(self) -> list[str]:
        """Each row's prompt and the text generated so far, the new text in brackets."""
        k = self.task.prompt_width
        ids = self.input_ids.cpu().numpy()
        texts = []
        for row, index, count in zip(ids, self.prompt_index, self.generated.cpu().numpy()):
            new = self.task.tokenizer.decode(row[k : k + count].tolist(), skip_special_tokens=True)
            texts.append(f"{self.task.prompt_texts[index]}[{new}]")
        return texts


def _numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    return values.cpu().numpy() if isinstance(values, torch.Tensor) else values


def finite_rewards(values: Any, expected: int, source: str) -> np.ndarray:
    """``values`` (list, array or tensor) as float64, refusing a wrong count and NaN or inf."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    rewards = np.asarray(values, dtype=np.float64).reshape(-1)
    if rewards.shape != (expected,):
        raise ValueError(f"{source} returned {rewards.size} rewards for {expected} episodes")
    if not np.all(np.isfinite(rewards)):
        raise ValueError(f"{source} returned a NaN or inf reward: {rewards}")
    return rewards
