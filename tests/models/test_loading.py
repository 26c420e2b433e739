"""Model loading: every kind of spec, and clear errors for the ones that cannot load."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from lm_gym.models.loading import LM, ModelLoadError, forward_with_cache, load_model
from lm_gym.models.tokenization import train_sentencepiece_tokenizer


@pytest.fixture(scope="module")
def small_lm():
    tokenizer = train_sentencepiece_tokenizer(
        ["the dog runs .", "the cats sleep .", "a ball is red ."] * 20, vocab_size=40
    )
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=32, vocab_size=len(tokenizer))
    torch.manual_seed(0)
    return GPT2LMHeadModel(config), tokenizer


def test_in_memory_model_with_tokenizer(small_lm):
    model, tokenizer = small_lm
    lm = load_model(model, tokenizer=tokenizer, device="cpu")
    assert isinstance(lm, LM)
    assert lm.model is model and lm.tokenizer is tokenizer
    assert not lm.model.training
    assert load_model((model, tokenizer), device="cpu").model is model


def test_in_memory_model_without_tokenizer_is_an_error(small_lm):
    with pytest.raises(ModelLoadError, match="needs its tokenizer"):
        load_model(small_lm[0], device="cpu")


def test_local_folder_round_trip(small_lm, tmp_path):
    model, tokenizer = small_lm
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_model(tmp_path, device="cpu")
    ids = torch.tensor([tokenizer("the dog runs .")["input_ids"]])
    torch.testing.assert_close(loaded(ids).logits, model.eval()(ids).logits)
    assert loaded_tokenizer("the dog runs .")["input_ids"] == ids[0].tolist()


def test_broken_folder_says_what_is_missing(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(tmp_path, device="cpu")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="could not load the model folder"):
        load_model(tmp_path, device="cpu")


def test_unknown_name_offline_names_what_was_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as error:
        load_model("nobody/no-such-model", device="cpu")
    message = str(error.value)
    assert "offline recipe" in message and "baby-en" in message
    assert "local folder" in message and "HF_HUB_OFFLINE" in message


def test_missing_path_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(ModelLoadError, match="local folder"):
        load_model(str(tmp_path / "a" / "b" / "missing"), device="cpu")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="is a file"):
        load_model(tmp_path / "file.bin", device="cpu")


def test_unsupported_spec_type():
    with pytest.raises(ModelLoadError, match="unsupported"):
        load_model(3.5, device="cpu")


def test_cuda_request_without_cuda_fails_early(small_lm):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_model(small_lm, device="cuda")


def test_micro_recipe_loads_by_name():
    model, tokenizer = load_model("baby-en-micro", device="cpu")
    assert model.config.model_type == "opt"
    assert tokenizer.eos_token == "</s>" and tokenizer.pad_token_id == 0
    assert load_model("parent-it-micro", device="cpu").model.config.model_type == "gpt2"


def test_forward_with_cache_matches_a_full_pass_without_deprecation_warnings(small_lm):
    model, _ = small_lm
    ids = torch.tensor([[1, 5, 7, 9, 4], [2, 6, 8, 3, 5]])
    with torch.no_grad():
        full = model(input_ids=ids).logits
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a deprecated cache argument would raise here
            out, cache = forward_with_cache(model, ids[:, :3], None)
            steps = [out.logits]
            for t in range(3, ids.shape[1]):
                out, cache = forward_with_cache(model, ids[:, t : t + 1], cache)
                steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-5)


def test_forward_with_cache_uses_past_key_values_where_forward_has_no_cache_argument():
    class Output(dict):
        __getattr__ = dict.__getitem__

    class OlderStyleLM(torch.nn.Module):
        """Counts the tokens it has seen in its "cache", named as older releases name it."""

        def forward(self, input_ids, past_key_values=None, use_cache=False):
            seen = 0 if past_key_values is None else past_key_values
            return Output(logits=input_ids, past_key_values=seen + input_ids.shape[1])

    model = OlderStyleLM()
    _, cache = forward_with_cache(model, torch.zeros(1, 3, dtype=torch.long), None)
    _, cache = forward_with_cache(model, torch.zeros(1, 1, dtype=torch.long), cache)
    assert cache == 4
