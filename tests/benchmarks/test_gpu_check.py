"""The GPU benchmark script (``tests/benchmarks/gpu_check.py``) on the CPU: its report's format,
its FLOP count against PyTorch's counter, and the clean skip without CUDA."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

SCRIPT = Path(__file__).with_name("gpu_check.py")
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def test_the_flop_count_matches_pytorchs_counter():
    _, tokenizer = gpu_check.baby_corpus_and_tokenizer()
    model = gpu_check.build_model("baby-en", tokenizer)
    model.set_attn_implementation("eager")  # the counter sees its matmuls (not CPU SDPA's)
    rows, length = 3, 9
    ids = torch.randint(4, len(tokenizer), (rows, length))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids)
    expected = gpu_check.forward_flops(model.config, rows, length, length * length, length)
    assert counter.get_total_flops() == expected


def test_the_report_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    arguments = ["--device", "cpu", "--models", "baby-en", "--num-envs", "4", "--out", str(out)]
    assert gpu_check.main([*arguments, "--new-tokens", "4", "--iterations", "1"]) == 0
    report = json.loads(out.read_text())
    assert report["settings"]["num_envs"] == 4 and report["peak_tflops_bf16"] is None
    baby = report["models"]["baby-en"]
    for phase in ("rollout", "update"):
        assert baby[phase]["tokens_per_second"] > 0 and baby[phase]["tflops"] > 0
        assert baby[phase]["mfu"] is None  # no known peak on a CPU
    assert (baby["layers"], baby["hidden_size"], baby["vocab_size"]) == (2, 128, 1312)
    assert baby["peak_memory_bytes"] is None
    assert gpu_check.main([*arguments]) == 2  # an existing report is never overwritten


def test_without_cuda_it_skips_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out and not out.exists()


@pytest.mark.parametrize("name, parameters", [("opt-125m", 125_239_296)])
def test_the_125m_baby_has_opt_125ms_size(name, parameters):
    _, tokenizer = gpu_check.baby_corpus_and_tokenizer()
    with torch.device("meta"):
        model = gpu_check.build_model(name, tokenizer)
    assert sum(p.numel() for p in model.parameters()) == parameters
