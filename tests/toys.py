"""Small real inputs for the agent and wrapper tests (importable as ``toys``): a toy
tokenizer, tiny LMs and toy environments.

The token and sequence envs are lm_gym's own :class:`TextGenerationEnv` classes on a toy
corpus, with a reward that counts one target token, so learning shows within a few dozen
updates of a one-layer model. The subset bandit mimics the teacher envs' interface
(``MultiBinary(N)`` actions with exactly k ones, an ``embeddings`` observation).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from support import train_tiny_lm

from lm_gym.envs import TextGenerationEnv, TextGenerationVectorEnv
from lm_gym.models import LM, train_sentencepiece_tokenizer

WORDS = [
    "il",
    "la",
    "un",
    "una",
    "cane",
    "gatto",
    "casa",
    "mela",
    "rosso",
    "blu",
    "va",
    "corre",
    "mangia",
    "bene",
    "molto",
]
TARGET_PIECE = "▁il"


def toy_texts(n: int = 300, seed: int = 0) -> list[str]:
    """Random sentences of 6-9 toy words."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(6, 10))) for _ in range(n)]


_TOKENIZER = None
_PRETRAINED: dict[int, dict] = {}


def toy_tokenizer():
    """A SentencePiece tokenizer of the toy words (plus byte pieces), trained once."""
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = train_sentencepiece_tokenizer(toy_texts(), 300)
    return _TOKENIZER


def tiny_lm(seed: int = 0) -> LM:
    """A fresh one-layer, 32-dimensional OPT "baby" that has seen the toy corpus briefly.

    A few CLM steps teach it the toy words (so it is far from uniform over the byte pieces);
    the weights are trained once per seed and copied into every fresh model.
    """
    if seed not in _PRETRAINED:
        lm = train_tiny_lm(
            toy_texts(),
            architecture="opt",
            tokenizer=toy_tokenizer(),
            n_layer=1,
            steps=30,
            lr=1e-2,
            seed=seed,
        )
        _PRETRAINED[seed] = {k: v.clone() for k, v in lm.model.state_dict().items()}
    fresh = train_tiny_lm(
        toy_texts()[:1], architecture="opt", tokenizer=toy_tokenizer(), n_layer=1, steps=0
    )
    fresh.model.load_state_dict(_PRETRAINED[seed])
    return fresh


class CountTarget:
    """Reward: how many times the target token was generated (TRL reward-function shape)."""

    __name__ = "count_target"

    def __init__(self, target_id: int) -> None:
        self.target_id = target_id

    def __call__(self, prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        return [float(sum(t == self.target_id for t in ids)) for ids in completion_ids]


def toy_token_env(num_envs: int = 8, max_new_tokens: int = 6, **kwargs) -> gym.Env:
    """A token-mode vector env on the toy corpus; its ``generating_model`` is a fresh tiny LM."""
    lm = tiny_lm()
    target = lm.tokenizer.convert_tokens_to_ids(TARGET_PIECE)
    return TextGenerationVectorEnv(
        lm.tokenizer,
        toy_texts(),
        CountTarget(target),
        num_envs=num_envs,
        prompt_tokens=3,
        max_new_tokens=max_new_tokens,
        generating_model=lm,
        **kwargs,
    )


def toy_single_env(mode: str = "token", max_new_tokens: int = 6) -> gym.Env:
    """A single (non-vector) toy env in token or sequence mode."""
    lm = tiny_lm()
    target = lm.tokenizer.convert_tokens_to_ids(TARGET_PIECE)
    return TextGenerationEnv(
        lm.tokenizer,
        toy_texts(),
        CountTarget(target),
        prompt_tokens=3,
        max_new_tokens=max_new_tokens,
        mode=mode,
        generating_model=lm,
    )


class SubsetBandit(gym.Env):
    """Choose k of N items; the reward is the mean hidden quality of the chosen items.

    Item embeddings are fixed random vectors; quality is a fixed linear function of them,
    so one linear scorer can learn to rank items exactly.
    """

    metadata = {"render_modes": []}

    def __init__(self, num_items: int = 12, dim: int = 6, budget: int = 3, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.embeddings = rng.normal(size=(num_items, dim)).astype(np.float32)
        self.quality = self.embeddings @ rng.normal(size=dim)
        self.budget = budget
        self.action_space = gym.spaces.MultiBinary(num_items)
        self.observation_space = gym.spaces.Dict(
            {"embeddings": gym.spaces.Box(-np.inf, np.inf, (num_items, dim), np.float32)}
        )

    def best_reward(self) -> float:
        """Mean quality of the k best items (the oracle)."""
        return float(np.sort(self.quality)[-self.budget :].mean())

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"embeddings": self.embeddings.copy()}, {}

    def step(self, action):
        action = np.asarray(action)
        if action.shape != self.action_space.shape or action.sum() != self.budget:
            raise ValueError(f"choose exactly {self.budget} items")
        reward = float(self.quality[action.astype(bool)].mean())
        return {"embeddings": self.embeddings.copy()}, reward, True, False, {}


TOY_ENV_ID = "lm_gym_tests/ToyTokens-v0"


def register_toy_env() -> str:
    """Register the toy token env (single and native vector entry points) once."""
    if TOY_ENV_ID not in gym.registry:
        gym.register(
            TOY_ENV_ID,
            entry_point=lambda **kwargs: toy_single_env(**kwargs),
            vector_entry_point=lambda num_envs=1, **kwargs: toy_token_env(num_envs, **kwargs),
        )
    return TOY_ENV_ID
