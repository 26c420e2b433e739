"""Batched students: same students together as alone, same function as GPT-2, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from lm_gym.corpora.artificial import domains_task, structures_task
from lm_gym.envs.students import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    BatchedStudents,
    StudentConfig,
    WordVocabulary,
    init_student,
)

SMALL = StudentConfig(n_layer=2, n_embd=16, n_head=2, max_positions=16, batch_size=4)


@pytest.fixture(scope="module")
def task():
    return structures_task(pool_size=40, exam_size=6, seed=3)


@pytest.fixture(scope="module")
def vocab(task) -> WordVocabulary:
    return WordVocabulary(task.vocabulary)


@pytest.fixture(scope="module")
def rows(task, vocab):
    """Twelve training rows of varied lengths (padding is exercised) and the exam rows."""
    return vocab.encode(task.pool[:12]), vocab.encode(task.exam)


# --- vocabulary ---------------------------------------------------------------------------


def test_vocabulary_encodes_rows_with_bos_eos_and_padding():
    vocab = WordVocabulary(["a", "b", "a", "c"])
    assert vocab.tokens == ("<pad>", "<unk>", "<s>", "</s>", "a", "b", "c")
    ids, mask = vocab.encode(["a b", "c zzz c a"])
    assert ids.tolist() == [
        [BOS_ID, 4, 5, EOS_ID, PAD_ID, PAD_ID],
        [BOS_ID, 6, UNK_ID, 6, 4, EOS_ID],
    ]
    assert mask.tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]
    assert vocab.decode(ids[1]) == "c c a"
    cut, _ = vocab.encode(["a b c a"], max_length=3)
    assert cut.tolist() == [[BOS_ID, 4, 5]]


@pytest.mark.parametrize("words", [["a b"], ["<s>"], [""], "abc"])
def test_vocabulary_rejects_bad_words(words):
    with pytest.raises((ValueError, TypeError)):
        WordVocabulary(words)


# --- initialisation -----------------------------------------------------------------------


def test_each_student_starts_from_its_own_seed(vocab):
    students = BatchedStudents(len(vocab), [7, 3, 7], SMALL)
    for index, seed in enumerate([7, 3, 7]):
        alone = init_student(SMALL, len(vocab), seed)
        weights = students.student_weights(index)
        assert weights.keys() == alone.keys()
        assert all(torch.equal(weights[k], alone[k]) for k in alone)
    assert not torch.equal(students.params["wte"][0], students.params["wte"][1])


# --- training: together equals alone ------------------------------------------------------


def _relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs()).max())


@pytest.mark.parametrize("batch_size", [4, 64], ids=["minibatches", "full-batch"])
def test_training_together_equals_training_alone(rows, vocab, batch_size):
    (train_ids, train_mask), exam = rows
    config = StudentConfig(**{**SMALL.__dict__, "batch_size": batch_size})
    seeds = [11, 12, 13]
    group = BatchedStudents(len(vocab), seeds, config)
    group_losses = group.train_on(train_ids, train_mask, 25)
    together = group.perplexity(*exam)
    for index, seed in enumerate(seeds):
        alone = BatchedStudents(len(vocab), [seed], config)
        alone_losses = alone.train_on(train_ids, train_mask, 25)
        assert _relative_gap(group_losses[:, index], alone_losses[:, 0]) < 1e-4
        assert _relative_gap(together[index], alone.perplexity(*exam)[0]) < 1e-4
    assert group_losses[-1].mean() < group_losses[0].mean()  # they did learn


def test_training_is_reproducible_bit_for_bit(rows, vocab):
    (train_ids, train_mask), exam = rows
    runs = []
    for _ in range(2):
        students = BatchedStudents(len(vocab), [5, 6], SMALL)
        students.train_on(train_ids, train_mask, 10)
        runs.append(students.perplexity(*exam))
    assert torch.equal(runs[0], runs[1])


def test_students_compute_the_same_function_as_gpt2(rows, vocab):
    """The exported GPT-2 gives our logits, and trained alongside with the same optimizer on the
    same batches it ends at our exam perplexity: a reference single-student implementation."""
    (train_ids, train_mask), (exam_ids, exam_mask) = rows
    config = StudentConfig(**{**SMALL.__dict__, "batch_size": 64})
    students = BatchedStudents(len(vocab), [21], config)
    model = students.to_gpt2(0)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    width = int(train_mask.sum(1).max())
    ids, mask = train_ids[:, :width], train_mask[:, :width]
    labels = ids.masked_fill(mask == 0, -100)
    for _ in range(15):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    students.train_on(train_ids, train_mask, 15)

    with torch.no_grad():
        logits = model(input_ids=exam_ids, attention_mask=exam_mask).logits[:, :-1]
    nll = (
        torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), exam_ids[:, 1:], reduction="none"
        ).double()
        * exam_mask[:, 1:]
    )
    reference = torch.exp(nll.sum(1) / exam_mask[:, 1:].sum(1))
    assert _relative_gap(students.perplexity(exam_ids, exam_mask)[0], reference) < 1e-3


def test_training_continues_across_calls(rows, vocab):
    """Optimizer state persists: the curriculum env teaches the same students lesson by lesson."""
    (train_ids, train_mask), exam = rows
    students = BatchedStudents(len(vocab), [1], SMALL)
    first = students.train_on(train_ids, train_mask, 5)
    second = students.train_on(train_ids, train_mask, 5)
    assert students.updates == 10
    assert second.mean() < first.mean()


# --- evaluation ---------------------------------------------------------------------------


def test_perplexity_shapes_and_corpus_perplexity(rows, vocab):
    _, exam = rows
    students = BatchedStudents(len(vocab), [1, 2], SMALL)
    per_item = students.perplexity(*exam)
    assert per_item.shape == (2, exam[0].shape[0]) and per_item.dtype == torch.float64
    # untrained students are close to uniform over the vocabulary
    assert 0.5 * len(vocab) < float(per_item.mean()) < 2 * len(vocab)
    nll, counts = students.log_likelihoods(*exam)
    expected = torch.exp(nll.sum(1) / counts.sum())
    assert torch.allclose(students.corpus_perplexity(*exam), expected)


def test_perplexity_stays_finite_for_hopeless_students():
    """Task 1 students that only ever saw the other vocabulary: the huge perplexity is clipped,
    never inf or nan."""
    task = domains_task(pool_size=20, exam_size=4, seed=0)
    vocab = WordVocabulary(task.vocabulary)
    students = BatchedStudents(len(vocab), [0], SMALL)
    with torch.no_grad():
        students.params["head"].mul_(1e4)  # absurdly confident logits
    ppl = students.perplexity(*vocab.encode(task.exam))
    assert torch.isfinite(ppl).all()
    assert float(ppl.max()) <= math.exp(700.0)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"n_embd": 10, "n_head": 3}, {"n_layer": 0}, {"lr": 0}, {"activation": "tanh"}],
)
def test_config_rejects_bad_values(fields):
    with pytest.raises(ValueError, match="StudentConfig"):
        StudentConfig(**fields)


def test_bad_rows_are_rejected_before_training(vocab, rows):
    (train_ids, train_mask), _ = rows
    students = BatchedStudents(len(vocab), [0], SMALL)
    before = students.params["wte"].clone()
    with pytest.raises(TypeError, match="int64"):
        students.train_on(train_ids.float(), train_mask, 3)
    with pytest.raises(ValueError, match="max_positions"):
        students.train_on(train_ids.repeat(1, 3), train_mask.repeat(1, 3), 3)
    with pytest.raises(ValueError, match="steps"):
        students.train_on(train_ids, train_mask, -1)
    with pytest.raises(ValueError, match="seeds"):
        BatchedStudents(len(vocab), [], SMALL)
    assert torch.equal(students.params["wte"], before)
