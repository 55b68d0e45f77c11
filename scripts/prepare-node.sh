#!/bin/sh
# Prepare a host to run a dynamo-harness node. The same script serves every provider:
# namespace hosts (where everything is already there and it only checks), hosts reached
# with --provider ssh, and the Vagrant VMs (run as their provisioner).
#
# Needs: a Python >= 3.11 with venv, iptables (partitions), faketime (clock skew); fuse3
# (power loss) when it can be had.
# Installs what is missing with apt-get when it can; never touches SSH configuration.
# Last line of output: python=<interpreter the node's virtualenv is made from>.
set -eu

ROOT=${DYNAMO_HARNESS_ROOT:-/var/lib/dynamo-harness}

find_python() {
    for p in /usr/bin/python3 /usr/local/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 \
             /usr/bin/python3.11 "$(command -v python3 2>/dev/null || true)"; do
        [ -n "$p" ] && [ -x "$p" ] || continue
        if "$p" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

missing=""
find_python >/dev/null || missing="$missing python3 python3-venv"
command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
command -v faketime >/dev/null 2>&1 || missing="$missing faketime"
command -v setsid >/dev/null 2>&1 || missing="$missing util-linux"

if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "prepare-node: missing:$missing and no apt-get to install them" >&2
        exit 3
    fi
    echo "prepare-node: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# fuse3 (fusermount3 and libfuse3): the power-loss fault's filesystem, nemesis/powerfs. Only
# --nemesis power needs it, so a host that cannot get it still runs every other fault; that
# nemesis then fails at its mount, naming what is missing.
if ! command -v fusermount3 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "prepare-node: installing fuse3"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends fuse3; } >/dev/null 2>&1 \
        || echo "prepare-node: fuse3 could not be installed (--nemesis power needs it)" >&2
fi

PYTHON=$(find_python) || { echo "prepare-node: no Python >= 3.11 with venv" >&2; exit 3; }
mkdir -p "$ROOT"
chmod 755 "$ROOT"
echo "python=$PYTHON"
