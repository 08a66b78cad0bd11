# The two commands a newcomer needs: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
DEMO_DATA ?= $(CURDIR)/demo-data

.PHONY: demo test lint py38-floor install

install:
	$(PYTHON) -m pip install -e '.[dev]'

# Main job (for now): synthesise the sample corpus, import it, report leakage, build the alphabet.
demo:
	$(PYTHON) -m stt_tasks sample-corpus --dest $(DEMO_DATA)/sources
	$(PYTHON) -m stt_tasks preflight --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks import common-voice --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks leakage --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks alphabet --data-root $(DEMO_DATA)
	@cat $(DEMO_DATA)/extracted/data/cv-fr/cv-fr_report.txt

# stt_tasks runs on Python 3.8 in the NVIDIA TF1 image: vermin proves no newer syntax or API is used.
py38-floor:
	vermin --no-tips --violations --eval-annotations -t=3.8- stt_tasks

lint: py38-floor

test: lint
	$(PYTHON) -m pytest -q
