"""SentencePiece tokenizers trained for the recipes, as Hugging Face fast tokenizers."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from lm_gym.corpora.parentese import generate_parentese
from lm_gym.models.tokenization import train_sentencepiece_tokenizer


@pytest.fixture(scope="module")
def english_tokenizer():
    return train_sentencepiece_tokenizer(generate_parentese("en", 2000, seed=0), vocab_size=500)


def test_special_tokens_have_fixed_ids(english_tokenizer):
    tok = english_tokenizer
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)
    assert tok("the dog")["input_ids"][0] not in (0, 1, 2, 3), "no special token is added"


@pytest.mark.parametrize(
    "text",
    ["The dog runs.", "Quante volte è già andata?", "Wow,  spaces!", "日本 ÿ", "Dov'è la palla?"],
)
def test_every_text_round_trips_without_unknown_tokens(english_tokenizer, text):
    ids = english_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert english_tokenizer.unk_token_id not in ids
    assert english_tokenizer.decode(ids) == text


def test_decoding_a_prefix_gives_a_prefix(english_tokenizer):
    ids = english_tokenizer("The little dog is sleeping.")["input_ids"]
    full = english_tokenizer.decode(ids)
    for cut in range(1, len(ids)):
        assert full.startswith(english_tokenizer.decode(ids[:cut]))


def test_save_and_load_round_trip(english_tokenizer, tmp_path):
    english_tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "Where is the ball? It is under the bed."
    assert loaded(text)["input_ids"] == english_tokenizer(text)["input_ids"]
    assert loaded.pad_token_id == 0 and loaded.eos_token == "</s>"


def test_empty_corpus_is_rejected():
    with pytest.raises(ValueError, match="empty corpus"):
        train_sentencepiece_tokenizer(["", "  "], vocab_size=50)
