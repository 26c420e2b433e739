"""lm_gym's reward callables work unchanged as ``reward_funcs`` of TRL's GRPOTrainer."""

from __future__ import annotations

import math

import pytest

from lm_gym.rewards import ParentReward

trl = pytest.importorskip("trl", reason="TRL (the 'bench' extra) is not installed")
datasets = pytest.importorskip("datasets", reason="datasets (the 'bench' extra) is not installed")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # TRL internals, not our code
def test_parent_reward_as_grpo_reward_funcs(toys, tmp_path):
    parent, tokenizer = toys.tiny_lm()
    policy_dir = tmp_path / "policy"
    toys.tiny_lm(seed=1).model.save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    reward = ParentReward((parent, tokenizer), unigram_corpus=toys.toy_texts(), device="cpu")
    prompts = ["il cane va", "la mela rosso", "un gatto corre", "una casa blu"]
    args = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        max_steps=1,
        beta=0.0,
        use_cpu=True,
        bf16=False,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = trl.GRPOTrainer(
        model=str(policy_dir),
        reward_funcs=reward,
        args=args,
        train_dataset=datasets.Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
    )
    trainer.train()
    logged = [row for row in trainer.state.log_history if "rewards/parent_reward/mean" in row]
    assert logged, f"no reward logged by GRPOTrainer: {trainer.state.log_history}"
    mean = logged[-1]["rewards/parent_reward/mean"]
    low, high = reward.reward_range
    assert math.isfinite(mean) and low <= mean <= high
