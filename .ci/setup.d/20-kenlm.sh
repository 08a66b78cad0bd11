#!/usr/bin/env bash
# KenLM's lmplz/filter/build_binary for the lm step's tests (tests find them in .tools/kenlm/bin),
# and the Python 3.9 venv with Coqui's decoder that loads our scorer packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/build-kenlm.sh
bash scripts/ctcdecoder-venv.sh
