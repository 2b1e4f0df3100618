# Local development and CI entry points. Everything runs from .venv; the
# embedded PostgreSQL/Redis live under .data/ (see scripts/stack.py).
PYTHON ?= python3

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK := $(PY) scripts/stack.py

.PHONY: demo test up down status bench fuzz

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(STAMP)
	$(STACK) up
	$(STACK) run -- $(PY) scripts/demo.py

# pytest exits 5 when it collects no tests; make treats that as a failure too.
test: $(STAMP)
	$(STACK) run -- $(PY) -m pytest -q tests

up: $(STAMP)
	$(STACK) up

down: $(STAMP)
	$(STACK) down

status: $(STAMP)
	$(STACK) status

bench: $(STAMP)
	$(STACK) run -- $(PY) -m bench $(if $(RECIPIENTS),--recipients $(RECIPIENTS))

# Schemathesis against the API that `make up` started: every check, 40 examples per operation, valid and
# invalid inputs, stateful links (scripts/fuzz_live.py prints the command and the figures; docs/api.md).
fuzz: $(STAMP)
	$(STACK) run -- $(PY) scripts/fuzz_live.py $(if $(EXAMPLES),--examples $(EXAMPLES))
