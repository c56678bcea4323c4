# Two commands do everything: `make run` (set up, start the app) and `make test`
# (set up, run the whole test suite headless). Set-up is idempotent.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-all lint bench

setup:
	@bash scripts/setup.sh

run: setup
	$(PY) -m composer_app $(FILE)

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test-all: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m ""

lint: setup
	$(VENV)/bin/ruff check .
