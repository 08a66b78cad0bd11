#!/usr/bin/env bash
# Builds KenLM's command-line tools (lmplz, filter, build_binary, query) from the kenlm source
# distribution on PyPI and installs them into a project-local folder (default .tools/kenlm/bin).
# Why PyPI: the sdist holds the full C++ tree (lm/builder, lm/filter, CMake build) at a pinned
# version, so CI, images and developers build the same tools without a floating "latest" release.
# Idempotent: does nothing when the binaries are already there (delete the folder to rebuild).
# Needs: build-essential cmake libboost-{program-options,system,thread,test}-dev zlib1g-dev
# libbz2-dev liblzma-dev (see .ci/apt-packages.txt).
set -euo pipefail

KENLM_VERSION="${KENLM_VERSION:-0.3.0}"
here="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:-$here/.tools/kenlm}"
tools=(lmplz filter build_binary query)

if [ -x "$prefix/bin/lmplz" ] && [ -x "$prefix/bin/filter" ] && [ -x "$prefix/bin/build_binary" ]; then
    echo "KenLM tools already in $prefix/bin"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-binary kenlm --no-deps --dest "$work" "kenlm==$KENLM_VERSION"
archive="$(ls "$work"/kenlm-*.tar.gz)"
tar -xzf "$archive" -C "$work"
source_dir="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'kenlm-*' | head -n 1)"
mkdir -p "$source_dir/build"
log="$work/build.log"
echo "building KenLM $KENLM_VERSION tools (about a minute on 2 cores)"
if ! { cmake -S "$source_dir" -B "$source_dir/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 \
        && make -C "$source_dir/build" -j"$(nproc)" "${tools[@]}"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "KenLM build failed: install the Debian packages listed at the top of $0 and retry." >&2
    exit 1
fi

# Install into a temporary folder first, so an interrupted build never looks finished.
mkdir -p "$prefix"
staging="$prefix/.bin.tmp-$$"
rm -rf "$staging"
mkdir -p "$staging"
for tool in "${tools[@]}"; do
    install -m 0755 "$source_dir/build/bin/$tool" "$staging/$tool"
done
rm -rf "$prefix/bin"
mv "$staging" "$prefix/bin"
echo "KenLM $KENLM_VERSION tools installed in $prefix/bin"
