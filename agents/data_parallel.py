"""How PPO splits one batch of episodes over the ranks of a data-parallel run.

Each rank collects and scores its own episodes (sampling and the reference models' forward
passes are most of an iteration, and they need nothing from the other ranks); then
:func:`gather_token_batch` gives every rank the whole scored batch, which is small (token ids
and a few floats per token). From there the update is the one-process update of the whole
batch: advantages are whitened over all tokens, the minibatch order is drawn from the shared
seed, and :func:`minibatch_share` gives each rank an equal part of every minibatch. Each rank's
loss is its rows' sum divided by the token count of the *whole* minibatch, so the gradients
summed over ranks (:func:`lm_gym.utils.distributed.all_reduce_gradients`) are those of the
one-process update, up to float rounding, with every rank's update work cut by the world size.
(CleanRL's ``ppo_atari_multigpu.py`` instead shuffles and normalises each rank's own share;
its updates then depend on how the episodes fell over the ranks.)

In one process both functions return their input: nothing is padded, copied or reordered.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lm_gym.utils import distributed

TOKEN_KEYS = ("mask", "logprobs", "values", "advantages", "returns")
"""The ``(B, T)`` per-action tensors of a scored batch (besides the actions themselves)."""
EPISODE_KEYS = ("kl", "kl_initial")
"""The ``(B,)`` per-episode tensors of a scored batch."""


def gather_token_batch(batch: dict[str, torch.Tensor], filler: int) -> dict[str, torch.Tensor]:
    """Every rank's scored episodes, in rank order, as one batch on this rank's device.

    ``batch`` holds ``sequences`` (the prompt block followed by the actions), ``prompt_mask``
    and the tensors of :data:`TOKEN_KEYS` and :data:`EPISODE_KEYS`. Ranks' prompt blocks and
    horizons differ, so prompt blocks are widened on the left with masked ``filler`` columns
    (prompts stay right-aligned) and the actions on the right with masked ``filler`` steps:
    padding that attention and every loss ignore.
    """
    if distributed.world_size() == 1:
        return batch
    device = batch["sequences"].device
    width = batch["prompt_mask"].shape[1]
    own = {key: value.cpu() for key, value in batch.items() if key != "sequences"}
    own["prompt_ids"] = batch["sequences"][:, :width].cpu()
    own["actions"] = batch["sequences"][:, width:].cpu()
    parts = distributed.all_gather_objects(own)
    prompt_width = max(part["prompt_mask"].shape[1] for part in parts)
    horizon = max(part["mask"].shape[1] for part in parts)

    def joined(key: str, width: int, left: bool, value: float) -> torch.Tensor:
        padded = []
        for part in parts:
            extra = width - part[key].shape[1]
            padded.append(F.pad(part[key], (extra, 0) if left else (0, extra), value=value))
        return torch.cat(padded).to(device)

    prompts = joined("prompt_ids", prompt_width, True, filler)
    gathered = {
        "sequences": torch.cat([prompts, joined("actions", horizon, False, filler)], dim=1),
        "prompt_mask": joined("prompt_mask", prompt_width, True, 0),
    }
    gathered.update({key: joined(key, horizon, False, 0.0) for key in TOKEN_KEYS})
    gathered.update({key: torch.cat([p[key] for p in parts]).to(device) for key in EPISODE_KEYS})
    return gathered


def minibatch_share(rows: torch.Tensor) -> torch.Tensor:
    """This rank's part of a minibatch's ``rows``: an equal contiguous share (all of them in
    one process; possibly none when the minibatch has fewer rows than there are ranks)."""
    size = distributed.world_size()
    if size == 1:
        return rows
    return torch.tensor_split(rows, size)[distributed.rank()]
