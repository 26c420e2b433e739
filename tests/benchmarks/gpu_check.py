"""The GPU benchmark of ``make gpu-check``: PPO throughput, peak memory and MFU on one GPU.

``python tests/benchmarks/gpu_check.py --out gpu-check.json`` measures, for two babies:

* ``baby-en``: the default baby's architecture and tokenizer (the recipe's OPT, 2 layers x 128,
  its SentencePiece tokenizer of 1,312 pieces trained on the recipe's corpus), freshly
  initialised;
* ``opt-125m``: an OPT-125m-sized baby built from its configuration (12 layers x 768, 12 heads,
  feed-forward 3,072, vocabulary 50,272, 2,048 positions, tied embeddings: 125M parameters),
  random weights, nothing downloaded;

PPO's default iteration (4 epochs of 4 minibatches, bf16 autocast, observations kept on the GPU
with ``tensor_device``) on a text-generation vector env of English parentese prompts (3 words,
the baby's tokenizer for both babies) with a cheap reward (distinct tokens), so the numbers are
the agent's and not a reward model's.
Every episode is exactly ``--new-tokens`` long (``min_new_tokens``), so tokens per iteration
are fixed. Throughput does not depend on the weights, hence no training and no download; with
an untrained 125M model the logits still cover all 50,272 entries, as the real model's do.

Timing syncs the GPU around the rollout (collection) and the update (scoring, GAE, epochs);
after one warm-up iteration, ``--iterations`` iterations are timed and their total is used.
Model FLOPs count the matrix products the passes compute (padding included; the attention
kernels score every query against every key of a block, so a block of ``n`` tokens counts
``n^2`` attended pairs): per token and layer ``2 (4 d^2 + 2 d f)``, per attended pair and
layer ``4 d``, per computed logit ``2 d V``; the rollout's prefill and one token per step
through the KV cache, the update's reference pass and ``num_epochs`` forward and backward
passes (3x a forward). ``tests/benchmarks/test_gpu_check.py`` checks the count against
``torch.utils.flop_counter``. MFU divides the
achieved FLOP rate by the GPU's dense bf16 peak (:data:`PEAK_TFLOPS`, from NVIDIA's data sheets,
or ``--peak-tflops``); it is ``null`` for an unknown GPU. The JSON format is in the README.

Without CUDA it prints that it skipped and exits 0, writing nothing (``--device cpu`` runs it
on the CPU anyway, to test this script). Designed to take well under 5 minutes on one H100.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import OPTForCausalLM

from lm_gym.agents.ppo import PPO
from lm_gym.envs import TextGenerationVectorEnv
from lm_gym.models.building import new_recipe_model, opt_config, special_token_ids
from lm_gym.models.loading import LM
from lm_gym.models.recipes import CORPORA, RECIPES
from lm_gym.models.tokenization import train_sentencepiece_tokenizer
from lm_gym.version import __version__

PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.4, "A100": 312.0, "L40S": 362.0, "L4": 121.0}
"""Dense bf16 peak TFLOP/s by GPU name (first match wins; data-sheet values)."""
OPT_125M = {"hidden_size": 768, "num_layers": 12, "num_heads": 12, "max_positions": 2048}
OPT_125M_VOCAB = 50272
MODELS = ("baby-en", "opt-125m")


@functools.cache
def baby_corpus_and_tokenizer() -> tuple[list[str], Any]:
    """The ``baby-en`` recipe's corpus and tokenizer, as the recipe builds them (seconds)."""
    recipe = RECIPES["baby-en"]
    texts = CORPORA[recipe.corpus](recipe.corpus_size, recipe.seed)
    return texts, train_sentencepiece_tokenizer(texts, recipe.vocab_size, seed=recipe.seed)


def distinct_tokens(prompts, completions, completion_ids=None, **kwargs) -> list[float]:
    """Reward: how many different tokens a completion holds (cheap, TRL-shaped)."""
    return [float(len(set(ids))) for ids in completion_ids]


def build_model(name: str, tokenizer: Any) -> torch.nn.Module:
    """``baby-en`` (the recipe's architecture) or ``opt-125m``, freshly initialised."""
    if name == "baby-en":
        return new_recipe_model(RECIPES["baby-en"], tokenizer)
    ids = {**special_token_ids(tokenizer), "vocab_size": OPT_125M_VOCAB}
    return OPTForCausalLM(opt_config(**OPT_125M, **ids))


def forward_flops(config: Any, rows: int, tokens: int, pairs: int, logits: int) -> float:
    """Matrix-product FLOPs of a forward pass: ``rows`` sequences of ``tokens`` tokens, with
    ``pairs`` attended (query, key) pairs and ``logits`` computed logit rows per sequence."""
    d, f, layers = config.hidden_size, config.ffn_dim, config.num_hidden_layers
    per_token = 2 * (4 * d * d + 2 * d * f) * layers
    return rows * (per_token * tokens + 4 * d * layers * pairs + 2 * d * config.vocab_size * logits)


def iteration_flops(config: Any, rows: int, prompt: int, new: int, epochs: int) -> dict[str, float]:
    """Model FLOPs of one PPO iteration, rollout and update (``prompt`` includes the BOS)."""
    prefill = forward_flops(config, rows, prompt, prompt * prompt, 1)
    steps = sum(forward_flops(config, rows, 1, prompt + t + 1, 1) for t in range(new - 1))
    length = prompt + new - 1
    forward = forward_flops(config, rows, length, length * length, new)
    return {"rollout": prefill + steps, "update": forward * (1 + 3 * epochs)}


def timed(function: Callable, seconds: dict[str, float], key: str, device: torch.device):
    """``function``, adding its (GPU-synchronised) seconds to ``seconds[key]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = function(*args, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[key] += time.perf_counter() - start
        return result

    return wrapper


def measure(name: str, args: argparse.Namespace, device: torch.device, peak: float | None):
    """Throughput, FLOPs, MFU and peak memory of PPO with model ``name``."""
    texts, tokenizer = baby_corpus_and_tokenizer()
    torch.manual_seed(0)
    model = build_model(name, tokenizer).to(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    env = TextGenerationVectorEnv(
        tokenizer,
        texts,
        distinct_tokens,
        num_envs=args.num_envs,
        prompt_words=3,
        max_new_tokens=args.new_tokens,
        generating_model=LM(model, tokenizer),
        tensor_device=device,
    )
    agent = PPO(env, seed=0, device=str(device), verbose=0, min_new_tokens=args.new_tokens)
    seconds = {"rollout": 0.0, "update": 0.0}
    prompts: list[int] = []
    collect = timed(agent._collect, seconds, "rollout", device)

    def collect_and_note(env_: Any) -> Any:
        rollout = collect(env_)
        prompts.append(rollout.prompt_mask.shape[1] + 1)  # the block and the BOS
        return rollout

    agent._collect = collect_and_note
    agent._update = timed(agent._update, seconds, "update", device)
    tokens = args.num_envs * args.new_tokens
    agent.learn(env, tokens, progress_bar=False)  # warm-up
    seconds.update(rollout=0.0, update=0.0)
    prompts.clear()
    for _ in range(args.iterations):
        agent.learn(env, tokens, progress_bar=False)
    flops = {"rollout": 0.0, "update": 0.0}
    for prompt in prompts:
        one = iteration_flops(model.config, args.num_envs, prompt, args.new_tokens, 4)
        flops = {key: flops[key] + one[key] for key in flops}
    generated = tokens * args.iterations
    phases = {}
    for phase in ("rollout", "update"):
        rate = flops[phase] / seconds[phase]
        phases[phase] = {
            "seconds": seconds[phase],
            "tokens_per_second": generated / seconds[phase],
            "tflops": rate / 1e12,
            "mfu": rate / (peak * 1e12) if peak else None,
        }
    peak_bytes = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": model.config.num_hidden_layers,
        "hidden_size": model.config.hidden_size,
        "vocab_size": model.config.vocab_size,
        **phases,
        "iteration_tokens_per_second": generated / (seconds["rollout"] + seconds["update"]),
        "peak_memory_bytes": peak_bytes,
        "peak_memory_gib": peak_bytes / 2**30 if peak_bytes is not None else None,
    }


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    """The dense bf16 peak of ``device``: ``given``, else from :data:`PEAK_TFLOPS`."""
    if given is not None or device.type != "cuda":
        return given
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_TFLOPS.items() if key in name), None)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """The report, or ``None`` when CUDA is missing (and not ``--device cpu``)."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        return None
    peak = peak_tflops(device, args.peak_tflops)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    started = time.perf_counter()
    models = {model: measure(model, args, device, peak) for model in args.models}
    return {
        "lm_gym_version": __version__,
        "torch_version": torch.__version__,
        "device": name or device.type,
        "peak_tflops_bf16": peak,
        "settings": {
            "num_envs": args.num_envs,
            "new_tokens": args.new_tokens,
            "prompt_words": 3,
            "iterations": args.iterations,
            "num_epochs": 4,
            "num_minibatches": 4,
        },
        "models": models,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu-check.json", help="JSON file to write")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (tests)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--num-envs", type=int, default=128, help="episodes per iteration")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens per episode")
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations")
    parser.add_argument("--peak-tflops", type=float, help="dense bf16 peak of the GPU")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        print(f"gpu-check: {out} exists; give a new --out (results are never overwritten)")
        return 2
    report = run(args)
    if report is None:
        print("gpu-check: skipped, CUDA is not available")
        return 0
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
