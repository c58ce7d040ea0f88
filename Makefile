# The two commands: `make demo` and `make test`. Both create .venv when it is
# missing and install mlnb with every extra into it.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PYTHON ?= python3
SOURCES := mlnb tests bench examples

.PHONY: demo test lint typecheck pytest install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# uv installs the stack in seconds where pip takes minutes; pip stays the fallback.
	@if $(PY) -m pip install -q uv && $(UV) pip install --python $(PY) -q -e '.[all,dev]'; then :; \
	else $(PY) -m pip install -q -e '.[all,dev]'; fi
	@touch $@

demo: install
	$(PY) examples/quickstart.py
	@echo "\n==> The same registry from the command line: mlnb versions list --model iris"
	@MLNB_HOME=$(CURDIR)/demo-home $(VENV)/bin/mlnb versions list --model iris

lint: install
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo-home
