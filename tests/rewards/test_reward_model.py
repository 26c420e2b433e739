"""Reward models: Bradley-Terry training, save/load, the reward callable, the CLI."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import pytest
import torch
from transformers import AutoConfig, GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

import lm_gym.rewards
from lm_gym.cli import main
from lm_gym.corpora.loaders import CorpusError
from lm_gym.corpora.stories import generate_stories
from lm_gym.models.clm import encode_sentences
from lm_gym.models.loading import LM, ModelLoadError, load_model
from lm_gym.models.recipes import RECIPES, cache_key, recipe_corpus
from lm_gym.rewards.preference_files import save_preferences
from lm_gym.rewards.preferences import (
    CORRUPTIONS,
    CUT_SHORT,
    GARBLED,
    PreferencePair,
    builtin_preferences,
    make_bws_tuples,
    make_preference_pairs,
)
from lm_gym.rewards.reward_model import RewardModelReward, load_reward_model
from lm_gym.rewards.reward_scores import forward_scores, join_text, pairwise_accuracy
from lm_gym.rewards.training import (
    RewardModelConfig,
    bradley_terry_loss,
    build_reward_recipe,
    fit_reward_model,
    heldout_augmentation_pairs,
    heldout_story_preferences,
    train_reward_model,
    train_reward_model_cli,
)
from lm_gym.utils.cache import read_metadata

TINY = RewardModelConfig(n_layer=1, n_embd=32, n_head=2, vocab_size=400, steps=30, batch_size=8)


@pytest.fixture(scope="module")
def pairs() -> list[PreferencePair]:
    return builtin_preferences(40, seed=5)


@pytest.fixture(scope="module")
def causal_lm_dir(trained, tmp_path_factory):
    """A (untrained) causal GPT-2 saved with the reward model's tokenizer."""
    (_, tokenizer), _ = trained
    folder = tmp_path_factory.mktemp("causal")
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=256, vocab_size=len(tokenizer))
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def trained(pairs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reward")
    lm = train_reward_model(pairs, folder, config=TINY, progress=False)
    return lm, folder


def test_bradley_terry_loss():
    equal = bradley_terry_loss(torch.zeros(3), torch.zeros(3))
    assert equal.item() == pytest.approx(math.log(2))
    right = bradley_terry_loss(torch.tensor([2.0]), torch.tensor([-2.0]))
    wrong = bradley_terry_loss(torch.tensor([-2.0]), torch.tensor([2.0]))
    assert right.item() == pytest.approx(-math.log(1 / (1 + math.exp(-4))))
    assert right < equal < wrong


def test_join_text_puts_one_space_between():
    assert join_text("Once. ", " Then.") == "Once. Then."
    assert join_text("", "Then.") == "Then."


def test_trained_model_has_a_scalar_head_and_round_trips(trained):
    (model, tokenizer), folder = trained
    assert model.config.num_labels == 1
    assert model.config.pad_token_id == tokenizer.pad_token_id
    in_memory = RewardModelReward(LM(model, tokenizer), device="cpu")
    loaded = RewardModelReward(str(folder), device="cpu")
    prompts, completions = ["Tom was a cat.", "Mia was a fox."], ["He ran.", "She sat. She sat."]
    assert loaded(prompts, completions) == pytest.approx(in_memory(prompts, completions))


def test_training_is_deterministic_and_learns(pairs, trained):
    (model, tokenizer), _ = trained
    again, _ = train_reward_model(pairs, config=TINY, progress=False)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    trained_loss = _mean_loss(model, tokenizer, pairs)
    fresh, _ = train_reward_model(pairs, config=replace(TINY, steps=1), progress=False)
    assert trained_loss < _mean_loss(fresh, tokenizer, pairs)


def test_frozen_blocks_keep_the_embeddings_and_lower_blocks_and_train_the_rest(pairs, trained):
    (_, tokenizer), _ = trained
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=256, num_labels=1)
    config.vocab_size = len(tokenizer)
    two_blocks = GPT2ForSequenceClassification(config)
    two_blocks.config.pad_token_id = tokenizer.pad_token_id
    base = copy.deepcopy(two_blocks.state_dict())
    fit_reward_model(two_blocks, tokenizer, pairs, replace(TINY, frozen_blocks=1), progress=False)
    after = two_blocks.state_dict()
    kept = {name for name in base if torch.equal(base[name], after[name])}
    lower = ("transformer.wte", "transformer.wpe", "transformer.h.0.")
    assert {name for name in base if name.startswith(lower)} <= kept
    assert not kept & {name for name in base if name.startswith(("transformer.h.1.", "score"))}
    assert all(p.requires_grad for p in two_blocks.parameters())  # the flags are restored
    with pytest.raises(ValueError, match="frozen_blocks=3 but the model has 2 blocks"):
        fit_reward_model(two_blocks, tokenizer, pairs, replace(TINY, frozen_blocks=3))
    with pytest.raises(ValueError, match="frozen_blocks must be an integer >= 0"):
        replace(TINY, frozen_blocks=-1)
    with pytest.raises(TypeError, match="frozen_blocks must be an integer >= 0"):
        replace(TINY, frozen_blocks=True)


def _mean_loss(model, tokenizer, pairs) -> float:
    reward = RewardModelReward(LM(model, tokenizer), device="cpu")
    prompts = [p.prompt for p in pairs]
    chosen = torch.tensor(reward(prompts, [p.chosen for p in pairs]))
    rejected = torch.tensor(reward(prompts, [p.rejected for p in pairs]))
    return bradley_terry_loss(chosen, rejected).item()


def test_rewards_are_finite_for_any_text(trained):
    (model, tokenizer), _ = trained
    reward = RewardModelReward(LM(model, tokenizer), device="cpu", batch_size=2)
    texts = ["", " ", "ünïcödé ✨ 🐻", "word " * 1000, "Tom ran."]
    values = reward(["Once upon a time."] * len(texts), texts, completion_ids=[[1]] * 5)
    assert len(values) == len(texts)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert reward([], []) == []
    assert reward(["Once upon a time."] * 5, texts) == values  # same inputs, same rewards


def test_reward_callable_rejects_bad_calls(trained):
    (model, tokenizer), _ = trained
    reward = RewardModelReward(LM(model, tokenizer), device="cpu")
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        reward(["a", "b"], ["c"])
    with pytest.raises(TypeError, match="completions must be strings"):
        reward(["a"], [3])
    with pytest.raises(ValueError, match="batch_size"):
        RewardModelReward(LM(model, tokenizer), batch_size=0)


def test_a_folder_is_loaded_once_per_process(trained):
    _, folder = trained
    first = RewardModelReward(folder, device="cpu")
    second = RewardModelReward(str(folder), device="cpu")
    assert first.model is second.model


def test_load_errors_say_what_is_wrong(tmp_path, causal_lm_dir):
    with pytest.raises(ModelLoadError):
        load_reward_model(tmp_path / "missing-folder", device="cpu")
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_reward_model(tmp_path, device="cpu")
    with pytest.raises(ModelLoadError, match="not a reward model") as error:
        load_reward_model(causal_lm_dir, device="cpu")  # a causal LM, not a scalar-head model
    # the function the message suggests exists where it says
    assert "lm_gym.rewards.train_reward_model(" in str(error.value)
    assert callable(lm_gym.rewards.train_reward_model)


def test_train_from_a_pretrained_causal_lm_folder(pairs, causal_lm_dir):
    model, tokenizer = train_reward_model(
        pairs[:16],
        base=causal_lm_dir,
        config=RewardModelConfig(steps=2, batch_size=4),
        progress=False,
    )
    assert model.config.num_labels == 1
    assert type(model).__name__ == "GPT2ForSequenceClassification"
    assert (
        len(RewardModelReward(LM(model, tokenizer), device="cpu")(["Tom was a cat."], ["He ran."]))
        == 1
    )


def test_pairwise_accuracy_per_corruption():
    pairs = [
        PreferencePair("p", "long good text", "bad", "a"),
        PreferencePair("p", "good", "much longer bad", "a"),
        PreferencePair("p", "long good text", "bad", "b"),
        PreferencePair("p", "x", "yy"),
    ]

    def by_length(prompts, completions, **kwargs):
        return [float(len(c)) for c in completions]

    result = pairwise_accuracy(by_length, pairs)
    assert result["accuracy"] == 0.5 and result["n"] == 4
    assert result["by_corruption"] == {
        "a": {"accuracy": 0.5, "n": 2},
        "b": {"accuracy": 1.0, "n": 1},
        "unlabelled": {"accuracy": 0.0, "n": 1},
    }


def test_training_rejects_bad_input(pairs):
    with pytest.raises(ValueError, match="empty list of pairs"):
        train_reward_model([], config=TINY)
    with pytest.raises(TypeError, match="PreferencePair"):
        train_reward_model([{"prompt": "p"}], config=TINY)
    with pytest.raises(TypeError, match="out_dir"):
        train_reward_model(pairs, 3, config=TINY)


def test_cli_function_trains_from_a_jsonl_file(pairs, tmp_path):
    data = save_preferences(pairs, tmp_path / "prefs.jsonl")
    report = train_reward_model_cli(data, tmp_path / "rm", steps=3, config=TINY)
    prompts = len({p.prompt for p in pairs})
    assert report["heldout_prompts"] == prompts // 10 >= 1
    assert report["train_prompts"] == prompts - prompts // 10
    assert report["train_pairs"] + report["heldout"]["n"] == len(pairs)
    assert (tmp_path / "rm" / "config.json").is_file()
    assert AutoConfig.from_pretrained(tmp_path / "rm").num_labels == 1


def test_cli_holds_out_whole_bws_tuples(tmp_path):
    """Each 4-item tuple gives 5 pairs; a pair-wise split of 12 tuples (60 pairs) would hold
    out 6 pairs, so some tuple would be split between training and held-out data."""
    tuples = make_bws_tuples(generate_stories(20, seed=2), seed=2)[:12]
    assert len(tuples) == 12 and all(len(t.items) == 4 for t in tuples)
    data = save_preferences(tuples, tmp_path / "bws.jsonl")
    report = train_reward_model_cli(data, tmp_path / "rm", steps=1, config=TINY)
    assert report["heldout"]["n"] == 5 and report["train_pairs"] == 55


def test_cli_function_validates_the_whole_file_before_training(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p"}\n')
    with pytest.raises(CorpusError, match="line 2"):
        train_reward_model_cli(data, tmp_path / "rm")
    assert not (tmp_path / "rm").exists()


def test_cli_subcommand_trains_on_pairs_and_bws_tuples(tmp_path, capsys):
    stories = generate_stories(30, seed=11)
    judgements = make_preference_pairs(stories[:20], seed=11) + make_bws_tuples(stories[20:])
    data = save_preferences(judgements, tmp_path / "mixed.jsonl")
    out = tmp_path / "rm"
    argv = ["train-reward-model", "--data", str(data), "--out", str(out)]
    assert main([*argv, "--base", "storyteller-micro", "--steps", "3", "--seed", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["out"] == str(out) and report["train_pairs"] > 0
    assert 0.0 <= report["heldout"]["accuracy"] <= 1.0
    reward = RewardModelReward(out, device="cpu")
    assert all(math.isfinite(v) for v in reward(["Tom was a fox."], ["He ran home."]))


def test_cli_subcommand_reports_a_malformed_line_and_writes_nothing(tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "p", "items": ["a", "b"], "best": 0, "worst": 5}\n')
    assert main(["train-reward-model", "--data", str(data), "--out", str(tmp_path / "rm")]) == 2
    error = capsys.readouterr().err
    assert "bad.jsonl, line 1" in error and "'worst' = 5 is out of range" in error
    assert not (tmp_path / "rm").exists()


def test_reward_recipe_starts_from_its_storyteller_and_records_heldout_accuracy():
    folder = build_reward_recipe("reward-stories-micro", progress=False)
    metadata = read_metadata(folder)
    assert metadata["recipe"]["base"] == "storyteller-micro"
    assert set(metadata["heldout_accuracy"]["by_corruption"]) == set(CORRUPTIONS)
    recipe = RECIPES["reward-stories-micro"]
    counts = metadata["train_pairs_by_corruption"]
    assert counts[CUT_SHORT] == round(recipe.cut_short * recipe.corpus_size) > 0
    assert 0 < counts[GARBLED] <= round(recipe.garbled * recipe.corpus_size)
    assert set(counts) == {CUT_SHORT, GARBLED, *CORRUPTIONS}
    others = [counts[c] for c in CORRUPTIONS if c != "other_ending"]
    assert counts["other_ending"] > round(recipe.other_ending * recipe.corpus_size) + min(others)
    assert metadata["train_pairs"] == sum(counts.values())
    augmentations = metadata["heldout_augmentation_accuracy"]["by_corruption"]
    assert set(augmentations) == {CUT_SHORT, GARBLED}
    reward = load_reward_model("reward-stories-micro", device="cpu")
    teller = load_model("storyteller-micro", device="cpu")
    assert reward.tokenizer.get_vocab() == teller.tokenizer.get_vocab()
    corpus = recipe_corpus(recipe)
    assert cache_key(recipe, corpus, ["a"]) != cache_key(recipe, corpus, ["b"])


def test_mean_pooled_scores_do_not_depend_on_the_batch(trained):
    (model, tokenizer), folder = trained
    assert AutoConfig.from_pretrained(folder).lm_gym_score_pooling == "mean"
    reward = RewardModelReward(LM(model, tokenizer), device="cpu")
    alone = reward(["Tom was a fox."], ["He ran home."])
    padded = reward(["Tom was a fox.", "Mia was an owl."], ["He ran home.", "She flew. " * 30])
    assert padded[0] == pytest.approx(alone[0], abs=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_grouped_scores_match_one_pass_in_value_gradient_and_order(pairs, pooling):
    model, tokenizer = train_reward_model(
        pairs[:16], config=replace(TINY, steps=2, pooling=pooling), progress=False
    )
    model.train()
    texts = [join_text(p.prompt, t) for p in pairs[:6] for t in (p.chosen, p.rejected)]
    texts[3] += " She flew. " * 20  # lengths vary: groups are padded differently
    results = []
    for group_size in (None, 3, 5):
        model.zero_grad()
        scores = forward_scores(model, tokenizer, texts, 256, group_size=group_size)
        (scores * torch.arange(len(texts))).sum().backward()  # the order matters
        results.append((scores.detach(), [p.grad.clone() for p in model.parameters()]))
    one_pass, one_pass_grads = results[0]
    for scores, grads in results[1:]:
        assert torch.allclose(scores, one_pass, atol=1e-5)
        for grad, expected in zip(grads, one_pass_grads):
            assert torch.allclose(grad, expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="group_size"):
        RewardModelConfig(group_size=0)


def test_last_token_pooling_reads_the_model_as_hugging_face_does(pairs):
    model, tokenizer = train_reward_model(
        pairs[:16], config=replace(TINY, steps=2, pooling="last"), progress=False
    )
    assert model.config.lm_gym_score_pooling == "last"
    text = join_text("Tom was a fox.", "He ran home.")
    input_ids, _ = encode_sentences(tokenizer, [text], 256)  # <s> text </s>
    with torch.no_grad():
        logit = model(input_ids=input_ids).logits[0, 0].item()
    reward = RewardModelReward(LM(model, tokenizer), device="cpu")
    assert reward(["Tom was a fox."], ["He ran home."])[0] == pytest.approx(logit, abs=1e-5)


def test_unknown_pooling_is_rejected(trained, tmp_path):
    with pytest.raises(ValueError, match="pooling must be one of"):
        RewardModelConfig(pooling="max")
    (model, tokenizer), _ = trained
    model.config.lm_gym_score_pooling = "max"
    try:
        model.save_pretrained(tmp_path)
    finally:
        model.config.lm_gym_score_pooling = "mean"
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="lm_gym_score_pooling must be one of"):
        load_reward_model(tmp_path, device="cpu")


@pytest.mark.slow
def test_default_reward_model_heldout_accuracy_per_corruption():
    """The issue's target, 0.9 or more on every corruption type (measured 0.917 to 0.999,
    README); 0.95 or more on both augmentations (measured 0.990 cut-short, 0.965 garbled).
    Builds storyteller-small and reward-stories on first use (about 13 minutes on one thread)."""
    recipe = RECIPES["reward-stories"]
    reward = RewardModelReward("reward-stories", device="cpu")
    result = pairwise_accuracy(reward, heldout_story_preferences(recipe, n_stories=1_000))
    assert set(result["by_corruption"]) == set(CORRUPTIONS)
    for corruption, measured in result["by_corruption"].items():
        assert measured["accuracy"] >= 0.9, corruption
    augmentations = pairwise_accuracy(reward, heldout_augmentation_pairs(recipe, n_stories=1_000))
    for label, measured in augmentations["by_corruption"].items():
        assert measured["accuracy"] >= 0.95, label
