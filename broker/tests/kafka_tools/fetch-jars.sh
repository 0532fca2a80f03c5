#!/bin/sh
# Prints the directory that holds Apache Kafka's jars (and their dependencies) at
# the version pinned in pom.xml, fetching them with Maven first when the cache
# lacks them. Jars are never committed: they live under the build cache,
# ${TIDEWATER_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidewater-kafka-jars}, with
# Maven's own local repository beside them. CI may run this once to warm the cache.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
[ -n "$version" ] || { echo "no <kafka.version> in $here/pom.xml" >&2; exit 1; }
root=${TIDEWATER_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidewater-kafka-jars}
dir="$root/$version"
mkdir -p "$root"
# Tests run in parallel and each may find the cache cold: one fetch at a time.
exec 9>"$root/.lock"
flock 9
if [ ! -f "$dir/.complete" ]; then
    # Fetch into a scratch dir and rename, so an interrupted fetch never looks complete.
    rm -rf "$dir.partial"
    mvn -q -B -f "$here/pom.xml" -Dmaven.repo.local="$root/m2" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$dir.partial" >&2
    touch "$dir.partial/.complete"
    rm -rf "$dir"
    mv "$dir.partial" "$dir"
fi
echo "$dir"
