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

# Independent test files run in parallel, one file per worker (a module's servers and demo caches
# are built once); the tests marked `serial` time the page or race short-lived tokens, so they run
# afterwards, alone. A part with no test selected (pytest's exit status 5) is not a failure.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(4, max(2, len(os.sched_getaffinity(0)))))")

test: $(STAMP)
	@parallel=0; serial=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || parallel=$$?; \
	$(BIN)/python -m pytest -p no:xdist -m serial $(PYTEST_ARGS) || serial=$$?; \
	if [ $$parallel -eq 5 ] && [ $$serial -eq 5 ]; then exit 5; fi; \
	for status in $$parallel $$serial; do [ $$status -eq 0 ] || [ $$status -eq 5 ] || exit $$status; done

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
