"""Reward models: a small LM with a scalar head that scores a story continuation.

In BabyStories (Zhao et al. 2023) PPO fine-tunes a storyteller against a reward model trained on
human preferences over story continuations. Here a reward model is any Hugging Face
``AutoModelForSequenceClassification`` with ``num_labels=1`` and its tokenizer. It scores
``prompt + " " + continuation`` as one text, framed as ``<s> text </s>``; only differences of
scores within one prompt carry meaning (it is trained with the Bradley-Terry loss, see
:mod:`lm_gym.rewards.training`). It saves and loads with ``save_pretrained``. lm_gym's own reward
models average the scalar head over all tokens instead of reading the last one (the pooling is
recorded in the model's config, see :data:`POOLING_KEY`); models from elsewhere are read at the
last token, as Hugging Face does.

* :func:`load_reward_model` turns a recipe name, folder, id or in-memory model into one.
* :mod:`lm_gym.rewards.reward_scores` scores texts with it and measures any reward callable's
  pairwise accuracy on preference pairs.
* :class:`RewardModelReward` is the reward callable ``f(prompts, completions, **kw)`` the
  BabyStories environments use (also usable as a TRL ``reward_funcs`` entry).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from lm_gym.models.loading import LM, ModelLoadError, load_model, load_shared_model
from lm_gym.models.recipes import RECIPES
from lm_gym.rewards.reward_scores import from_pretrained, pooling_of, score_continuations
from lm_gym.rewards.training import build_reward_recipe
from lm_gym.utils.validation import check_positive_int


def _load_named(spec: str, device: torch.device) -> LM:
    """Load a reward model by recipe name, folder or id (shared per process and device)."""
    if spec in RECIPES:
        return load_model(from_pretrained(build_reward_recipe(spec)), device=device)
    path = Path(spec).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} is not a model folder written by save_pretrained")
    if not path.exists() and (path.is_absolute() or spec.startswith((".", "~"))):
        raise ModelLoadError(f"reward model folder {path} does not exist")
    return load_model(from_pretrained(path if path.exists() else spec), device=device)


def load_reward_model(
    spec: str | os.PathLike[str] | PreTrainedModel | LM | tuple,
    *,
    tokenizer: Any = None,
    device: str | torch.device | None = None,
) -> LM:
    """Turn a spec into a reward model (scalar head) and its tokenizer, in eval mode.

    Args:
        spec: a reward-model recipe name (``"reward-stories"``), a local ``save_pretrained``
            folder or Hugging Face id of a sequence-classification model with one label, an
            in-memory model (with ``tokenizer``), an ``LM`` or a ``(model, tokenizer)`` tuple.
            Names and folders are loaded once per process and device.
        device: where to put it (default :func:`lm_gym.device.default_device`).
    """
    if isinstance(spec, str | os.PathLike) and tokenizer is None:
        if not os.fspath(spec):
            raise ModelLoadError("empty reward model spec")
        return load_shared_model(spec, device=device, loader=_load_named)
    if isinstance(spec, str | os.PathLike):
        model, _ = from_pretrained(spec)
        spec = model
    lm = load_model(spec, tokenizer=tokenizer, device=device)
    if getattr(lm.model.config, "num_labels", 1) != 1:
        raise ModelLoadError("a reward model must have exactly one output label (num_labels=1)")
    pooling_of(lm.model)
    if lm.model.config.pad_token_id is None:
        lm.model.config.pad_token_id = lm.tokenizer.pad_token_id
    return lm


class RewardModelReward:
    """Reward callable: the reward model's score of each prompt + completion.

    ``reward(prompts, completions, **kwargs) -> list[float]``, the shape of TRL's reward
    functions (extra keyword arguments such as ``completion_ids`` are ignored). Scores are
    always finite. The model is loaded when the callable is made, once per process for a name
    or folder.

    Args:
        model: any spec :func:`load_reward_model` accepts (default: the offline
            ``reward-stories`` recipe).
        tokenizer: the tokenizer of an in-memory model.
        device: where to run the model.
        batch_size: texts per forward pass.
    """

    __name__ = "reward_model"

    def __init__(
        self,
        model: Any = "reward-stories",
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        batch_size: int = 64,
    ) -> None:
        check_positive_int("batch_size", batch_size)
        self.model, self.tokenizer = load_reward_model(model, tokenizer=tokenizer, device=device)
        self.batch_size = batch_size

    def __call__(
        self, prompts: Sequence[str], completions: Sequence[str], **kwargs: Any
    ) -> list[float]:
        """Score ``prompt + " " + completion`` for each pair of the two lists."""
        return score_continuations(
            self.model, self.tokenizer, prompts, completions, batch_size=self.batch_size
        )
