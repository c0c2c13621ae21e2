#!/usr/bin/env bash
# Install pycoredns and run it as a local caching resolver (corefiles/local-resolver.Corefile):
# DNS on 127.0.0.1:1053, cache in front of forward to /etc/resolv.conf's servers,
# metrics on localhost:9153/metrics, health on localhost:8080/health.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/pycoredns -conf corefiles/local-resolver.Corefile "$@"
