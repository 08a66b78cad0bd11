#!/usr/bin/env bash
# Build the images CI tests against, from a local debootstrap base (no registry here).
set -euo pipefail
cd "$(dirname "$0")/../.."
make images-ci
