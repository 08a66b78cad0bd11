#!/usr/bin/env bash
# Build a local Debian base image with debootstrap + docker import, for machines that cannot reach
# an image registry (CI). Users build our images FROM public images instead (ARG BASE_IMAGE).
#
#   docker/build-base-image.sh SUITE TAG [EXTRA_PACKAGES]
#   docker/build-base-image.sh bullseye local/debian-python:bullseye "python3 python3-venv python3-dev"
#
# The host's CA bundle is copied to a path of its own and named by PIP_CERT/REQUESTS_CA_BUNDLE/
# SSL_CERT_FILE, because pip in the image must trust the same certificates as the host does here.
set -euo pipefail
suite=${1:?suite, e.g. bullseye}
tag=${2:?image tag, e.g. local/debian-python:bullseye}
packages=${3:-}

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag already present"
    exit 0
fi
root=$(mktemp -d /var/tmp/rootfs-XXXXXX)
trap 'rm -rf "$root"' EXIT
include="ca-certificates"
[ -n "$packages" ] && include="$include,${packages// /,}"
echo "debootstrap $suite ($include) into $root"
debootstrap --variant=minbase --include="$include" "$suite" "$root" http://deb.debian.org/debian >/dev/null
mkdir -p "$root/etc/ssl"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/host-ca.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
    --change 'ENV PIP_CERT=/etc/ssl/host-ca.crt' \
    --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/host-ca.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/host-ca.crt' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$tag" >/dev/null
echo "built $tag"
