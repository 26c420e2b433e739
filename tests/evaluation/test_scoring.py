"""Tests for lm_gym.evaluation.scoring: batched log-likelihoods against a one-text-at-a-time
reference."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM

from lm_gym.evaluation.scoring import Scorer, minimal_pair_accuracy, read_minimal_pairs

TEXTS = [
    "the cat sees the ball .",
    "the dogs want some milk in the garden .",
    "a bird likes the big house today .",
    "the cat sees the ball .",
    "my friends find a red apple .",
    "zebra",
]
PAIRS = [
    ("the cat sees the ball .", "the cat see the ball ."),
    ("the dogs want some milk .", "the dogs wants some milk ."),
    ("the baby likes the boat", "the baby likes the boat today ."),
    ("two birds find the ball .", "a bird finds the ball ."),
    ("", "the cat"),
    ("the cat sees the ball .", "the cat sees the ball ."),
    ("the cat", "the cat sees the ball ."),
]


def naive_token_logprobs(model, tokenizer, text: str, start_id: int, add_eos: bool = False):
    """Reference: one unpadded forward pass per text, full log-softmax, in float64."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if add_eos or not ids:
        ids = [*ids, tokenizer.eos_token_id]
    with torch.no_grad():
        logits = model(torch.tensor([[start_id, *ids]])).logits[0, :-1].double()
    return logits.log_softmax(-1)[torch.arange(len(ids)), torch.tensor(ids)].numpy()


def tiny_opt(vocab_size: int) -> OPTForCausalLM:
    """A randomly initialised OPT model: the other architecture of the offline recipes."""
    config = OPTConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=32,
        word_embed_proj_dim=16,
        max_position_embeddings=64,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(1)
        return OPTForCausalLM(config).eval()


class PlainForward(torch.nn.Module):
    """A causal LM whose forward takes ids and mask only: no KV cache, no logits_to_keep."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, input_ids, attention_mask):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


@pytest.fixture(scope="module")
def scorer(tiny_lm) -> Scorer:
    model, tokenizer = tiny_lm
    return Scorer(model, tokenizer, batch_size=2)


def test_token_logprobs_match_one_text_at_a_time(tiny_lm, scorer):
    model, tokenizer = tiny_lm
    batched = scorer.token_logprobs(TEXTS)
    assert len(batched) == len(TEXTS)
    for text, values in zip(TEXTS, batched):
        expected = naive_token_logprobs(model, tokenizer, text, tokenizer.bos_token_id)
        assert values.dtype == np.float64
        np.testing.assert_allclose(values, expected, atol=1e-5)


def test_continuation_logprobs_are_the_tails_of_whole_text_scores(scorer):
    """Scoring ``ids[start:]`` of a row gives the whole text's values from ``start`` on."""
    rows = scorer.encode(TEXTS)
    starts = [min(2, len(row) - 1) for row in rows]
    flat = scorer.continuation_logprobs(rows, starts)
    expected = [values[start:] for values, start in zip(scorer.token_logprobs(TEXTS), starts)]
    np.testing.assert_allclose(flat, np.concatenate(expected), atol=1e-5)


def test_log_likelihood_perplexity_and_corpus_perplexity_agree(scorer):
    per_token = scorer.token_logprobs(TEXTS)
    log_likelihood = scorer.log_likelihood(TEXTS)
    n_tokens = np.array([len(v) for v in per_token])
    assert log_likelihood.shape == (len(TEXTS),) and log_likelihood.dtype == np.float64
    np.testing.assert_allclose(log_likelihood, [v.sum() for v in per_token], atol=1e-9)
    np.testing.assert_allclose(scorer.perplexity(TEXTS), np.exp(-log_likelihood / n_tokens))
    expected = math.exp(-log_likelihood.sum() / n_tokens.sum())
    assert scorer.corpus_perplexity(TEXTS) == pytest.approx(expected)
    assert log_likelihood[0] == log_likelihood[3]  # a repeated text gets the same score


def test_corpus_perplexity_per_word_divides_the_same_likelihood_by_words(scorer, tiny_lm):
    """Per word: the total log-likelihood over whitespace words (+1 per text for a scored
    ``</s>``, and at least one per text), so ppl/word = (ppl/token) ** (tokens/word)."""
    total = -scorer.log_likelihood(TEXTS).sum()
    tokens = sum(len(v) for v in scorer.token_logprobs(TEXTS))
    words = sum(len(text.split()) for text in TEXTS)
    result = scorer.corpus_perplexities(TEXTS)
    assert result["perplexity"] == pytest.approx(math.exp(total / tokens))
    assert result["perplexity_per_word"] == pytest.approx(math.exp(total / words))
    assert result["tokens_per_word"] == pytest.approx(tokens / words) and tokens != words
    assert result["perplexity_per_word"] == pytest.approx(
        result["perplexity"] ** result["tokens_per_word"]
    )
    with_eos = Scorer(*tiny_lm, add_eos=True)
    texts = [*TEXTS, ""]
    total = -with_eos.log_likelihood(texts).sum()
    words = sum(len(text.split()) + 1 for text in texts)  # the empty text: its </s> alone
    assert with_eos.corpus_perplexities(texts)["perplexity_per_word"] == pytest.approx(
        math.exp(total / words)
    )
    empty = scorer.corpus_perplexities([""])  # scored as </s>: one token, one word
    assert empty["tokens_per_word"] == 1 and empty["perplexity_per_word"] == empty["perplexity"]


def test_trained_model_prefers_agreement(scorer):
    good, bad = scorer.log_likelihood(["the cats see the ball .", "the cats sees the ball ."])
    assert good > bad


def test_batch_size_does_not_change_scores(tiny_lm, scorer):
    model, tokenizer = tiny_lm
    one_by_one = Scorer(model, tokenizer, batch_size=1).log_likelihood(TEXTS)
    everything = Scorer(model, tokenizer, batch_size=64).log_likelihood(TEXTS)
    np.testing.assert_allclose(one_by_one, everything, atol=1e-5)
    np.testing.assert_allclose(scorer.log_likelihood(TEXTS), everything, atol=1e-5)


def test_empty_text_is_scored_as_end_of_sequence(tiny_lm, scorer):
    model, tokenizer = tiny_lm
    (values,) = scorer.token_logprobs([""])
    expected = naive_token_logprobs(model, tokenizer, "", tokenizer.bos_token_id)
    np.testing.assert_allclose(values, expected, atol=1e-5)
    assert values.shape == (1,)
    perplexity = scorer.perplexity(["", "the cat"])
    assert np.isfinite(perplexity).all() and perplexity[0] > 1.0


def test_add_eos_scores_the_end_of_each_text(tiny_lm):
    model, tokenizer = tiny_lm
    scorer = Scorer(model, tokenizer, add_eos=True)
    for text, values in zip(TEXTS, scorer.token_logprobs(TEXTS)):
        expected = naive_token_logprobs(model, tokenizer, text, tokenizer.bos_token_id, True)
        np.testing.assert_allclose(values, expected, atol=1e-5)


def test_tokenizer_without_bos_starts_with_eos(tiny_lm, tiny_lm_dir):
    model, _ = tiny_lm
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir, bos_token=None)
    assert tokenizer.bos_token_id is None
    scorer = Scorer(model, tokenizer)
    for text, values in zip(TEXTS, scorer.token_logprobs(TEXTS)):
        expected = naive_token_logprobs(model, tokenizer, text, tokenizer.eos_token_id)
        np.testing.assert_allclose(values, expected, atol=1e-5)


@pytest.mark.parametrize("architecture", ["gpt2", "opt"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("share_prefix", [True, False])
def test_pair_difference_equals_difference_of_log_likelihoods(
    tiny_lm, architecture, attention, share_prefix
):
    model, tokenizer = tiny_lm
    model = tiny_opt(len(tokenizer)) if architecture == "opt" else copy.deepcopy(model)
    model.set_attn_implementation(attention)
    scorer = Scorer(model, tokenizer, batch_size=3)
    assert scorer._shares_prefix  # both attention implementations take the packed rows
    good, bad = map(list, zip(*PAIRS))
    expected = scorer.log_likelihood(good) - scorer.log_likelihood(bad)
    got = scorer.log_likelihood_difference(good, bad, share_prefix=share_prefix)
    assert got.dtype == np.float64 and got.shape == (len(PAIRS),)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert got[5] == 0.0  # identical texts


def test_models_without_cache_or_logits_to_keep_give_the_same_scores(tiny_lm, scorer):
    model, tokenizer = tiny_lm
    plain = Scorer(PlainForward(model), tokenizer, batch_size=2)
    np.testing.assert_allclose(plain.log_likelihood(TEXTS), scorer.log_likelihood(TEXTS), atol=1e-5)
    good, bad = map(list, zip(*PAIRS))
    np.testing.assert_allclose(
        plain.log_likelihood_difference(good, bad),
        scorer.log_likelihood_difference(good, bad),
        atol=1e-4,
    )


def test_scoring_uses_eval_mode_and_restores_training_mode(tiny_lm):
    model, tokenizer = tiny_lm
    training = copy.deepcopy(model).train()
    values = Scorer(training, tokenizer, device="cpu").log_likelihood(TEXTS)
    assert training.training
    np.testing.assert_allclose(values, Scorer(model, tokenizer).log_likelihood(TEXTS), atol=1e-6)


def test_matches_minicons_per_token_and_per_sentence(tiny_lm_dir, scorer):
    minicons_scorer = pytest.importorskip(
        "minicons.scorer", reason="minicons is not installed (pip install minicons)"
    )
    reference = minicons_scorer.IncrementalLMScorer(str(tiny_lm_dir), "cpu")
    texts = [t for t in TEXTS if t]
    # minicons prepends the BOS text when asked (bos_token=True) and scores every token after it
    theirs = reference.sequence_score(texts, reduction=lambda x: x, bos_token=True)
    for ours, their in zip(scorer.token_logprobs(texts), theirs):
        np.testing.assert_allclose(ours, their.numpy(), atol=1e-4)
    sums = reference.sequence_score(texts, reduction=lambda x: x.sum(0).item(), bos_token=True)
    np.testing.assert_allclose(scorer.log_likelihood(texts), sums, atol=1e-4)


def test_minimal_pair_accuracy_from_records_and_from_jsonl(scorer, tmp_path):
    records = [
        {"sentence_good": g, "sentence_bad": b, "UID": f"phen_{i % 2}"}
        for i, (g, b) in enumerate(PAIRS)
    ]
    records[0] = {
        "sentence_good": PAIRS[0][0],
        "sentence_bad": PAIRS[0][1],
        "linguistics_term": "agreement",
    }
    good, bad = map(list, zip(*PAIRS))
    correct = scorer.log_likelihood(good) > scorer.log_likelihood(bad)  # a tie (pair 5) is wrong
    result = minimal_pair_accuracy(scorer, records)
    assert result["n"] == len(PAIRS)
    assert result["accuracy"] == pytest.approx(correct.mean())
    assert result["by_phenomenon"] == pytest.approx(
        {
            "agreement": float(correct[0]),
            "phen_0": correct[[2, 4, 6]].mean(),
            "phen_1": correct[[1, 3, 5]].mean(),
        }
    )
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    assert read_minimal_pairs(path) == records
    assert minimal_pair_accuracy(scorer, path) == result
    assert minimal_pair_accuracy(scorer, str(path)) == result


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"sentence_good": "a", "sentence_bad": "b"}\n{"sentence_good": "a"}\n', "line 2: field"),
        (b'{"sentence_good": "a", "sentence_bad": "b"}\n\nnot json\n', "line 3: invalid JSON"),
        (b'["sentence_good", "sentence_bad"]\n', "line 1: expected a JSON object"),
        (b'{"sentence_good": "\xff", "sentence_bad": "b"}\n', "line 1: not UTF-8"),
    ],
)
def test_malformed_jsonl_names_the_line(scorer, tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        minimal_pair_accuracy(scorer, path)


def test_minimal_pair_input_errors(scorer, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        minimal_pair_accuracy(scorer, tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="at least one pair"):
        minimal_pair_accuracy(scorer, [])
    with pytest.raises(ValueError, match="pair 1: field 'sentence_bad'"):
        minimal_pair_accuracy(
            scorer,
            [
                {"sentence_good": "a", "sentence_bad": "b"},
                {"sentence_good": "a", "sentence_bad": 3},
            ],
        )
    with pytest.raises(ValueError, match="2 good texts but 1 bad"):
        scorer.log_likelihood_difference(["a", "b"], ["c"])


def test_bad_arguments_are_rejected_before_scoring(tiny_lm, scorer):
    model, tokenizer = tiny_lm
    with pytest.raises(TypeError, match="single string"):
        scorer.log_likelihood("the cat")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        scorer.perplexity(["the cat", None])
    with pytest.raises(ValueError, match="batch_size"):
        Scorer(model, tokenizer, batch_size=0)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        Scorer("gpt2", tokenizer)
    with pytest.raises(ValueError, match=r"texts\[0\] has \d+ tokens; the model reads at most 64"):
        scorer.log_likelihood(["the cat sees the ball " * 20])
    with pytest.raises(ValueError, match="at least one text"):
        scorer.corpus_perplexity([])
    assert scorer.log_likelihood([]).shape == (0,)
    assert scorer.token_logprobs([]) == []


def test_tokenizer_model_mismatch_is_reported(tiny_lm):
    _, tokenizer = tiny_lm
    small = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=5))
    with pytest.raises(ValueError, match="outside the model's vocabulary of 5"):
        Scorer(small, tokenizer).log_likelihood(["the cat"])


class SuppressToken(torch.nn.Module):
    """A causal LM that gives one token probability zero (logit -inf), as some models do."""

    def __init__(self, inner: torch.nn.Module, token: int) -> None:
        super().__init__()
        self.inner, self.config, self.token = inner, inner.config, token

    def forward(self, input_ids, attention_mask, position_ids=None):
        output = self.inner(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        )
        output.logits[..., self.token] = float("-inf")
        return output


def test_zero_probability_of_an_unscored_token_is_harmless(tiny_lm):
    model, tokenizer = tiny_lm
    no_bos = Scorer(SuppressToken(model, tokenizer.bos_token_id), tokenizer)
    assert no_bos._shares_prefix
    good, bad = map(list, zip(*PAIRS))
    packed = no_bos.log_likelihood_difference(good, bad)
    assert np.isfinite(packed).all()
    separate = no_bos.log_likelihood_difference(good, bad, share_prefix=False)
    np.testing.assert_allclose(packed, separate, atol=1e-4)


def test_non_finite_log_probability_raises_naming_the_text(tiny_lm):
    model, tokenizer = tiny_lm
    fine, broken = "a bird", "the cat sees the ball ."
    token = next(t for t in tokenizer(broken)["input_ids"] if t not in tokenizer(fine)["input_ids"])
    scorer = Scorer(SuppressToken(model, token), tokenizer)
    assert np.isfinite(scorer.log_likelihood([fine])).all()
    with pytest.raises(FloatingPointError, match="text 1 a non-finite log-probability"):
        scorer.log_likelihood([fine, broken])
    with pytest.raises(FloatingPointError, match="pair 1 a non-finite log-probability"):
        minimal_pair_accuracy(
            scorer,
            [
                {"sentence_good": fine, "sentence_bad": "a dog"},
                {"sentence_good": broken, "sentence_bad": fine},
            ],
        )


PAIR = b'{"sentence_good": "The dog runs.", "sentence_bad": "The dog run.", "UID": "x"}'


@pytest.mark.parametrize(
    "content",
    [
        b"\xef\xbb\xbf" + PAIR + b"\n" + PAIR + b"\n",  # a byte-order mark (Windows editors)
        PAIR + b"\r\n" + PAIR + b"\r\n",
        PAIR + b"\r" + PAIR + b"\r",  # lone CRs: two lines, not one
    ],
)
def test_minimal_pair_files_accept_a_bom_and_every_line_ending(tmp_path, content):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(content)
    assert read_minimal_pairs(path) == [json.loads(PAIR)] * 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no minimal pairs"),
        (b"\n\r\n  \n", "no minimal pairs"),
        (
            PAIR + b'\n{"sentence_good": "\\ud800", "sentence_bad": "b"}\n',
            "line 2: not valid Unicode",
        ),
        (b'{"sentence_good": ' + b"[" * 200 + b"]" * 200 + b"}\n", "line 1: JSON nested deeper"),
    ],
)
def test_empty_and_broken_minimal_pair_files_are_refused_when_read(tmp_path, content, message):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as caught:
        read_minimal_pairs(path)
    assert str(path) in str(caught.value)


def test_in_memory_pairs_with_a_lone_surrogate_are_refused(scorer):
    pairs = [{"sentence_good": "the cat .", "sentence_bad": "the \udc80 cat ."}]
    with pytest.raises(ValueError, match="pair 0: field 'sentence_bad' is not valid Unicode"):
        minimal_pair_accuracy(scorer, pairs)
