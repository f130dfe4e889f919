# Two commands for users: `make run` (set up and open the workbench) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The HEAR validator imports tensorflow at module level and pins Python < 3.9 in its metadata: it gets
# a venv of its own (never the product's), with the CPU builds of torch and tensorflow.
HEAR_VENV  := .venv-hear
HEAR_STAMP := $(HEAR_VENV)/.installed
export NUMBA_CACHE_DIR ?= $(HOME)/.cache/mvssl-workbench/numba
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test venv hear-venv demo-corpus demo bench gpu-check screenshots docs lint clean

run:
	@$(PYTHON) -m workbench.syslibs
	@$(MAKE) --no-print-directory $(STAMP)
	$(PY) -m engine.cli corpus make-demo --if-missing
	$(PY) -m engine.cli gui

test: $(STAMP) $(HEAR_STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q --durations=25
	$(VENV)/bin/lint-imports

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

hear-venv: $(HEAR_STAMP)

$(HEAR_STAMP): .ci/hear-requirements.txt
	test -x $(HEAR_VENV)/bin/python || $(PYTHON) -m venv $(HEAR_VENV)
	$(HEAR_VENV)/bin/python -m pip install -q -r .ci/hear-requirements.txt
	$(HEAR_VENV)/bin/python -m pip install -q --no-deps --ignore-requires-python hearvalidator==2021.0.6
	touch $(HEAR_STAMP)

demo: $(STAMP)
	$(PY) -m engine.cli demo --runs-dir runs/demo --out reports/demo

# The finished demo study (`make demo`, the study the first start offers; nothing is redone once it is done) and
# a small study training now, shot at both screen sizes.
screenshots: $(STAMP)
	$(PY) -m engine.cli demo --runs-dir runs/demo --out reports/demo
	$(PY) -m engine.cli engine stop --runs-dir runs/demo
	rm -rf runs/live && $(PY) -m tests.e2e.small_study runs/live --running
	for size in 1280x800 1920x1080; do \
	  xvfb-run -a -s "-screen 0 $${size}x24" $(PY) -m workbench.screenshots --runs-dir runs/demo --live runs/live \
	    --dialog --out assets/screenshots || exit 1; \
	done
	$(PY) -m engine.cli runs cancel --study live --runs-dir runs/live
	$(PY) -m engine.cli engine stop --runs-dir runs/live

bench: $(STAMP)
	$(PY) -m engine.cli corpus make-demo --if-missing
	$(PY) -m benchmarks.run

# On a machine with a CUDA GPU: 100 steps per method, data, embedding and a torchrun smoke (< 8 min).
gpu-check: $(STAMP)
	$(PY) -m benchmarks.gpu_check --device cuda

demo-corpus: $(STAMP)
	$(PY) -m engine.cli corpus make-demo --if-missing

# The documentation as a web site under site/ (make test builds it with --strict, into a temporary folder).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

lint: $(STAMP)
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(HEAR_VENV) build site *.egg-info .pytest_cache
