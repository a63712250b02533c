# Two commands do all the set-up on a fresh clone (Python 3.11+ and make):
#   make run    set up, then build a demo workspace from the bundled sample data
#   make test   set up, then run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# what `pip install -e '.[…]'` adds: CI sets dev,hf (the Hugging Face tier's tests)
RASD_EXTRAS ?= dev

.PHONY: run test install bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(RASD_EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/rasd --db demo-workspace/rasd.db demo --workdir demo-workspace

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) demo-workspace .pytest_cache
