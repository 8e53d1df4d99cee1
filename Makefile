# Two commands matter: `make run` (serve on SQLite with default content) and `make test` (every check).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit security install soak bench-scoring bench-scoring-instructions bench-api openapi clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/riskapi dev-setup
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

# Longer runs (schemathesis at 300 examples per operation, repeated SIGKILLs and database outages) and the
# bench/soak.py load with crashes; each prints its figures.
soak: $(STAMP)
	RISKAPI_SOAK=1 $(BIN)/pytest tests/hardening -m slow -p no:randomly -s
	$(BIN)/python bench/soak.py

bench-scoring: $(STAMP)
	$(BIN)/python bench/scoring.py

bench-scoring-instructions: $(STAMP)  # needs valgrind (apt-get install valgrind)
	$(BIN)/python bench/scoring_instructions.py

bench-api: $(STAMP)
	$(BIN)/python bench/api.py

openapi: $(STAMP)
	$(BIN)/python -m app.openapi_dump > openapi.json

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
