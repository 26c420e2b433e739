# Two commands set everything up on a fresh machine:
#   make run   - create/reuse .venv, install lm_gym, run the quick leaderboard track and print
#                its table (results in runs/leaderboard-quick; a second call reuses them)
#   make test  - create/reuse .venv, install lm_gym with its test extras, lint, run the tests
#   make gpu-check - on a machine with CUDA: the GPU tests against the CPU, then the GPU
#                benchmark (JSON report, format in the README); skips cleanly without CUDA
# torch is pinned and installed first: an unpinned torch pulled in by another package
# would download a multi-GB CUDA build (see DEVELOPERS.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

GPU_CHECK_OUT ?= gpu-check-$(shell date +%Y%m%d-%H%M%S).json

.PHONY: run test lint bench gpu-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $@

run: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/lm-gym leaderboard --track quick

lint: $(VENV)/.installed
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only --benchmark-group-by=group,param

gpu-check: $(VENV)/.installed
	$(BIN)/python -m pytest -q -rs -m gpu tests/gpu
	$(BIN)/python tests/benchmarks/gpu_check.py --out $(GPU_CHECK_OUT)

clean:
	rm -rf $(VENV) build dist *.egg-info
