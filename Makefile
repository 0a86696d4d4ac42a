# Cloud-Saves: `make run` starts the service, `make test` runs lint and the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format migrate superuser bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: $(BIN)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

run: migrate
	@echo ""
	@echo "  Cloud-Saves is starting at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo ""
	$(BIN)/python -m cloudsaves.serve --host $(HOST) --port $(PORT)

superuser: migrate
	$(BIN)/python manage.py createsuperuser

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -c pyproject.toml -r manage.py cloudsaves sync accounts handoff bench -ll -ii

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Exit 5 means pytest collected nothing: treat that as a failure, never as green.
test: lint
	CLOUDSAVES_FAST_PASSWORD_HASHER=1 $(BIN)/python -m pytest $(PYTEST_ARGS); \
	status=$$?; if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$status

bench: $(BIN)/.installed
	$(BIN)/python bench/sync_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
