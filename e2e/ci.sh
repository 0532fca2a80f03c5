#!/usr/bin/env bash
# The e2e suite in CI, on a fresh Debian machine (as root): installs what it needs,
# builds what is missing into the cache (control plane, node agent, image), starts the
# control plane and its three nodes, runs e2e/run.sh, and always tears everything down.
# Prints the time of each phase.
#
# Cache: ${TIDEWATER_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidewater-e2e}, keyed by
# the pinned versions; kept between runs on one machine, never required.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TIDEWATER_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidewater-e2e}"
export TIDEWATER_E2E_CACHE="$CACHE"
# run.sh skips without a cluster; under CI a missing one is a failure.
export E2E_REQUIRE_CLUSTER=1
TIMES=()
T0=$SECONDS

# phase NAME COMMAND...: runs COMMAND and records how long it took.
phase() {
    local name="$1" start=$SECONDS; shift
    echo "==== e2e phase: $name ($(date -u +%H:%M:%S))"
    if "$@"; then
        TIMES+=("$name: $((SECONDS - start)) s")
        echo "==== e2e phase: $name done in $((SECONDS - start)) s"
    else
        local rc=$?
        TIMES+=("$name: FAILED after $((SECONDS - start)) s")
        echo "==== e2e phase: $name FAILED (exit $rc) after $((SECONDS - start)) s"
        return "$rc"
    fi
}

summary() {
    echo "==== e2e times"
    printf '  %s\n' "${TIMES[@]}"
    echo "  total: $((SECONDS - T0)) s"
}

install_packages() {
    [[ $EUID -eq 0 ]] || { echo "e2e/ci.sh runs as root (network namespaces, mounts, buildah)" >&2; return 1; }
    local need=() cmd pkg
    for cmd in buildah:buildah debootstrap:debootstrap openssl:openssl ip:iproute2 kcat:kcat curl:curl setsid:util-linux; do
        command -v "${cmd%%:*}" >/dev/null || need+=("${cmd##*:}")
    done
    python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
    if ((${#need[@]})); then
        echo "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    command -v go >/dev/null || { echo "Go 1.26 or newer is needed on PATH" >&2; return 1; }
    command -v rustc >/dev/null || { echo "a Rust toolchain is needed (the image's builder is made from it)" >&2; return 1; }
    go version
}

# Phases run as `if "$@"`, where errexit does not apply: every step checks its status.
up() {
    local exports
    exports="$("$ROOT/e2e/control-plane" up)" || return 1
    echo "$exports"
    eval "$exports" || return 1
    [[ -n "${KUBECONFIG:-}" ]] || { echo "control-plane up printed no KUBECONFIG" >&2; return 1; }
    export KUBECONFIG PATH
}

down() {
    "$ROOT/e2e/control-plane" down || return 1
    # Nothing of ours may outlive the run.
    local left
    left="$(pgrep -f "tidewater-e2e/(tools-|nodeagent-)" || true)"
    [[ -z "$left" ]] || { echo "processes left after down: $left" >&2; return 1; }
}

on_exit() {
    local rc=$?
    phase "control plane down" down || rc=1
    summary
    exit "$rc"
}

trap on_exit EXIT
phase "install packages" install_packages
# A run killed before its teardown left its control plane up: clear it first.
phase "clear leftovers" "$ROOT/e2e/control-plane" down
phase "build control plane and node agent" "$ROOT/e2e/control-plane" build
phase "build image (buildah)" "$ROOT/e2e/image"
phase "control plane up" up
phase "scenarios (e2e/run.sh)" "$ROOT/e2e/run.sh"
