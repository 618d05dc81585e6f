# The two commands: `make run` starts the whole system, `make test` runs every test.
# Each installs what it needs first (scripts/bootstrap.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test bench install provision clean

install:
	./scripts/bootstrap.sh

run: install
	$(PY) -m stack

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench.queue

provision: install
	$(PY) -m core.provision

clean:
	rm -rf .run
