"""The training pieces shared by CLM and reward-model training: schedule and optimiser step."""

from __future__ import annotations

import math

import pytest
import torch

from lm_gym.models.clm import optimizer_step, warmup_cosine_schedule


def _rates(warmup: int, steps: int, total: int) -> list[float]:
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    schedule = warmup_cosine_schedule(optimizer, warmup, steps)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_schedule_is_a_linear_ramp_times_a_cosine_that_ends_at_zero():
    rates = _rates(warmup=4, steps=10, total=12)
    expected = [
        min(1.0, (step + 1) / 4) * 0.5 * (1 + math.cos(math.pi * min(step, 10) / 10))
        for step in range(12)
    ]
    assert rates == pytest.approx(expected)
    assert rates[0] == pytest.approx(0.25 * 1.0) and rates[5] == pytest.approx(0.5)
    assert max(rates) == rates[3]  # the peak is where the ramp ends
    assert rates[10:] == [0.0, 0.0]  # zero at the end and after it


def test_no_warmup_starts_at_the_full_rate():
    assert _rates(warmup=0, steps=4, total=1) == pytest.approx([1.0])


def test_optimizer_step_clips_the_gradient_and_advances_the_schedule():
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    schedule = warmup_cosine_schedule(optimizer, warmup=0, steps=100)
    loss = (weight * torch.tensor([30.0, 40.0])).sum()  # gradient norm 50
    assert optimizer_step(loss, optimizer, schedule, [weight], max_grad_norm=1.0) == 0.0
    assert weight.detach().tolist() == pytest.approx([-0.6, -0.8])  # clipped to norm 1
    assert schedule.last_epoch == 1
