# The two commands a newcomer needs: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
DEMO_DATA ?= $(CURDIR)/demo-data

.PHONY: demo test lint py38-floor install

install:
	$(PYTHON) -m pip install -e '.[dev,airflow]'

# Main job (for now): synthesise the sample corpus, import it, build the alphabet.
demo:
	$(PYTHON) -m stt_tasks sample-corpus --dest $(DEMO_DATA)/sources
	$(PYTHON) -m stt_tasks preflight --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks import common-voice --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks alphabet --data-root $(DEMO_DATA)
	@cat $(DEMO_DATA)/extracted/data/cv-fr/cv-fr_report.txt

# stt_tasks runs on Python 3.8 in the NVIDIA TF1 image: vermin proves no newer syntax or API is used.
py38-floor:
	vermin --no-tips --violations --eval-annotations -t=3.8- stt_tasks

lint: py38-floor

test: lint
	$(PYTHON) -m pytest -q

# Images. Users: `make images` (FROM public base images). CI: `make images-ci` (local debootstrap bases).
CI_BASE_BULLSEYE ?= local/debian-python:bullseye
DOCKER_BUILD ?= docker build --network host

.PHONY: images image-cpu images-ci base-images-ci

image-cpu:
	$(DOCKER_BUILD) -f docker/Dockerfile.cpu -t stt-tasks-cpu $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) .

images: image-cpu

base-images-ci:
	docker/build-base-image.sh bullseye $(CI_BASE_BULLSEYE) "python3 python3-venv python3-dev"

images-ci: base-images-ci
	$(MAKE) image-cpu BASE_IMAGE=$(CI_BASE_BULLSEYE)
