# Two commands matter: `make run` (serve on SQLite with default content, and the worker) and `make test` (every check).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit security install lock docs soak bench-scoring bench-scoring-instructions bench-api openapi clean

# requirements.lock pins what the service needs at run time (the Docker image installs only that);
# requirements-dev.lock adds the tests, linters and benchmarks (the `dev` extra) at the same runtime versions.
$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Regenerate both lock files after editing the dependency lists in pyproject.toml. Versions already pinned are
# kept (uv prefers the existing output file's pins); the dev lock is constrained to the runtime lock's versions.
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet pyproject.toml -o requirements.lock --python-version 3.11
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev -c requirements.lock -o requirements-dev.lock --python-version 3.11

# The worker (webhook delivery, reviews due) runs in the background beside the server and stops with it.
run: $(STAMP)
	$(BIN)/riskapi dev-setup
	$(BIN)/riskapi worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/riskapi serve --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadgroup

# Dependency audit of the lock file (see tests/hardening/audit_deps.py: it says when the vulnerability services cannot
# be reached) and a secret scan of every tracked or new file against the reviewed baseline.
security: $(STAMP)
	$(BIN)/python -m tests.hardening.audit_deps
	git ls-files -co --exclude-standard | grep -v -E '^(\.venv|var)/' | xargs -d '\n' $(BIN)/detect-secrets-hook --baseline .secrets.baseline

test: lint typecheck unit security

# Longer runs (schemathesis at 300 examples per operation, repeated SIGKILLs and database outages, eight rounds of
# SIGKILLs of the API and the worker under load with every event checked at the receiver: test_events_crash.py) and
# the bench/soak.py load with crashes; each prints its figures.
soak: $(STAMP)
	RISKAPI_SOAK=1 $(BIN)/pytest tests/hardening -m slow -p no:randomly -s
	$(BIN)/python bench/soak.py

bench-scoring: $(STAMP)
	$(BIN)/python bench/scoring.py

bench-scoring-instructions: $(STAMP)  # needs valgrind (apt-get install valgrind)
	$(BIN)/python bench/scoring_instructions.py

bench-api: $(STAMP)
	$(BIN)/python bench/api.py

# Documents generated from the code; tests fail while a committed copy differs from what this writes.
docs: $(STAMP)
	$(BIN)/python -m app.roles_dump docs/roles.md
	$(BIN)/python -m app.content.cli --output docs/default-content.md
	$(BIN)/python -m app.content.examples docs/examples/assessment-request.json

openapi: $(STAMP)
	$(BIN)/python -m app.openapi_dump > openapi.json

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
