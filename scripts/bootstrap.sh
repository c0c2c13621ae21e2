#!/usr/bin/env bash
# Shared by serve.sh and test.sh: Debian packages when missing, then a virtual environment.
# Usage: scripts/bootstrap.sh [EXTRA]   (EXTRA = "test" installs the test tools too)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need ip iproute2
if [ "${1:-}" = "test" ]; then
    need dig dnsutils
    need iptables iptables
    need dnsperf dnsperf
    need getent libc-bin
    need openssl openssl            # forward's TLS tests make their own certificates
    need unbound-checkconf unbound  # benchmarks (and their config checks in the suite)
    need dnsmasq dnsmasq-base
    need podman podman              # the image tests build and run deploy/Dockerfile
    need runc runc                  # podman's runtime here (see scripts/build-image.sh)
    need mmdebstrap mmdebstrap      # the stand-in base image where python:3.11-slim cannot be pulled
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
        exit 1
    fi
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
extra=""
[ "${1:-}" = "test" ] && extra="[test,bench]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
