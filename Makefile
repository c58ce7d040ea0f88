# The two commands: `make demo` and `make test`. Both create .venv when it is
# missing and install mlnb with every extra into it.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PYTHON ?= python3
SOURCES := mlnb tests bench examples notebooks

.PHONY: demo test check lint typecheck pytest install clean lab chromium

# The JupyterLab sidebar's sources: installing builds it into the wheel.
LAB_SOURCES := $(wildcard labextension/src/*.ts labextension/style/*) labextension/package.json

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(LAB_SOURCES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# uv installs the stack in seconds where pip takes minutes; pip stays the fallback.
	@# Both compile the bytecode at install time (uv only when asked): without it every
	@# command recompiles what it imports wherever bytecode is not written (a read-only
	@# venv, PYTHONDONTWRITEBYTECODE), and `mlnb models list` takes twice as long.
	@if $(PY) -m pip install -q uv && $(UV) pip install --python $(PY) -q --compile-bytecode -e '.[all,dev]'; then :; \
	else $(PY) -m pip install -q -e '.[all,dev]'; fi
	@$(PY) -m compileall -q mlnb
	@touch $@

# The notebooks' mlnb home, which `make lab`'s sidebar shows too (a home set
# in the environment wins).
NOTEBOOK_HOME ?= $(or $(MLNB_HOME),$(CURDIR)/notebooks/work/home)

demo: install
	@# The quickstart notebook, run top to bottom with papermill (its cell outputs stream below).
	@mkdir -p notebooks/work
	cd notebooks && MLNB_HOME=$(NOTEBOOK_HOME) ../$(VENV)/bin/papermill quickstart.ipynb work/quickstart-executed.ipynb --cwd . --log-output --no-progress-bar
	@echo "\n==> The executed notebook: notebooks/work/quickstart-executed.ipynb"
	@echo "==> Its data, job directories and batch results: notebooks/work/quickstart/"
	@echo "==> Its mlnb home (database, stored models, job logs): $(NOTEBOOK_HOME)"
	@echo "==> The same registry from the command line: MLNB_HOME=$(NOTEBOOK_HOME) mlnb versions list --model iris"
	@MLNB_HOME=$(NOTEBOOK_HOME) $(VENV)/bin/mlnb versions list --model iris
	@echo "==> In JupyterLab, with the mlnb sidebar on the same home and live panels: make lab"

# The sidebar's TypeScript: eslint and prettier as the JupyterLab extension
# template sets them up (jlpm is JupyterLab's yarn, in the venv).
JLPM := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" jlpm

lint: install
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)
	@test -x labextension/node_modules/.bin/eslint || (cd labextension && $(JLPM) install --silent)
	cd labextension && $(JLPM) lint:check

typecheck: install
	$(VENV)/bin/mypy

# The browser tests drive the system Chromium; apt installs it where missing
# (as root; elsewhere those tests skip and say so).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  echo "No Chromium (apt-get install chromium): the browser tests will be skipped"

pytest: install chromium
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# JupyterLab with the mlnb sidebar, on the example notebooks: the sidebar and
# the notebooks' kernels share one mlnb home, so what a notebook makes shows
# in the sidebar.
lab: install
	MLNB_HOME=$(NOTEBOOK_HOME) $(VENV)/bin/jupyter lab --notebook-dir=notebooks

test: lint typecheck pytest

# For contributors, between changes: lint, types and the unit tests (no
# processes, servers or browsers), in about a minute. make test runs everything.
check: lint typecheck
	$(VENV)/bin/pytest tests/unit tests/inprocess -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo-home notebooks/work
