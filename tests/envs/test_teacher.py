"""Teacher envs: spaces, rewards, info, bad actions, determinism, curriculum, vector env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from lm_gym import check_env  # importing lm_gym registers the teacher ids
from lm_gym.corpora import SelectionTask, domains_task, structures_task
from lm_gym.envs import (
    BatchedStudents,
    KSubset,
    StudentConfig,
    TeacherCurriculumEnv,
    TeacherCurriculumVectorEnv,
    TeacherSelectionEnv,
)

# The units the teacher envs are built from, tested on their own below.
from lm_gym.envs.students import WordVocabulary
from lm_gym.envs.teacher import exam_scores
from lm_gym.envs.teacher_embeddings import SentenceEmbedder
from lm_gym.envs.teacher_metrics import exam_type_fraction, ngram_overlap, selection_metrics
from lm_gym.envs.teacher_tasks import parentese_task, word_tokens
from lm_gym.models import train_sentencepiece_tokenizer

FAST = {"embedding": "bag", "student_steps": 3, "num_students": 2}
"""Keywords that keep an env step to a few milliseconds."""
COURSE = {"embedding": "bag", "steps_per_lesson": 3, "num_students": 2}
"""The same for the curriculum env."""


def _select(labels, wanted: int, k: int = 10) -> np.ndarray:
    """A k-subset indicator taking label-``wanted`` sentences first."""
    order = np.argsort(np.asarray(labels) != wanted, kind="stable")
    action = np.zeros(len(labels), dtype=np.int8)
    action[order[:k]] = 1
    return action


# --- spaces and the registered defaults ---------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "steps", "width"),
    [("TeacherDomains-v0", 400, 12), ("TeacherStructures-v0", 300, 12)],
)
def test_registered_ids_use_the_paper_defaults(env_id, steps, width):
    env = gym.make(env_id, embedding="bag")
    inner = env.unwrapped
    assert (inner.source.pool_size, inner.source.exam_size, inner.budget) == (100, 10, 10)
    assert inner.student_steps == steps
    assert env.action_space == KSubset(100, 10)
    obs, info = env.reset(seed=0)
    assert obs["input_ids"].shape == obs["attention_mask"].shape == (100, width)
    assert obs["input_ids"].dtype == np.int64 and obs["attention_mask"].dtype == np.int8
    assert obs["embeddings"].dtype == np.float32 and obs["embeddings"].shape[0] == 100
    assert env.observation_space.contains(obs)
    assert len(info["pool"]) == 100 and len(info["exam"]) == 10


def test_structures_pool_has_the_20_80_split():
    env = TeacherSelectionEnv("structures", **FAST)
    env.reset(seed=1)
    assert int(env.pool_labels.sum()) == 20


def test_parentese_env_mixes_english_and_italian():
    env = gym.make("TeacherParentese-v0", pool_size=20, exam_size=4, budget=5, **FAST)
    obs, info = env.reset(seed=0)
    labels = env.unwrapped.pool_labels
    assert int(labels.sum()) == 10
    italian = [s for s, label in zip(info["pool"], labels) if label]
    assert all(s == word_tokens(s) for s in info["pool"] + info["exam"])
    assert not set(info["exam"]) & set(info["pool"])
    assert any(w in s.split() for s in italian for w in ("il", "la", "è", "di", "che"))
    _, reward, terminated, _, step_info = env.step(_select(labels, 1, 5))
    assert np.isfinite(reward) and terminated
    assert step_info["exam_type_fraction"] == 1.0


def test_parentese_task_is_seeded():
    assert parentese_task(10, 3, seed=4) == parentese_task(10, 3, seed=4)
    assert parentese_task(10, 3, seed=4).pool != parentese_task(10, 3, seed=5).pool


# --- the step -----------------------------------------------------------------------------


def test_step_trains_students_and_reports_scores():
    env = TeacherSelectionEnv("domains", **FAST)
    env.reset(seed=0)
    action = _select(env.pool_labels, 1)
    obs, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    assert reward == -info["exam_log_perplexity"] and np.isfinite(reward)
    assert info["student_perplexity"].shape == info["student_log_perplexity"].shape == (2,)
    assert info["exam_item_perplexity"].shape == (2, 10)
    assert info["exam_perplexity"] == pytest.approx(info["student_perplexity"].mean())
    assert info["exam_log_perplexity"] == pytest.approx(info["student_log_perplexity"].mean())
    np.testing.assert_allclose(
        np.exp(info["student_log_perplexity"]), info["student_perplexity"], rtol=1e-6
    )
    assert list(info["selected"]) == list(np.flatnonzero(action))
    assert info["exam_type_fraction"] == 1.0
    assert info["unigram_overlap"] == 1.0  # ten V1 sentences cover the ten V1 words
    assert 0.0 <= info["trigram_overlap"] <= info["bigram_overlap"] <= 1.0
    assert env.observation_space.contains(obs)


def test_same_seed_same_reward_bit_for_bit():
    rewards = []
    for _ in range(2):
        env = TeacherSelectionEnv("structures", **FAST)
        env.reset(seed=7)
        rewards.append(env.step(_select(env.pool_labels, 0))[1])
    assert rewards[0] == rewards[1]
    env.reset(seed=8)
    assert env.step(_select(env.pool_labels, 0))[1] != rewards[0]


@pytest.mark.parametrize("scale", ["log_perplexity", "perplexity"])
def test_reward_matches_students_trained_by_hand(scale):
    """The reward is minus the students' mean exam log-perplexity (default) or, on the
    paper's scale, minus their mean exam perplexity; freshly seeded students trained by hand
    give the same."""
    env = TeacherSelectionEnv(
        "domains", **FAST, **({} if scale == "log_perplexity" else {"reward": scale})
    )
    env.reset(seed=3)
    action = _select(env.pool_labels, 1)
    _, reward, *_, info = env.step(action)
    vocab = env.source.vocabulary
    students = BatchedStudents(len(vocab), env.student_seeds, env.student_config)
    chosen = [env.task.pool[i] for i in np.flatnonzero(action)]
    students.train_on(*vocab.encode(chosen, 12), 3)
    perplexity = students.corpus_perplexity(*vocab.encode(env.task.exam, 12))
    expected = perplexity.log().mean() if scale == "log_perplexity" else perplexity.mean()
    assert reward == pytest.approx(-float(expected), rel=1e-6)
    assert reward == -info[f"exam_{scale}"]


def test_both_reward_scales_stay_finite_for_a_hopeless_student():
    """A student that gives the exam's words no probability at all: its mean NLL is clipped at
    700 nats, so the log-scale reward is -700 and the paper-scale one about -1e304, finite."""
    nll = torch.tensor([[1e9, 5.0], [3.0, 4.0]], dtype=torch.float64)
    counts = torch.tensor([[10, 10], [10, 10]])
    scores = exam_scores(nll, counts)
    assert scores["student_log_perplexity"][0] == 700.0
    for scale, expected in (
        ("log_perplexity", -(700 + 0.35) / 2),
        ("perplexity", -np.exp(700) / 2),
    ):
        env = TeacherSelectionEnv("domains", reward=scale, **FAST)
        assert np.isfinite(env.reward_of(scores))
        assert env.reward_of(scores) == pytest.approx(expected, rel=1e-9)


def test_fixed_pool_and_exam_as_in_the_paper():
    fixed = TeacherSelectionEnv("structures", resample="fixed", task_seed=4, **FAST)
    redrawn = TeacherSelectionEnv("structures", **FAST)
    first_obs, first = fixed.reset(seed=0)
    students = fixed.student_seeds
    second_obs, second = fixed.reset(seed=1)
    assert first["pool"] == second["pool"] == structures_task(seed=4).pool
    assert first["exam"] == second["exam"] == structures_task(seed=4).exam
    np.testing.assert_array_equal(first_obs["input_ids"], second_obs["input_ids"])
    assert fixed.student_seeds != students  # new students every episode
    assert redrawn.reset(seed=0)[1]["pool"] != redrawn.reset(seed=1)[1]["pool"]
    # the students' seeds do not depend on the mode
    redrawn.reset(seed=1)
    assert redrawn.student_seeds == fixed.student_seeds
    # the vector env's sub-envs share the one pool
    vector = gym.make_vec("TeacherStructures-v0", num_envs=2, resample="fixed", **FAST)
    vector.reset(seed=0)
    assert all(env.task.pool == structures_task(seed=0).pool for env in vector.unwrapped.envs)
    with pytest.raises(ValueError, match="resample"):
        TeacherSelectionEnv("structures", resample="once", **FAST)
    with pytest.raises(ValueError, match="reward"):
        TeacherSelectionEnv("structures", reward="nll", **FAST)


@pytest.mark.parametrize(
    ("make_action", "error"),
    [
        (lambda n: np.ones(n, dtype=np.int8), ValueError),  # wrong count
        (lambda n: np.r_[np.full(9, 1), 2, np.zeros(n - 10)].astype(np.int64), ValueError),
        (lambda n: np.r_[np.ones(10), np.zeros(n - 10)], TypeError),  # float dtype
        (lambda n: np.r_[np.ones(10), np.zeros(n - 9)].astype(np.int8), ValueError),  # shape
        (lambda n: np.zeros((2, n), dtype=np.int8), ValueError),
    ],
    ids=["count", "non-binary", "dtype", "length", "2d"],
)
def test_bad_actions_raise_and_change_nothing(make_action, error):
    env = TeacherSelectionEnv("domains", **FAST)
    pool, _ = env.reset(seed=0)
    rng_state = env.np_random.bit_generator.state
    with pytest.raises(error):
        env.step(make_action(100))
    assert env.np_random.bit_generator.state == rng_state
    assert not env.episode_over and env.last_info == {}
    # the episode goes on, on the same pool, with the reward an untouched env would give
    obs, reward, *_ = env.step(_select(env.pool_labels, 1))
    assert all(np.array_equal(pool[key], obs[key]) for key in pool)
    fresh = TeacherSelectionEnv("domains", **FAST)
    fresh.reset(seed=0)
    assert fresh.step(_select(fresh.pool_labels, 1))[1] == reward


def test_step_outside_an_episode_is_an_error():
    env = TeacherSelectionEnv("domains", **FAST)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    env.step(env.action_space.sample())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget": 0},
        {"budget": 101},
        {"task": "poems"},
        {"embedding": "tfidf"},
        {"student_steps": 0},
        {"v1_fraction": 1.5},
        {"student_config": {"n_layers": 2}},
        {"student_config": {"max_positions": 8}},
        {"embedding": "mean_hidden", "teacher_model": None},
    ],
)
def test_bad_arguments_are_rejected(kwargs):
    arguments = {**FAST, **kwargs}
    task = arguments.pop("task", "domains")
    with pytest.raises((ValueError, TypeError)):
        TeacherSelectionEnv(task, **arguments)


@pytest.mark.parametrize(
    ("env_class", "typo", "meant"),
    [
        (TeacherSelectionEnv, "budjet", "budget"),
        (TeacherSelectionEnv, "v1_fractoin", "v1_fraction"),
        (TeacherCurriculumEnv, "lesson_sise", "lesson_size"),
        (TeacherCurriculumVectorEnv, "num_lesons", "num_lessons"),
    ],
)
def test_an_unknown_keyword_is_one_type_error_before_any_model_loads(env_class, typo, meant):
    # a teacher model that cannot load shows the keyword check comes first
    arguments = {"teacher_model": "/no/such/model", "embedding": "mean_hidden", typo: 3}
    name = env_class.__name__
    with pytest.raises(TypeError, match=rf"^{name} got .*'{typo}' \(did you mean '{meant}'\?\)"):
        env_class(**arguments)


def test_check_env_passes_for_the_one_step_env():
    check_env(TeacherSelectionEnv("domains", **FAST), steps=4)


def test_a_custom_task_callable():
    def tiny(seed: int) -> SelectionTask:
        return domains_task(pool_size=12, exam_size=3, length=4, seed=seed)

    env = TeacherSelectionEnv(tiny, budget=3, **FAST)
    obs, _ = env.reset(seed=0)
    assert obs["input_ids"].shape == (12, 6)
    assert np.isfinite(env.step(env.action_space.sample())[1])


def test_ansi_render_lists_the_selection():
    env = TeacherSelectionEnv("domains", render_mode="ansi", **FAST)
    env.reset(seed=0)
    env.step(_select(env.pool_labels, 1))
    text = env.render()
    assert text.count("[exam type]") == 10 and "exam perplexity" in text


# --- embeddings ---------------------------------------------------------------------------


def test_bag_embeddings_separate_the_domains():
    task = domains_task(pool_size=20, seed=0)
    embedder = SentenceEmbedder("bag", WordVocabulary(task.vocabulary))
    vectors = embedder(task.pool)
    assert vectors.shape == (20, 20) and np.allclose(vectors.sum(1), 1.0)
    labels = np.asarray(task.pool_labels, dtype=bool)
    assert (vectors[labels][:, 10:] == 0).all() and (vectors[~labels][:, :10] == 0).all()


@pytest.fixture(scope="module")
def letter_lm():
    """An untrained GPT-2 with a SentencePiece tokenizer over the artificial languages' letters
    (the embeddings' plumbing needs no trained teacher)."""
    texts = list(domains_task(pool_size=200, seed=9).pool)
    tokenizer = train_sentencepiece_tokenizer(texts, vocab_size=320)
    config = GPT2Config(n_layer=1, n_embd=24, n_head=2, vocab_size=len(tokenizer))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return GPT2LMHeadModel(config), tokenizer


@pytest.mark.parametrize("kind", ["mean_embedding", "mean_hidden"])
def test_teacher_lm_embeddings(kind, letter_lm):
    env = TeacherSelectionEnv(
        "domains", pool_size=10, budget=3, embedding=kind, teacher_model=letter_lm
    )
    obs, _ = env.reset(seed=0)
    assert obs["embeddings"].shape == (10, 24) and np.isfinite(obs["embeddings"]).all()
    assert len({row.tobytes() for row in obs["embeddings"]}) == 10
    model, tokenizer = letter_lm
    ids = tokenizer(env.task.pool[0], add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        if kind == "mean_embedding":
            expected = model.get_input_embeddings()(ids)[0].mean(0)
        else:
            row = torch.cat([torch.tensor([[tokenizer.bos_token_id]]), ids], dim=1)
            row = torch.cat([row, torch.tensor([[tokenizer.eos_token_id]])], dim=1)
            expected = model(row, output_hidden_states=True).hidden_states[-1][0, 1:-1].mean(0)
    assert np.allclose(obs["embeddings"][0], expected.numpy(), atol=1e-5)


# --- metrics ------------------------------------------------------------------------------


def test_ngram_overlap_and_exam_type_fraction():
    exam = ["a b c", "a b d"]
    assert ngram_overlap(["a b"], exam, 1) == pytest.approx(2 / 4)
    assert ngram_overlap(["x a b c"], exam, 2) == pytest.approx(2 / 3)
    assert ngram_overlap(["a b c"], exam, 3) == pytest.approx(1 / 2)
    assert ngram_overlap([], exam, 1) == 0.0
    assert exam_type_fraction([0, 2], [1, 0, 0]) == 0.5
    metrics = selection_metrics([1], ["k l", "a b c"], [0, 1], exam)
    assert metrics == {
        "exam_type_fraction": 1.0,
        "unigram_overlap": 0.75,
        "bigram_overlap": pytest.approx(2 / 3),
        "trigram_overlap": 0.5,
    }


# --- curriculum ---------------------------------------------------------------------------


def test_curriculum_students_persist_across_lessons():
    env = gym.make("TeacherCurriculum-v0", num_lessons=3, lesson_size=4, **COURSE)
    obs, info = env.reset(seed=2)
    inner = env.unwrapped
    assert obs["exam_log_perplexity"].shape == (10,) and obs["taught"].sum() == 0
    vocab = inner.source.vocabulary
    by_hand = BatchedStudents(len(vocab), inner.student_seeds, inner.student_config)
    exam = vocab.encode(inner.task.exam, 12)
    for lesson in range(1, 4):
        action = _select(inner.pool_labels, 1, 4)
        if lesson == 2:
            action = np.roll(action, 1)
        obs, reward, terminated, _, info = env.step(action)
        lesson_texts = [inner.task.pool[i] for i in np.flatnonzero(action)]
        by_hand.train_on(*vocab.encode(lesson_texts, 12), 3)
        expected = by_hand.corpus_perplexity(*exam).log().mean()
        assert reward == pytest.approx(-float(expected), rel=1e-6)
        assert info["lesson"] == lesson and terminated == (lesson == 3)
        assert obs["taught"].sum() == 4 * lesson
    assert env.observation_space.contains(obs)


def test_curriculum_passes_check_env_and_rejects_budget():
    check_env(TeacherCurriculumEnv(num_lessons=2, lesson_size=3, **COURSE), steps=5)
    with pytest.raises(TypeError, match="lesson_size"):
        TeacherCurriculumEnv(budget=3, **COURSE)
    assert "budget" not in TeacherCurriculumEnv.keywords()


def test_curriculum_vector_env_teaches_each_course_as_the_single_env():
    course = {"num_lessons": 2, "lesson_size": 4, **COURSE}
    vector = gym.make_vec("TeacherCurriculum-v0", num_envs=2, **course)
    assert isinstance(vector, TeacherCurriculumVectorEnv) and vector.budget == 4
    assert vector.action_space == KSubset((2, 100), 4)
    obs, info = vector.reset(seed=3)
    assert vector.pool_labels.shape == (2, 100) and info["_exam_perplexity"].all()
    singles = [TeacherCurriculumEnv(**course) for _ in range(2)]
    for index, single in enumerate(singles):
        single_obs, single_info = single.reset(seed=3 + index)
        assert np.array_equal(single_obs["exam_log_perplexity"], obs["exam_log_perplexity"][index])
        assert single_info["exam_perplexity"] == info["exam_perplexity"][index]
    for lesson in (1, 2):
        actions = vector.action_space.sample()
        obs, rewards, terminated, truncated, info = vector.step(actions)
        for index, single in enumerate(singles):
            single_obs, reward, done, _, single_info = single.step(actions[index])
            assert reward == rewards[index] and done == terminated[index] == (lesson == 2)
            assert np.array_equal(single_obs["taught"], obs["taught"][index])
        assert info["lesson"].tolist() == [lesson, lesson] and not truncated.any()
    obs, rewards, terminated, _, info = vector.step(vector.action_space.sample())
    assert (rewards == 0).all() and not terminated.any()  # the NEXT_STEP reset step
    assert (obs["taught"] == 0).all() and info["_pool"].all()
    with pytest.raises(ValueError, match="exactly 4"):
        vector.step(np.ones((2, 100), dtype=np.int8))
    check_env(vector, steps=4)


# --- vector env ---------------------------------------------------------------------------


def test_vector_env_matches_the_single_env():
    vector = gym.make_vec("TeacherDomains-v0", num_envs=3, **FAST)
    assert vector.action_space == KSubset((3, 100), 10)
    obs, _ = vector.reset(seed=5)
    actions = vector.action_space.sample()
    _, rewards, terminated, _, info = vector.step(actions)
    assert terminated.all() and info["exam_item_perplexity"].shape == (3, 2, 10)
    single = TeacherSelectionEnv("domains", **FAST)
    for index in range(3):
        single_obs, _ = single.reset(seed=5 + index)
        assert np.array_equal(single_obs["input_ids"], obs["input_ids"][index])
        assert single.step(actions[index])[1] == pytest.approx(rewards[index], rel=1e-6)
    assert vector.unwrapped.pool_labels.shape == (3, 100)


def test_vector_env_autoresets_and_passes_check_env():
    vector = gym.make_vec("TeacherStructures-v0", num_envs=2, **FAST)
    vector.reset(seed=0)
    vector.step(vector.action_space.sample())
    obs, rewards, terminated, _, _ = vector.step(vector.action_space.sample())
    assert (rewards == 0).all() and not terminated.any()  # the NEXT_STEP reset step
    bad = np.ones((2, 100), dtype=np.int8)
    with pytest.raises(ValueError, match="exactly 10"):
        vector.step(bad)
    check_env(vector, steps=4)


def test_students_of_a_vector_step_are_independent():
    """Per-student rows: each env's students train only on that env's selection."""
    vocab = WordVocabulary(list("abcd"))
    rows_a, rows_b = vocab.encode(["a b a b"] * 3), vocab.encode(["c d d c"] * 3)
    config = StudentConfig(n_embd=8, max_positions=8)
    group = BatchedStudents(len(vocab), [1, 2], config)
    ids = torch.stack([rows_a[0], rows_b[0]])
    group.train_on(ids, torch.stack([rows_a[1], rows_b[1]]), 5)
    for index, rows in enumerate((rows_a, rows_b)):
        alone = BatchedStudents(len(vocab), [index + 1], config)
        alone.train_on(*rows, 5)
        gap = (group.perplexity(*rows)[index] - alone.perplexity(*rows)[0]).abs().max()
        assert float(gap) < 1e-6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pool_size": 10**7}, "pool_size=10000000 is above its limit of 10,000: every reset"),
        ({"exam_size": 10**6}, "exam_size=1000000 is above its limit of 10,000"),
        ({"student_steps": 10**9}, "student_steps=1000000000 is above its limit of 100,000"),
    ],
)
def test_sizes_are_bounded_before_any_task_is_drawn(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TeacherSelectionEnv("parentese", **{**FAST, **kwargs})
