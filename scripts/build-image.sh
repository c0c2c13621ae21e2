#!/usr/bin/env bash
# Build the node-cache image (deploy/Dockerfile) with podman, Debian's package.
#
# Usage: scripts/build-image.sh [--tag REF] [--base IMAGE] [--save FILE]
#   --tag REF     the image reference (default: the one deploy/nodelocaldns.yaml runs)
#   --base IMAGE  the Dockerfile's BASE (default python:3.11-slim-bookworm when it is present or
#                 can be pulled, else a stand-in built here from Debian's packages, see below)
#   --save FILE   also write the image as an OCI archive, for a node without registry access:
#                 ctr -n k8s.io images import FILE
# The last line printed is the image reference. Needs root (rootful podman, apt-get).
#
# What this takes on a VM like the CI one (no systemd, cgroup v1 hybrid, root without
# CAP_SYS_RESOURCE), found by trying:
# - runc and the cgroupfs cgroup manager: the systemd manager needs a running systemd (and
#   its bus), which is not there; runc 1.1 drives cgroup v1 fully. Both are passed explicitly.
# - ulimits within the hard limits: podman 4.3 asks the runtime for nofile and nproc of
#   1048576 in every container (RUN steps included). Raising a limit above the hard limit
#   needs CAP_SYS_RESOURCE, which root lacks here, so runc fails with "error setting rlimit
#   type 7: operation not permitted". podman also lowers its own nproc to 32768 (its
#   children, runc among them, inherit that), so nproc is capped there. PODMAN_ULIMITS holds
#   the flags; the image tests run containers with the same.
# - host networking for the build (--network host): RUN steps reach the package mirrors and
#   indexes as this machine does, without a CNI network (none is configured).
# - pip inside the build uses this machine's pip configuration: `pip config list` (files and
#   PIP_* variables) becomes a pip.conf that the build stage reads (PIP_CONFIG_FILE, a build
#   argument), and every local path it names (find-links folders, file:// indexes, the CA
#   bundle, constraints) is mounted read-only beside it. podman mounts --volume only while RUN
#   steps run, so none of it ends up in a layer (see below for the mount points).
set -euo pipefail
cd "$(dirname "$0")/.."

tag="" base="" save=""
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag="$2"; shift 2 ;;
        --base) base="$2"; shift 2 ;;
        --save) save="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "build-image.sh needs root (rootful podman, apt-get)" >&2
    exit 1
fi

log() { echo "build-image: $*" >&2; }

# -- what it needs: podman and runc, and mmdebstrap for the stand-in base ----------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need podman podman
need runc runc
need mmdebstrap mmdebstrap
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
hard_nofile=$(ulimit -Hn)
hard_nproc=$(ulimit -Hu)
cap() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(cap "$hard_nofile" 1048576)
nproc=$(cap "$hard_nproc" 32768)
PODMAN_ULIMITS=(--ulimit "nofile=${nofile}:${nofile}" --ulimit "nproc=${nproc}:${nproc}")

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
if [ -z "$tag" ]; then
    tag=$(sed -n 's/^ *image: \(.*node-cache:.*\)$/\1/p' deploy/nodelocaldns.yaml)
fi

# -- the base ----------------------------------------------------------------------------------
REAL_BASE=docker.io/library/python:3.11-slim-bookworm
# The stand-in: what python:3.11-slim-bookworm offers the Dockerfile (Debian bookworm, Python 3.11
# with venv and pip, CA certificates), plus the final stage's packages, from Debian's archive.
STAND_IN_PACKAGES=python3,python3-venv,ca-certificates,iptables,iproute2,usr-is-merged

apt_sources() {
    # This machine's apt sources when it runs bookworm itself (its mirror, its snapshot), else
    # mmdebstrap's default mirror.
    # shellcheck disable=SC1091
    if [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ]; then
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] && grep -qE '^[[:space:]]*(deb|Types:)' "$f" && echo "$f"
        done
    fi
    return 0
}

stand_in_base() {
    local sources aptopt options hook ref tmp
    mapfile -t sources < <(apt_sources)
    # The Acquire settings that decide whether a mirror can be reached (proxies, a snapshot's
    # old Release dates), as apt on this machine has them.
    aptopt=$(apt-config dump | grep -E '^Acquire::((https?|ftp)::Proxy|Check-Valid-Until|Check-Date)' || true)
    # Like debian:bookworm-slim: no documentation, man pages or translations, and usr-is-merged
    # rather than usrmerge (the converter, which brings in the whole of perl).
    # shellcheck disable=SC2016 # "$1" is expanded by mmdebstrap's hook: the root it builds
    hook='chroot "$1" apt-get purge -y -q --auto-remove usrmerge perl perl-modules-5.36 libperl5.36 libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl'
    options=(--variant=minbase --include="$STAND_IN_PACKAGES"
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
        --customize-hook="$hook")
    ref="localhost/pycoredns/stand-in-base:bookworm-$({ printf '%s\n' "${options[@]}" "$aptopt"
        cat "${sources[@]}" /dev/null; } | sha256sum | cut -c1-12)"
    if "${PODMAN[@]}" image exists "$ref"; then
        echo "$ref"
        return
    fi
    tmp=$(mktemp -d)
    printf '%s\n' "$aptopt" >"$tmp/apt.conf"
    log "building the stand-in base $ref with mmdebstrap"
    mmdebstrap --quiet "${options[@]}" --aptopt="$tmp/apt.conf" bookworm "$tmp/rootfs.tar" "${sources[@]}" >&2
    "${PODMAN[@]}" import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        "$tmp/rootfs.tar" "$ref" >/dev/null
    rm -rf "$tmp"
    echo "$ref"
}

started=$(date +%s)
if [ -z "$base" ]; then
    if "${PODMAN[@]}" image exists "$REAL_BASE" || "${PODMAN[@]}" pull --quiet "$REAL_BASE" >/dev/null 2>&1; then
        base=$REAL_BASE
    else
        base=$(stand_in_base)
        log "NOTE: $REAL_BASE cannot be pulled here: building on a stand-in base made from Debian"
        log "NOTE: bookworm's packages ($STAND_IN_PACKAGES): $base"
    fi
fi

# -- pip's configuration for the build -----------------------------------------------------------
# A folder mounted at /mnt (which every Debian image has, empty) holds pip.conf; every local path
# the configuration names is mounted inside it (/opt/wheels at /mnt/opt/wheels...) and named so
# in pip.conf. Mount points are made in this folder, not in the image: a mount on a path the
# image lacks would leave an empty file or folder in every layer a RUN step makes.
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$stage.paths"' EXIT
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
# PIP_* variables (":env:" in pip's list) win over the files, as they do for pip itself.
"$PY" - "$stage" "$("$PY" -m pip config list 2>/dev/null)" >"$stage.paths" <<'PYEOF'
import os
import sys

stage, listing = sys.argv[1], sys.argv[2]
conf: dict[str, dict[str, str]] = {}
for line in sorted(listing.splitlines(), key=lambda ln: ln.startswith(":env:")):
    key, _, value = line.partition("=")
    scope, _, name = key.partition(".")
    conf.setdefault("global" if scope == ":env:" else scope, {})[name] = value.strip("'")
mounts: list[str] = []


def inside(word: str) -> str:
    """The word with a local path moved under /mnt, that path queued for mounting."""
    path = word.removeprefix("file://")
    if not path.startswith("/") or not os.path.exists(path):
        return word
    # An index's pages link to ../../files/...: mount what holds both simple/ and files/.
    top = os.path.dirname(path.rstrip("/")) if os.path.basename(path.rstrip("/")) == "simple" else path
    if not any(top == m or top.startswith(m.rstrip("/") + "/") for m in mounts):
        mounts.append(top)
    return word.replace(path, "/mnt" + path, 1)


with open(os.path.join(stage, "pip.conf"), "w") as f:
    for section, values in conf.items():
        f.write(f"[{section}]\n")
        for name, value in values.items():
            f.write(f"{name} = {' '.join(inside(w) for w in value.split())}\n")
for path in mounts:
    stub = os.path.join(stage, path.lstrip("/"))
    if os.path.isdir(path):
        os.makedirs(stub, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(stub), exist_ok=True)
        open(stub, "w").close()
    print(path)
PYEOF
volumes=(--volume "$stage:/mnt:ro")
while IFS= read -r path; do
    volumes+=(--volume "$path:/mnt$path:ro")
done <"$stage.paths"

# -- the image ---------------------------------------------------------------------------------
log "building $tag from deploy/Dockerfile (BASE=$base)"
"${PODMAN[@]}" build --quiet --network host "${PODMAN_ULIMITS[@]}" "${volumes[@]}" \
    --build-arg "BASE=$base" --build-arg PIP_CONFIG_FILE=/mnt/pip.conf \
    --label "org.opencontainers.image.version=$version" -f deploy/Dockerfile -t "$tag" . >/dev/null
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$tag")
log "built $tag in $(( $(date +%s) - started )) s, $(( (size + 500000) / 1000000 )) MB"
if [ -n "$save" ]; then
    rm -f "$save"
    "${PODMAN[@]}" save --quiet --format oci-archive -o "$save" "$tag"
    log "saved $save (import on a node: ctr -n k8s.io images import $save)"
fi
echo "$tag"
