# Two commands for users: `make run` (set up and open the workbench) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export NUMBA_CACHE_DIR ?= $(HOME)/.cache/mvssl-workbench/numba
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test venv demo-corpus demo bench screenshots lint clean

run:
	@$(PYTHON) -m workbench.syslibs
	@$(MAKE) --no-print-directory $(STAMP)
	$(PY) -m engine.cli corpus make-demo --if-missing
	$(PY) -m engine.cli gui

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q
	$(VENV)/bin/lint-imports

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m engine.cli demo --runs-dir runs/demo --out reports/demo

# A small finished study (every method, a few steps) and a study training now, shot at both screen sizes.
screenshots: $(STAMP)
	$(PY) -m tests.e2e.small_study runs/small
	rm -rf runs/live && $(PY) -m tests.e2e.small_study runs/live --running
	for size in 1280x800 1920x1080; do \
	  xvfb-run -a -s "-screen 0 $${size}x24" $(PY) -m workbench.screenshots --runs-dir runs/small --live runs/live \
	    --dialog --out assets/screenshots || exit 1; \
	done
	$(PY) -m engine.cli runs cancel --study live --runs-dir runs/live
	$(PY) -m engine.cli engine stop --runs-dir runs/live

bench: $(STAMP)
	$(PY) -m engine.cli corpus make-demo --if-missing
	$(PY) -m benchmarks.run

demo-corpus: $(STAMP)
	$(PY) -m engine.cli corpus make-demo --if-missing

lint: $(STAMP)
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
