# The two commands a newcomer needs: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
DEMO_DATA ?= $(CURDIR)/demo-data

KENLM_BIN ?= $(CURDIR)/.tools/kenlm/bin

.PHONY: demo test lint py38-floor install kenlm

install:
	$(PYTHON) -m pip install -e '.[dev]'

# KenLM's lmplz/filter/build_binary from the kenlm sdist on PyPI, into .tools/kenlm/bin (once).
kenlm:
	bash scripts/build-kenlm.sh

# Main job (for now): synthesise the sample corpus, import it, build the alphabet and the LM/scorer.
demo: kenlm
	$(PYTHON) -m stt_tasks sample-corpus --dest $(DEMO_DATA)/sources
	$(PYTHON) -m stt_tasks preflight --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks import common-voice --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks alphabet --data-root $(DEMO_DATA)
	KENLM_BIN=$(KENLM_BIN) $(PYTHON) -m stt_tasks lm --data-root $(DEMO_DATA) --memory 1G \
		--text $(DEMO_DATA)/sources/sample_lm_fr.txt
	@cat $(DEMO_DATA)/extracted/data/cv-fr/cv-fr_report.txt
	@cat $(DEMO_DATA)/lm/lm_report.txt

# stt_tasks runs on Python 3.8 in the NVIDIA TF1 image: vermin proves no newer syntax or API is used.
py38-floor:
	vermin --no-tips --violations --eval-annotations -t=3.8- stt_tasks

lint: py38-floor

test: lint
	$(PYTHON) -m pytest -q
