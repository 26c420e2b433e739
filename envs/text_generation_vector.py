"""The native batched text-generation vector env behind ``gym.make_vec``.

Rather than ``num_envs`` copies of :class:`~lm_gym.envs.text_generation.TextGenerationEnv`,
one :class:`~lm_gym.envs.text_generation_batch.GenerationBatch` holds every row as a tensor and
steps them together, so a step costs a handful of tensor operations whatever ``num_envs`` is;
prompts are decoded and scored only at episode ends, in one reward call for all rows that
finish. With ``tensor_device`` set, observations stay torch tensors on that device and
actions may be tensors there too, so a GPU agent never moves tokens through the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from lm_gym.envs.text_generation import check_generating_model, generating_context
from lm_gym.envs.text_generation_batch import (
    GenerationBatch,
    RewardFunction,
    Shaping,
    TextGenerationTask,
    as_token_tensor,
    check_actions,
)
from lm_gym.models.loading import LM
from lm_gym.utils.device import resolve_device
from lm_gym.utils.validation import check_positive_int


def _autoreset_mode(value: AutoresetMode | str) -> AutoresetMode:
    if isinstance(value, AutoresetMode):
        return value
    by_name = {mode.name.lower(): mode for mode in AutoresetMode}
    by_value = {mode.value.lower(): mode for mode in AutoresetMode}
    key = str(value).lower()
    if key in by_name or key in by_value:
        return by_name.get(key) or by_value[key]
    raise ValueError(
        f"autoreset_mode must be one of {[m.name for m in AutoresetMode]}, got {value!r}"
    )


def _info_arrays(info: dict[str, Any], values: dict[str, Sequence], rows: np.ndarray, n: int):
    """Add per-row ``values`` at ``rows`` to a vector ``info`` with Gymnasium's ``_key`` masks."""
    for key, column in values.items():
        if key not in info:
            numeric = all(isinstance(v, int | float | np.number) for v in column)
            info[key] = np.zeros(n, np.float64) if numeric else np.full(n, None, dtype=object)
            info[f"_{key}"] = np.zeros(n, dtype=bool)
        info[key][rows] = column
        info[f"_{key}"][rows] = True
    return info


class TextGenerationVectorEnv(VectorEnv):
    """``num_envs`` text-generation episodes stepped as one batch.

    Spaces, rewards and episode ends are those of
    :class:`~lm_gym.envs.text_generation.TextGenerationEnv`, batched: observations
    ``(num_envs, L)``, token-mode actions ``MultiDiscrete([V] * num_envs)``, sequence-mode
    actions ``(num_envs, max_new_tokens)``.

    Autoreset follows Gymnasium (``metadata["autoreset_mode"]``): ``NEXT_STEP`` (default)
    resets a finished row on the following step, ignoring its action there (reward 0);
    ``SAME_STEP`` resets it at once and puts the finished episode in ``info["final_obs"]`` and
    ``info["final_info"]``; ``DISABLED`` leaves it to the agent, ``reset(options={"reset_mask":
    mask})``, and refuses to step while a finished row waits. Sequence mode suits
    ``SAME_STEP`` or ``DISABLED`` (with ``NEXT_STEP`` every other step is a reset).

    Per-row episode-end data (``prompt``, ``completion`` and the reward callable's extras such
    as ``ppl``) come as arrays with ``_key`` masks; ``info["prompt"]`` also carries the prompts
    of rows that were just reset.

    Args:
        tokenizer, texts, reward_fn, prompt_tokens, prompt_words, prompt_pairs,
            max_new_tokens, mode, vocab_size, shaping: as in
            :meth:`~lm_gym.envs.text_generation_batch.TextGenerationTask.build`.
        generating_model: the :class:`~lm_gym.models.LM` the tokenizer belongs to, or
            ``None``; kept as the declared attribute ``generating_model`` (what agents read).
        num_envs: number of rows.
        autoreset_mode: an ``AutoresetMode`` or its name/value.
        tensor_device: ``None`` for numpy observations; ``"cpu"``/``"cuda"`` (or a device) for
            torch tensors on that device.
        render_mode: ``None`` or ``"ansi"``.
    """

    metadata = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        tokenizer: Any,
        texts: Sequence[str],
        reward_fn: RewardFunction,
        *,
        num_envs: int = 1,
        prompt_tokens: int | None = None,
        prompt_words: int | None = None,
        prompt_pairs: Sequence[tuple[str, str]] | None = None,
        max_new_tokens: int = 16,
        mode: str = "token",
        vocab_size: int | None = None,
        shaping: Shaping | None = None,
        generating_model: LM | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        tensor_device: str | torch.device | None = None,
        render_mode: str | None = None,
    ) -> None:
        check_positive_int("num_envs", num_envs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.generating_model = check_generating_model(generating_model)
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.task = TextGenerationTask.build(
            tokenizer,
            texts,
            reward_fn,
            prompt_tokens=prompt_tokens,
            prompt_words=prompt_words,
            prompt_pairs=prompt_pairs,
            max_new_tokens=max_new_tokens,
            mode=mode,
            vocab_size=vocab_size,
            shaping=shaping,
            context_length=generating_context(self.generating_model),
        )
        self.as_tensors = tensor_device is not None
        device = resolve_device(tensor_device) if self.as_tensors else torch.device("cpu")
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = self.task.observation_space()
        self.single_action_space = self.task.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._action_shape = (num_envs,) + self.single_action_space.shape
        self._batch = GenerationBatch(self.task, num_envs, device)
        self._started = False

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the generating model."""
        return self.task.tokenizer

    @property
    def device(self) -> torch.device:
        """Where the rows (and tensor observations) live."""
        return self._batch.device

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict, dict]:
        """Reset every row, or only the rows of ``options["reset_mask"]`` (a bool array)."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; only 'reset_mask'")
        super().reset(seed=seed)
        prompts = self._batch.reset_rows(mask, self.np_random)
        self._started = True
        info = _info_arrays({}, {"prompt": prompts}, np.flatnonzero(mask), self.num_envs)
        return self._batch.observation(as_tensor=self.as_tensors), info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every row with one batched update; see the class docstring for autoreset."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        batch = self._batch
        if self.autoreset_mode == AutoresetMode.DISABLED and batch.done.any():
            raise RuntimeError(
                f"rows {np.flatnonzero(batch.done).tolist()} have finished and autoreset is "
                "DISABLED: reset them with reset(options={'reset_mask': mask}) first"
            )
        check_actions(self.task, actions, self._action_shape)
        actions = as_token_tensor(actions, batch.device)
        info: dict[str, Any] = {}
        waiting = batch.done.copy()  # only under NEXT_STEP: rows that finished last step
        if waiting.any():
            prompts = batch.reset_rows(waiting, self.np_random)
            _info_arrays(info, {"prompt": prompts}, np.flatnonzero(waiting), self.num_envs)
        active = ~waiting
        if active.any():
            rewards, terminated, truncated, end = batch.step(actions, active)
        else:
            rewards = np.zeros(self.num_envs, dtype=np.float64)
            terminated = np.zeros(self.num_envs, dtype=bool)
            truncated = np.zeros(self.num_envs, dtype=bool)
            end = {}
        if end:
            rows = end.pop("rows")
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                self._reset_same_step(info, rows, end)
            else:
                _info_arrays(info, end, rows, self.num_envs)
        return batch.observation(as_tensor=self.as_tensors), rewards, terminated, truncated, info

    def _reset_same_step(self, info: dict, rows: np.ndarray, end: dict) -> None:
        """Move finished rows' episodes into ``final_obs``/``final_info`` and reset the rows."""
        final = self._batch.observation(rows, as_tensor=self.as_tensors)
        final_obs = np.full(self.num_envs, None, dtype=object)
        for position, row in enumerate(rows):
            final_obs[row] = {key: value[position] for key, value in final.items()}
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[rows] = True
        info["final_obs"], info["_final_obs"] = final_obs, mask
        info["final_info"] = _info_arrays({}, end, rows, self.num_envs)
        info["_final_info"] = mask.copy()
        prompts = self._batch.reset_rows(mask, self.np_random)
        _info_arrays(info, {"prompt": prompts}, rows, self.num_envs)

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=bool)
        if isinstance(mask, torch.Tensor):
            mask = mask.cpu().numpy()
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError("options['reset_mask'] must be a numpy (or torch) bool array")
        if mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask'] must have shape ({self.num_envs},), got {mask.shape}"
            )
        if not mask.any():
            raise ValueError("options['reset_mask'] must select at least one row")
        if not self._started and not mask.all():
            raise RuntimeError("the first reset() must reset every row (no reset_mask)")
        return mask.copy()

    def render(self) -> tuple[str, ...] | None:
        """Each row's prompt and, in brackets, its text so far (``render_mode="ansi"``)."""
        if self.render_mode is None:
            return None
        return tuple(self._batch.render_rows())
