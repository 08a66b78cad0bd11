#!/usr/bin/env bash
# The images `make test` runs against (stt-tasks-cpu, stt-airflow, stt-docker-proxy, local/postgres-ci),
# built with `make images-ci` (local debootstrap bases: no registry needed) only when one is missing or
# their inputs changed since the last build: a stamp holds the hash of every file the images copy in.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=build/stamps/test-images
images=(stt-tasks-cpu stt-airflow stt-docker-proxy local/postgres-ci)
inputs_hash="$(find docker stt_tasks plugins dags pyproject.toml README.md LICENSE.txt -type f \
    -not -name '*.pyc' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)"

missing=()
for image in "${images[@]}"; do
    docker image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
done
if [ ${#missing[@]} -eq 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs_hash" ]; then
    echo "test images up to date"
    exit 0
fi
echo "building the test images (missing: ${missing[*]:-none}; inputs changed: $([ "$(cat "$stamp" 2>/dev/null)" = "$inputs_hash" ] && echo no || echo yes))"
make images-ci
mkdir -p "$(dirname "$stamp")"
echo "$inputs_hash" > "$stamp"
