"""The tiny track as Ray tasks on a local Ray instance gives the serial run's numbers."""

from __future__ import annotations

import pytest

from lm_gym.baselines.driver import run_track

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'lm_gym[ray]')")


# About 20 s here, mostly Ray's start-up and shut-down.
def test_ray_tasks_give_the_serial_numbers(serial_run, tiny_track, tmp_path, compared_numbers):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        outcome = run_track(tiny_track, tmp_path, ray_address=address, log=lambda line: None)
    finally:
        ray.shutdown()
    assert not outcome.failed and len(outcome.ran) == 8
    records = compared_numbers(tmp_path)
    assert records == compared_numbers(serial_run[0])
    # Ray workers keep their logs in temporary folders; the driver wrote the result files.
    assert not (tmp_path / "runs").exists()
