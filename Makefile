# Linli: the two set-up commands are `make demo` and `make test`; both create or reuse .venv.
# `make test-fast` skips the tests marked slow; CI (.ci/run) runs `make lint typecheck test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORK ?= work
# pytest-xdist workers (one per core here); each test file stays on one worker
TEST_WORKERS ?= 2
export OPENBLAS_NUM_THREADS := 1
export PYTHONHASHSEED := 0

.PHONY: venv demo test test-fast lint typecheck bench mlflow-ui mlflow-server clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	bash experiments/demos/demo.sh $(WORK)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=10

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" --durations=10

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m experiments.benchmarks.bench_features --events 10000000 --dir $(WORK)/bench_features --engines duckdb,spark
	$(BIN)/python -m experiments.benchmarks.bench_features --events 50000000 --dir $(WORK)/bench_features_50m --engines duckdb
	$(BIN)/python -m experiments.benchmarks.bench_als
	$(BIN)/python -m experiments.checks.real_features
	test -d $(WORK)/bench10k || $(BIN)/linli synth --out $(WORK)/bench10k --people 10000 --months 3 --quiet
	test -d $(WORK)/bench200k || $(BIN)/linli synth --out $(WORK)/bench200k --people 200000 --items 30000 --months 2 --activity-scale 0.04 --quiet
	$(BIN)/python -m experiments.benchmarks.bench_jobs --world $(WORK)/bench10k --world $(WORK)/bench200k --json $(WORK)/bench/bench_jobs.json

# one uvicorn worker (the default 4 kept dying on 2 cores); experiments linli-training, -tuning, -evaluation, -matching, -ab, -reports
MLFLOW_UI_PORT ?= 5000
mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(WORK))/mlflow.db --default-artifact-root $(abspath $(WORK))/mlartifacts --host 127.0.0.1 --port $(MLFLOW_UI_PORT) --workers 1

# a shared tracking server: PostgreSQL (private cluster in $(WORK)/mlflow-server/pg) + served artifacts;
# then `export MLFLOW_TRACKING_URI=http://127.0.0.1:$(MLFLOW_PORT)` for train/tune/evaluate/ab/retrain/export
MLFLOW_PORT ?= 5000
mlflow-server: $(STAMP)
	$(BIN)/python -m training.mlflow_server --dir $(WORK)/mlflow-server --port $(MLFLOW_PORT) --workers 1

clean:
	rm -rf $(WORK)
