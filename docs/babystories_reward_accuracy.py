"""Held-out pairwise accuracy of the default story reward model, per corruption type.

The pairs come from stories generated with a seed the reward model never trained on
(:func:`lm_gym.rewards.training.heldout_story_preferences`: the recipe's seed plus
``HELDOUT_SEED_OFFSET``, minus any story of the training set). For comparison, the same pairs
are also judged by each storyteller's own log-likelihood of prompt + continuation (no reward
model at all). Every scorer is also tried on the two training augmentations, made from the same
held-out stories (:func:`lm_gym.rewards.training.heldout_augmentation_pairs`): cut-short pairs
(the true continuation over itself stopped early, empty or its first few words), which keep a
policy from gaming the reward model by stopping at once, and garbled pairs (a few words broken),
which keep it from drifting into broken words. Writes ``babystories_reward_accuracy.json``
into ``runs/docs`` (``--update-docs``: into ``docs/``, replacing the committed one)::

    python docs/babystories_reward_accuracy.py --stories 1000 --update-docs
"""

from __future__ import annotations

import argparse
import json

import torch
from outputs import add_output_options, output_dir  # same folder

from lm_gym.evaluation.scoring import Scorer
from lm_gym.models.loading import load_model
from lm_gym.models.recipes import RECIPES
from lm_gym.rewards.reward_model import RewardModelReward
from lm_gym.rewards.reward_scores import join_text, pairwise_accuracy
from lm_gym.rewards.training import heldout_augmentation_pairs, heldout_story_preferences


def log_likelihood_reward(spec: str):
    """A reward callable: the causal LM's log-likelihood of prompt + completion."""
    scorer = Scorer(*load_model(spec, device="cpu"))

    def reward(prompts: list[str], completions: list[str], **kwargs) -> list[float]:
        texts = [join_text(p, c) for p, c in zip(prompts, completions)]
        return scorer.log_likelihood(texts).tolist()

    return reward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1_000, help="held-out stories")
    parser.add_argument("--reward-model", default="reward-stories")
    add_output_options(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)

    recipe = RECIPES[args.reward_model]
    pairs = heldout_story_preferences(recipe, n_stories=args.stories)
    augmentations = heldout_augmentation_pairs(recipe, n_stories=args.stories)
    scorers = {args.reward_model: RewardModelReward(args.reward_model, device="cpu")}
    for teller in ("storyteller-small", "storyteller-large"):
        scorers[f"{teller} log-likelihood"] = log_likelihood_reward(teller)
    report = {
        "heldout_stories": args.stories,
        "pairs": len(pairs),
        "augmentation_pairs": len(augmentations),
    }
    for name, reward in scorers.items():
        report[name] = pairwise_accuracy(reward, pairs)
        report[name]["augmentations"] = pairwise_accuracy(reward, augmentations)["by_corruption"]
    out = output_dir(args) / "babystories_reward_accuracy.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
