"""Benchmark: training a group of students, lm_gym's batched students against one HF model each.

The inner loop of every teacher-env step. Both sides train the same 12 students (the default
:class:`~lm_gym.students.StudentConfig`, each initialised from its own seed, the HF side from
the exported weights) for 300 AdamW updates on the same 10 Task 1 sentences, full-batch, and
return the students' exam perplexities:

* ``lm_gym``: :class:`~lm_gym.students.BatchedStudents`, all 12 at once (stacked weights,
  batched matrix products, one fused optimizer);
* ``reference``: what a Hugging Face user writes: 12 ``GPT2LMHeadModel`` students (same
  architecture, untied embeddings, no dropout) trained one after another with
  ``model(input_ids, attention_mask, labels).loss`` and ``torch.optim.AdamW``.

Both sides run with one intra-op thread: the models are tiny, and on a shared machine
OpenMP's waiting for a descheduled second thread made timings of either side swing tenfold
with the load of other processes.

Run with ``make bench``. Without ``--benchmark-enable`` each side runs once as a plain test,
with 30 updates instead of 300 so ``make test`` stays fast.
"""

from __future__ import annotations

import pytest
import torch

from lm_gym.corpora.artificial import domains_task
from lm_gym.envs.students import (
    BatchedStudents,
    StudentConfig,
    WordVocabulary,
    init_student,
    weights_to_gpt2,
)

NUM_STUDENTS = 12
UPDATES = 300
SEEDS = list(range(100, 100 + NUM_STUDENTS))
CONFIG = StudentConfig()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run this module single-threaded, then restore the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def task_rows():
    """``(vocab_size, train rows, exam rows)``: 10 exam-vocabulary Task 1 sentences."""
    task = domains_task(seed=0)
    vocab = WordVocabulary(task.vocabulary)
    selection = [task.pool[i] for i in task.exam_type_indices[:10]]
    return len(vocab), vocab.encode(selection), vocab.encode(task.exam)


def train_lm_gym(vocab_size: int, train, exam, updates: int) -> torch.Tensor:
    students = BatchedStudents(vocab_size, SEEDS, CONFIG)
    students.train_on(*train, updates)
    return students.corpus_perplexity(*exam)


def train_reference(vocab_size: int, train, exam, updates: int) -> torch.Tensor:
    ids, mask = train
    labels = ids.masked_fill(mask == 0, -100)
    exam_ids, exam_mask = exam
    exam_labels = exam_ids.masked_fill(exam_mask == 0, -100)
    perplexities = []
    for seed in SEEDS:
        model = weights_to_gpt2(init_student(CONFIG, vocab_size, seed), CONFIG)
        model.train()
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=CONFIG.lr, weight_decay=CONFIG.weight_decay
        )
        for _ in range(updates):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            exam_loss = model(input_ids=exam_ids, attention_mask=exam_mask, labels=exam_labels).loss
        perplexities.append(torch.exp(exam_loss.double()))
    return torch.stack(perplexities)


SIDES = {"lm_gym": train_lm_gym, "reference": train_reference}


@pytest.mark.benchmark(group="students")
@pytest.mark.parametrize("side", list(SIDES), ids=list(SIDES))
def test_train_students(benchmark, side, task_rows):
    updates = 30 if benchmark.disabled else UPDATES
    perplexities = benchmark.pedantic(
        SIDES[side], args=(*task_rows, updates), rounds=1 if benchmark.disabled else 5
    )
    assert perplexities.shape == (NUM_STUDENTS,)
    assert torch.isfinite(perplexities).all()
    assert float(perplexities.mean()) < task_rows[0]  # better than a uniform guess


def test_both_sides_train_the_same_students(task_rows):
    """Same students, same data, same optimizer: the same exam perplexities."""
    ours = train_lm_gym(*task_rows, 10)
    theirs = train_reference(*task_rows, 10)
    assert float(((ours - theirs).abs() / theirs).max()) < 1e-3
