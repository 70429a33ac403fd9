# codec_jax developer entry points. Every target creates .venv (Python 3.11) when missing and
# installs the package with its `generate` and `dev` extras into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= runs/demo

EXPORT_VENV := .venv-export
EXPORT_STAMP := $(EXPORT_VENV)/.installed-stamp
# jax2onnx (ONNX export) pins orbax-checkpoint < 0.11.37, older than codec_jax's: it gets its own
# environment with the main environment's jax and flax; codec_jax runs there from this checkout.
JAX2ONNX := jax2onnx==0.17.1

.PHONY: demo test test-fast bench lint format clean install export-env

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (codec_jax needs Python >= 3.11; set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[generate,dev]'
	@touch $(STAMP)

export-env: $(EXPORT_STAMP)

$(EXPORT_STAMP): $(STAMP)
	@test -x $(EXPORT_VENV)/bin/python || $(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EXPORT_VENV)/bin/python -m pip install --quiet '$(JAX2ONNX)' onnxruntime \
		"$$($(BIN)/python -c 'import jax; print("jax==" + jax.__version__)')" \
		"$$($(BIN)/python -c 'import flax; print("flax==" + flax.__version__)')"
	@touch $(EXPORT_STAMP)

demo: $(STAMP)
	$(BIN)/codec-jax demo --out $(DEMO_OUT)

test: $(STAMP) $(EXPORT_STAMP)
	CODEC_JAX_REQUIRE_EXPORT=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile tests

# The edit loop: everything but the end-to-end study runs and Pythia generation (under 2 minutes).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow and not generate" tests

# The PyTorch reference of benchmarks/train_step.py needs torch (CPU build 2.13.0).
bench: $(STAMP)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet 'torch==2.13.0'
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check codec_jax tests benchmarks experiments configs
	$(BIN)/ruff format --check codec_jax tests benchmarks experiments configs

format: $(STAMP)
	$(BIN)/ruff format codec_jax tests benchmarks experiments configs
	$(BIN)/ruff check --fix codec_jax tests benchmarks experiments configs

clean:
	rm -rf $(VENV) $(EXPORT_VENV) runs .pytest_cache build *.egg-info
