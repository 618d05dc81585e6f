# The two commands: `make run` starts the whole system, `make test` runs every test.
# Each installs what it needs first (scripts/bootstrap.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test bench install install-test provision lock clean

install:
	./scripts/bootstrap.sh

# Also the browser the browser tests drive (Debian's chromium).
install-test:
	./scripts/bootstrap.sh --test

run: install
	$(PY) -m stack

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

# Every benchmark in turn (about half an hour on two cores); each prints its
# figures and writes bench/results/<name>.json. One alone: make bench BENCHES=pdf
# chaos comes last: it exits 1 while any fault loses, repeats or corrupts a job.
BENCHES ?= queue pdf autoscale csv_import export flower_cost worker_footprint abuse chaos

bench: install
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(PY) -m bench.$$b || exit 1; done

provision: install
	$(PY) -m core.provision

# Every lock file from its requirements file (scripts/lock.sh): after editing a
# requirements file. A pin moves only when asked: make lock LOCK_ARGS="--upgrade-package idna"
LOCK_ARGS ?=

lock:
	./scripts/lock.sh $(LOCK_ARGS)

clean:
	rm -rf .run
