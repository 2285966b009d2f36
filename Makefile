# annsweep — `make run` and `make test` are the whole set-up on a fresh machine.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Raw third-party inputs (real collections); tests here point it at ../shared/data.
export ANNSWEEP_SOURCE_DIR ?= $(CURDIR)/datasets/sources

DATASET ?= random-xs-dense
ALGO    ?=
K       ?= 10
RUNS    ?= 3
ARGS    ?=

.PHONY: install run test datasets results clean help

help:
	@echo "make run [ALGO=a,b] [DATASET=$(DATASET)] [K=10] [RUNS=3] [ARGS=...]   sweep and print a table"
	@echo "make test                                                           the test suite"
	@echo "make install                                                        create .venv and install annsweep"
	@echo "make datasets                                                       list datasets"
	@echo "make results                                                        summary of stored results"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/annsweep run --dataset $(DATASET) $(if $(ALGO),--algorithm $(ALGO)) --k $(K) --runs $(RUNS) $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check harness algorithms tests benchmarks
	$(BIN)/pytest -q

datasets: $(STAMP)
	$(BIN)/annsweep datasets list

results: $(STAMP)
	$(BIN)/annsweep results show

clean:
	rm -rf $(VENV) build *.egg-info
