# hdredu: two commands on a fresh machine.
#   make tour   set up .venv if missing, execute every notebook headless on the bundled data → build/*.html
#   make test   set up .venv if missing, run the unit tests and every notebook in FAST mode
# Also: make lab (JupyterLab on notebooks/; HDREDU_FAST=1 make lab for FAST mode), make browser-test,
#       make check-notebooks, make lint, make bench, make constraints (re-pin every package from a clean resolve).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
HTML := $(patsubst notebooks/%.ipynb,build/%.html,$(NOTEBOOKS))
CHROMIUM := /usr/bin/chromium
# JupyterLab refuses to start as root unless told; containers usually run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# make tour's pages typeset formulas with this bundled MathJax 2 (jupyter-server-mathjax), copied next to them.
MATHJAX_URL := mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe

.PHONY: setup git-filters lab tour test unit lint notebooks check-notebooks browser-test sync-notebooks bench constraints clean

setup: $(STAMP) git-filters

# Running notebooks in Lab never dirties the clone: git stores every .ipynb through nbstripout (outputs,
# execution counts and the kernel's language_info dropped; the attribute is committed in .gitattributes, the
# filter command is per clone, in .git/config).
git-filters: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  if ! git config --get filter.nbstripout.clean >/dev/null; then \
	    $(BIN)/nbstripout --install --attributes .gitattributes && echo "installed the nbstripout git filter"; fi; \
	  git config filter.nbstripout.extrakeys "metadata.language_info"; \
	fi

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# tools/jupyter_lab_config.py saves the course notebooks as git holds them (no outputs): the clone stays clean.
lab: setup
	$(BIN)/jupyter lab $(ALLOW_ROOT) --config=tools/jupyter_lab_config.py notebooks/

tour: setup
	mkdir -p build
	rm -rf build/mathjax && cp -r "$$($(BIN)/python -c 'import jupyter_server_mathjax, pathlib; print(pathlib.Path(jupyter_server_mathjax.__file__).parent / "static")')" build/mathjax
	for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; /usr/bin/time -f "   %e s wall, %U s user CPU" \
	  $(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=1800 \
	    --HTMLExporter.mathjax_url="$(MATHJAX_URL)" --output-dir build "$$nb" || exit 1; \
	done

test: setup lint unit check-notebooks notebooks browser-test

unit: setup
	$(BIN)/python -m pytest -n 2 tests

lint: setup
	$(BIN)/ruff check hdredu tests tools benchmarks notebooks/*.py

# With the git filter installed, outputs Lab saved into a notebook never reach git: check what git holds
# (the index: stripped?) and what it would store from the working tree (nbstripout's output: paired with
# its .py twin?). Without the filter, check the files as they are.
check-notebooks: setup
	@if git config --get filter.nbstripout.clean >/dev/null 2>&1; then \
	  echo "nbstripout git filter installed: checking the notebooks as git stores them"; \
	  rm -rf build/check-notebooks && mkdir -p build/check-notebooks/index && \
	  for nb in $(NOTEBOOKS); do \
	    if git ls-files --error-unmatch "$$nb" >/dev/null 2>&1; then \
	      git show ":$$nb" > "build/check-notebooks/index/$$(basename $$nb)" || exit 1; fi; \
	    $(BIN)/nbstripout -t < "$$nb" > "build/check-notebooks/$$(basename $$nb)" && \
	    { [ ! -e "$${nb%.ipynb}.py" ] || cp "$${nb%.ipynb}.py" build/check-notebooks/; } || exit 1; \
	  done; \
	  for nb in build/check-notebooks/index/*.ipynb; do \
	    [ ! -e "$$nb" ] || $(BIN)/nbstripout --verify "$$nb" || { echo "$$nb: git holds outputs"; exit 1; }; \
	  done; \
	  $(BIN)/python tools/check_notebooks.py build/check-notebooks/*.ipynb; \
	else \
	  $(BIN)/nbstripout --verify $(NOTEBOOKS) && $(BIN)/python tools/check_notebooks.py $(NOTEBOOKS); \
	fi

notebooks: setup
	HDREDU_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900 \
	  -p no:xdist --durations=0 $(NOTEBOOKS)

# Every notebook run in JupyterLab in headless Chromium (FAST mode), every slider dragged; also make tour's
# pages, offline, when they exist. Skips, saying so, where Debian's chromium is not installed.
browser-test: setup
	@if [ -x $(CHROMIUM) ]; then \
	  $(BIN)/python tools/browser_test.py $(NOTEBOOKS) --html $(wildcard $(HTML)); \
	else \
	  echo "browser test skipped: no chromium at $(CHROMIUM) (apt-get install chromium)"; \
	fi

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
