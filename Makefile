# Two commands: `make demo` and `make test`. Each builds .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint notebooks clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tpu run

test: $(STAMP)
	$(BIN)/ruff check tpu hdl sim tests benchmarks notebooks scripts
	$(BIN)/python -m pytest -n 2 --dist loadgroup

notebooks: $(STAMP)  # execute every notebook, commit the .ipynb it writes
	$(BIN)/python scripts/notebooks.py

lint: $(STAMP)
	$(BIN)/ruff check tpu hdl sim tests benchmarks notebooks scripts

clean:
	rm -rf build .pytest_cache .hypothesis
