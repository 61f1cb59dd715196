# The two commands of the README: `make run` (the app, on the demo account when no
# Stripe account is configured) and `make test` (the whole suite). Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench-sync bench-metrics bench-app bench-demo bench-webhooks lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/stripe-analytics serve $(SERVE_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench-sync: $(STAMP)
	$(BIN)/python bench/bench_sync.py $(BENCH_ARGS)

bench-metrics: $(STAMP)
	$(BIN)/python bench/bench_metrics.py $(BENCH_ARGS)

bench-app: $(STAMP)
	$(BIN)/python bench/bench_app.py $(BENCH_ARGS)

bench-demo: $(STAMP)
	$(BIN)/python bench/bench_demo.py $(BENCH_ARGS)

bench-webhooks: $(STAMP)
	$(BIN)/python bench/bench_webhooks.py $(BENCH_ARGS)

# Re-pin dependencies after editing pyproject.toml (needs uv: `pip install uv`).
lock:
	UV_PYTHON_DOWNLOADS=never uv pip compile pyproject.toml --extra test -o requirements.lock --python-version 3.11 --no-header --no-annotate

clean:
	rm -rf $(VENV)
