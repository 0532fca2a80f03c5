#!/usr/bin/env bash
# release-bin.sh VERSION: prints the path of the tidewater-broker binary of a past
# release listed in operator/versions.yaml, building it once per machine from the
# catalog's commit of this repository.
#
# The build runs in a git worktree under ${XDG_CACHE_HOME:-$HOME/.cache}/tidewater-releases/<commit>/
# with its own CARGO_TARGET_DIR there: the workspace's target/debug/tidewater-broker is
# the current source and must never be overwritten by an old one. Only the broker binary
# is built, without debug info, to keep a cold CI run short. A flock makes parallel
# tests on a cold cache build once. Any failure exits non-zero with a message on
# stderr: the upgrade tests then fail (they must not skip).
set -euo pipefail

version="${1:?usage: release-bin.sh VERSION}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
catalog="$repo/operator/versions.yaml"

# The catalog is a flat list of `- version: ...` entries with `commit: ...` lines; read
# the commit of VERSION without a YAML parser (the format is ours and checked by a test).
commit="$(awk -v want="$version" '
    /^- version:/ { v = $3; gsub(/"/, "", v); cur = v }
    /^  commit:/ { c = $2; gsub(/"/, "", c); if (cur == want) print c }
' "$catalog")"
if [ -z "$commit" ]; then
    echo "release-bin.sh: $catalog has no commit for version $version" >&2
    exit 1
fi
commit="$(git -C "$repo" rev-parse --verify "$commit^{commit}")" || {
    echo "release-bin.sh: commit of $version is not in this repository" >&2
    exit 1
}

cache="${XDG_CACHE_HOME:-$HOME/.cache}/tidewater-releases/$commit"
bin="$cache/target/debug/tidewater-broker"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$bin" ]; then
    if [ ! -e "$cache/src/.git" ]; then
        rm -rf "$cache/src"
        git -C "$repo" worktree prune
        git -C "$repo" worktree add --detach "$cache/src" "$commit" >&2
    fi
    start=$(date +%s)
    echo "release-bin.sh: building tidewater-broker $version ($commit), once per machine" >&2
    (
        cd "$cache/src"
        CARGO_TARGET_DIR="$cache/target" CARGO_PROFILE_DEV_DEBUG=0 \
            cargo build -q -p tidewater-broker --bin tidewater-broker >&2
    )
    echo "release-bin.sh: built $version in $(( $(date +%s) - start ))s" >&2
fi
reported="$("$bin" --version)"
case "$reported" in
    *" $version") ;;
    *)
        echo "release-bin.sh: $bin reports '$reported', not $version" >&2
        exit 1
        ;;
esac
echo "$bin"
