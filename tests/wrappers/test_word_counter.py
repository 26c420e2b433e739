"""WordCounter: a run with a word budget stops exactly at it, and its ledger equals an
independent count of every text the run trained on, showed and generated."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from lm_gym.agents import PPO, LMSampleAgent, Reinforce
from lm_gym.babylm import BudgetExhausted, ledger_of
from lm_gym.envs import TextGenerationEnv, TextGenerationVectorEnv
from lm_gym.models.clm import SentenceBatches
from lm_gym.wrappers import CLMAlternation, WordCounter

CLM = {"r_clm": 2, "r_rl": 1, "batch_size": 8, "seed": 3}


def words(texts) -> int:
    """The independent count: whitespace-separated pieces, as BabyLM counts."""
    return sum(len(text.split()) for text in texts)


class Recording:
    """A reward that remembers every (prompt, continuation) the env scored: each finished
    episode, as the env itself saw it."""

    __name__ = "recording"

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.completions: list[str] = []

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        self.prompts += list(prompts)
        self.completions += list(completions)
        return [float(len(c.split())) for c in completions]


def toy_run(toys, budget, *, num_envs=4, clm=True, timesteps=20_000):
    """PPO (+ CLM alternation) on the toy corpus under ``budget``; returns what it needs."""
    lm = toys.tiny_lm()
    reward = Recording()
    texts = toys.toy_texts()
    env = TextGenerationVectorEnv(
        lm.tokenizer,
        texts,
        reward,
        num_envs=num_envs,
        prompt_tokens=3,
        max_new_tokens=6,
        generating_model=lm,
    )
    agent = PPO(env, num_envs=num_envs, num_minibatches=1, verbose=0, seed=0)
    env = WordCounter(env, budget=budget)
    if clm:
        env = CLMAlternation(env, agent.model, **CLM)
    agent.learn(env, timesteps, progress_bar=False)
    return agent, env, ledger_of(env), reward, texts


def replayed_clm_batches(texts, count: int) -> list[list[str]]:
    """The first ``count`` CLM batches, drawn again from a fresh stream of the same seed."""
    stream = SentenceBatches(texts, CLM["batch_size"], CLM["seed"])
    return [stream.next_batch() for _ in range(count)]


def test_an_exposure_budget_stops_exactly_at_it_and_the_ledger_matches_the_texts(toys):
    limit = 2_000
    agent, env, ledger, reward, texts = toy_run(toys, {"exposed": limit})
    refusal = ledger.refusal
    assert refusal is not None and agent.num_timesteps < 20_000  # the budget ended the run
    assert refusal.counter == "words exposed" and "CLM batch" in refusal.what

    # Independent counts: the CLM batches replayed from the seeded stream, the prompts and
    # continuations of every episode the env scored.
    steps = env.schedule.clm_steps
    batches = replayed_clm_batches(texts, steps + 1)
    assert ledger.counts["exposed/clm"] == words(t for b in batches[:steps] for t in b)
    assert ledger.counts["exposed/prompts"] == words(reward.prompts) > 0
    assert ledger.generated == words(reward.completions) > 0
    assert ledger.exposed == words(t for b in batches[:steps] for t in b) + words(reward.prompts)
    assert env.schedule.words_seen == ledger.counts["exposed/clm"]

    # Exactly at the limit: within it, and the refused batch (the next one of the stream,
    # never trained on) would have crossed it.
    assert ledger.exposed <= limit < ledger.exposed + words(batches[steps])
    assert refusal.requested == words(batches[steps])
    assert (
        env.schedule.stream.state_dict()["index"] == steps % env.schedule.stream.batches_per_epoch
    )
    assert env.schedule.due  # the refused CLM slot is still due
    history = agent.logger.history
    assert history[-1]["words/exposed"] <= limit and history[-1]["words/exposed_clm"] > 0


def test_a_generation_budget_refuses_the_step_whose_worst_case_could_cross_it(toys):
    limit = 150
    agent, env, ledger, reward, _ = toy_run(toys, {"generated": limit}, clm=False)
    refusal = ledger.refusal
    assert refusal.counter == "words generated"
    worst = 4 * 6  # 4 rows ending at once, 6 tokens of at most one word each
    assert refusal.requested == worst
    assert ledger.generated == words(reward.completions) <= limit < ledger.generated + worst


def test_an_epoch_budget_bounds_the_passes_over_the_clm_corpus(toys):
    agent, env, ledger, _, texts = toy_run(toys, {"epochs": 1.5})
    assert ledger.refusal.counter == "epochs over clm"
    assert ledger.corpus_words["clm"] == words(texts)
    assert ledger.epochs("clm") <= 1.5 < ledger.epochs("clm") + ledger.refusal.requested


def test_counts_show_in_info_and_a_refused_step_leaves_the_env_unchanged(toys):
    lm = toys.tiny_lm()
    reward = Recording()
    base = TextGenerationEnv(
        lm.tokenizer, toys.toy_texts(), reward, prompt_tokens=3, max_new_tokens=4, mode="sequence"
    )
    env = WordCounter(base, budget={"generated": 6})
    obs, info = env.reset(seed=0)
    assert info["words_exposed"] == 0 and info["words_generated"] == 0
    sequence = np.full(4, lm.tokenizer.convert_tokens_to_ids("▁cane"))
    _, _, terminated, _, info = env.step(sequence)
    assert terminated and info["words_generated"] == words(reward.completions) == 4
    assert info["words_exposed"] == words(reward.prompts)
    env.reset(seed=1)
    before = {key: value.copy() for key, value in base._batch.observation().items()}
    with pytest.raises(BudgetExhausted, match="words generated from 4 to 8, past its limit of 6"):
        env.step(sequence)
    after = base._batch.observation()
    assert all(np.array_equal(before[key], after[key]) for key in before)
    assert len(reward.completions) == 1


@pytest.mark.parametrize("agent_class", [Reinforce, LMSampleAgent])
def test_single_envs_and_sequence_agents_keep_the_same_ledger(toys, agent_class):
    reward = Recording()
    lm = toys.tiny_lm()
    env = TextGenerationEnv(
        lm.tokenizer,
        toys.toy_texts(),
        reward,
        prompt_tokens=3,
        max_new_tokens=5,
        mode="sequence",
        generating_model=lm,
    )
    agent = agent_class(env, verbose=0)
    env = WordCounter(env, budget={"exposed": 40})
    agent.learn(env, 1_000, progress_bar=False)
    ledger = ledger_of(env)
    assert ledger.refusal is not None and ledger.exposed <= 40
    assert ledger.counts["exposed/prompts"] == words(reward.prompts)
    assert ledger.generated == words(reward.completions)


class TeacherWrites(TextGenerationEnv):
    """A text env whose teacher answers each continuation with a sentence of its own."""

    def __init__(self, *args, declare: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if declare:
            self.max_teacher_words = 3

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            info["teacher_text"] = "bravo bambino !"
        return obs, reward, terminated, truncated, info


def test_text_a_teacher_writes_is_exposure_and_must_be_bounded(toys):
    lm = toys.tiny_lm()
    kwargs = {"prompt_tokens": 3, "max_new_tokens": 3, "mode": "sequence"}
    env = WordCounter(TeacherWrites(lm.tokenizer, toys.toy_texts(), Recording(), **kwargs))
    env.reset(seed=0)
    env.step(np.zeros(3, dtype=np.int64))
    assert ledger_of(env).counts["exposed/teacher"] == 3
    silent = TeacherWrites(lm.tokenizer, toys.toy_texts(), Recording(), declare=False, **kwargs)
    env = WordCounter(silent)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="declares no max_teacher_words"):
        env.step(np.zeros(3, dtype=np.int64))


def test_the_clm_wrapper_charges_the_same_ledger_whichever_wraps_the_other(toys):
    lm = toys.tiny_lm()
    counts = []
    for order in ("counter inside", "counter outside"):
        env = TextGenerationVectorEnv(
            lm.tokenizer, toys.toy_texts(), Recording(), num_envs=2, prompt_tokens=3
        )
        if order == "counter inside":
            env = CLMAlternation(WordCounter(env), lm.model, keep_reference=False, **CLM)
        else:
            env = WordCounter(CLMAlternation(env, lm.model, keep_reference=False, **CLM))
        env.reset(seed=0)
        counts.append(ledger_of(env).counts["exposed/clm"])
    assert (
        counts[0]
        == counts[1]
        == words(t for b in replayed_clm_batches(toys.toy_texts(), 2) for t in b)
    )


def test_teacher_envs_count_nothing_and_pass_sub_env_attributes_through():
    kwargs = {"embedding": "bag", "num_students": 1, "device": "cpu"}
    base = gym.make_vec("TeacherDomains-v0", num_envs=2, **kwargs)
    env = WordCounter(base)
    env.reset(seed=0)
    labels = env.get_attr("pool_labels")  # what the fixed teachers read
    assert [list(x) for x in labels] == [list(x) for x in base.get_attr("pool_labels")]
    action = np.zeros((2, len(labels[0])), dtype=np.int8)
    for row, x in enumerate(labels):  # the first 10 exam-type sentences of each pool
        action[row, np.flatnonzero(np.asarray(x))[:10]] = 1
    env.step(action)
    assert ledger_of(env).summary()["exposed"] == ledger_of(env).generated == 0
