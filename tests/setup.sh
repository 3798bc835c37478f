#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) to run harmony's test suite:
# Docker engine, debootstrap, Vagrant (with the libvirt plugin, so that its provider settings can
# be validated), the host image, and a virtualenv with harmony and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v ip >/dev/null || need+=(iproute2)
command -v vagrant >/dev/null || need+=(vagrant)
dpkg -s vagrant-libvirt >/dev/null 2>&1 || need+=(vagrant-libvirt)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}" ca-certificates
fi
command -v kubectl >/dev/null || { echo "kubectl is missing: the tests use the real kubectl" >&2; exit 1; }

# This machine has no init system: start dockerd by hand, and wait (bounded) for it.
if ! docker info >/dev/null 2>&1; then
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null
fi

bash harmony/lab/host-image.sh && bash harmony/lab/host-image.sh --init=openrc

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test,docs]'
