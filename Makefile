# hdredu: two commands on a fresh machine.
#   make tour   set up .venv if missing, execute every notebook headless on the bundled data → build/*.html
#   make test   set up .venv if missing, run the unit tests and every notebook in FAST mode
# Also: make lab (JupyterLab on notebooks/), make check-notebooks, make lint, make bench,
#       make constraints (re-pin every package from a clean resolve).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: setup lab tour test unit lint notebooks check-notebooks sync-notebooks bench constraints clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab notebooks/

tour: setup
	mkdir -p build
	for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; /usr/bin/time -f "   %e s wall, %U s user CPU" \
	  $(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=1800 \
	    --output-dir build "$$nb" || exit 1; \
	done

test: setup lint unit check-notebooks notebooks

unit: setup
	$(BIN)/python -m pytest -n 2 tests

lint: setup
	$(BIN)/ruff check hdredu tests tools benchmarks notebooks/*.py

check-notebooks: setup
	$(BIN)/nbstripout --verify $(NOTEBOOKS)
	$(BIN)/python tools/check_notebooks.py $(NOTEBOOKS)

notebooks: setup
	HDREDU_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900 \
	  -p no:xdist --durations=0 $(NOTEBOOKS)

sync-notebooks: setup
	$(BIN)/jupytext --sync $(NOTEBOOKS)
	$(BIN)/nbstripout $(NOTEBOOKS)

bench: setup
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script --quick || exit 1; done

# Exact pins of the whole tested environment, from a clean resolve of pyproject.toml in a throw-away venv
# (torch stays 2.13.0: the CPU build provided here; "+cpu" is dropped so that the pin also matches elsewhere).
RESOLVE := build/resolve
constraints:
	rm -rf $(RESOLVE) && $(PYTHON) -m venv $(RESOLVE)
	$(RESOLVE)/bin/python -m pip install --quiet "torch==2.13.0" -e ".[dev]"
	{ echo "# Exact pins of the tested environment, written by 'make constraints' from a clean resolve;"; \
	  echo "# pyproject.toml keeps lower bounds. torch 2.13.0 is the CPU build where one is provided."; \
	  $(RESOLVE)/bin/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' | LC_ALL=C sort -f; } > constraints.txt
	rm -rf $(RESOLVE)

clean:
	rm -rf build .pytest_cache
