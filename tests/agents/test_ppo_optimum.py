"""PPO reaches the optimum of its own objective on a case solved in closed form.

With a fixed KL penalty of weight ``beta`` to a reference policy ``ref`` and episodes of one
token, PPO maximises ``E_pi[r] - beta KL(pi || ref)``, whose optimum is ``pi*(a) ∝ ref(a)
exp(r(a) / beta)`` (the RLHF / distribution-matching view of Korbak et al. 2022). If PPO lands
there, a policy that collapses onto a reward's mode is the objective's doing (a small ``beta``
makes the optimum the mode), not a bug of the optimiser.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lm_gym.agents import PPO
from lm_gym.envs import TextGenerationVectorEnv


class TokenReward:
    """Reward of a one-token continuation: a fixed bonus per token id."""

    __name__ = "token_reward"

    def __init__(self, bonus: np.ndarray) -> None:
        self.bonus = bonus

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        return [float(self.bonus[ids[0]]) if ids else 0.0 for ids in completion_ids]


def next_token_distribution(model, prompt: list[int], bos: int, size: int) -> np.ndarray:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[bos, *prompt]])).logits[0, -1, :size]
    return torch.softmax(logits.float(), -1).numpy()


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_ppo_converges_to_the_kl_regularised_optimum(toys, beta):
    lm = toys.tiny_lm()
    tokenizer = lm.tokenizer
    size = len(tokenizer)
    bonus = np.zeros(size)
    targets = [tokenizer.convert_tokens_to_ids(piece) for piece in ("▁il", "▁la", "▁cane")]
    bonus[targets] = [2.0, 1.0, -1.0]
    env = TextGenerationVectorEnv(
        tokenizer,
        ["il cane va bene molto"] * 4,
        TokenReward(bonus),
        num_envs=64,
        prompt_tokens=3,
        max_new_tokens=1,
        generating_model=lm,
    )
    agent = PPO(
        env,
        kl_coef=beta,
        adaptive_kl=False,
        learning_rate=1e-3,
        num_minibatches=2,
        reference_follows_env=False,
        verbose=0,
    )
    obs, _ = env.reset(seed=0)
    prompt = obs["input_ids"][0, :3].tolist()
    reference = next_token_distribution(agent.reference, prompt, tokenizer.bos_token_id, size)
    optimum = reference * np.exp(bonus / beta)
    optimum /= optimum.sum()
    start = 0.5 * np.abs(reference - optimum).sum()
    agent.learn(env, 64 * 30, progress_bar=False)
    learned = next_token_distribution(agent.model, prompt, tokenizer.bos_token_id, size)
    distance = 0.5 * np.abs(learned - optimum).sum()  # total variation
    assert start > 0.2 and distance < 0.25 * start, (start, distance)
    np.testing.assert_allclose(learned[targets], optimum[targets], atol=0.05)
