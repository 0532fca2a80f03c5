# shellcheck shell=bash
# Issue 12 on a real API server, sourced by e2e/run.sh before its steps: the helpers of
# `scale_to_four` (3 -> 4 brokers, then back to 3) with a producer running throughout.
# Defines no scenario_* function: scale_to_four runs them while the example cluster is
# up. Uses run.sh's `k`, `log`, `fail`, `wait_for`, `kcat_pod`, `kcat_consume`,
# `bootstrap`, `pod_finished`, `broker_zones` and $CLUSTER, $NAMESPACE, $KCAT_IMAGE.
#
# What it shows: after the scale-out the new broker holds replicas of the test topic and
# status.rebalance is Done; the scale-in drains broker 3 (which held replicas) and its
# pod is deleted only once Metadata shows it holds none; every acknowledged record of
# the producer is consumed back.

REBALANCE_THROTTLE="${REBALANCE_THROTTLE:-10485760}"   # bytes/s: generous, the topics are small

REBALANCE_RECORDS="${REBALANCE_RECORDS:-10000}"        # at about 100/s: longer than 3 -> 4 -> 3 (about 60 s here)

# replicas_per_broker [TOPIC]: "broker replicas" lines from kcat -L, a broker in
# Metadata that holds none included with 0; every topic when TOPIC is empty.
replicas_per_broker() {
    local meta
    meta="$(kcat_pod "kcat -b $(bootstrap) -L ${1:+-t $1} -m 10")"
    awk '
        /^  broker [0-9]+ at / { count[$2] += 0 }
        /^    partition [0-9]+,/ {
            if (match($0, /replicas: [0-9,]+/)) {
                n = split(substr($0, RSTART + 10, RLENGTH - 10), r, ",")
                for (i = 1; i <= n; i++) if (r[i] != "") count[r[i]]++
            }
        }
        END { for (b in count) print b, count[b] }' <<<"$meta" | sort -n
}

# rebalance_done BROKERS: status.rebalance is Done for the plan keeping BROKERS ("0,1,2").
rebalance_done() {
    [[ "$(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.rebalance.phase} {.status.rebalance.brokers}')" == "Done [$1]" ]]
}

topic_in_metadata() {
    local meta
    meta="$(kcat_pod "kcat -b $(bootstrap) -L -t $1 -m 10")" || return 1
    grep -q '^    partition 0,' <<<"$meta"
}

# The new broker holds replicas of TOPIC; the brokers of one zone differ by at most one
# replica. (Across zones max - min <= 1 cannot hold here: each partition of an RF 3
# topic keeps one replica per zone, and zone-a's share is split over brokers 0 and 3.)
check_scale_out_balance() {
    local topic="$1" counts zones
    counts="$(replicas_per_broker "$topic")"
    zones="$(broker_zones)"
    echo "replicas of $topic per broker:"
    echo "$counts"
    [[ "$(awk '$1 == 3 {print $2}' <<<"$counts")" -ge 1 ]] || fail "broker 3 holds no replica of $topic after the scale-out"
    join <(sort <<<"$counts") <(sort <<<"$zones") | awk '
        { if (!($3 in lo) || $2 < lo[$3]) lo[$3] = $2; if (!($3 in hi) || $2 > hi[$3]) hi[$3] = $2 }
        END { bad = 0; for (z in hi) { print "zone " z ": replicas per broker " lo[z] ".." hi[z]; if (hi[z] - lo[z] > 1) bad = 1 }; exit bad }' ||
        fail "replicas of $topic are not balanced within a zone"
}

# pod_deleting POD: the pod is gone or has a deletionTimestamp.
pod_deleting() {
    local d
    d="$(k get pod "$1" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null)" || return 0
    [[ -n "$d" ]]
}

# draining_3: the operator's plan drains broker 3.
draining_3() {
    [[ "$(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.rebalance.draining}')" == "[3]" ]]
}

# 4 -> 3: broker 3 is drained under the throttle, its pod deleted only once Metadata
# shows it holds nothing.
scale_in_drains_broker_3() {
    local start=$SECONDS held left
    held="$(replicas_per_broker | awk '$1 == 3 {print $2}')"
    ((held > 0)) || fail "broker 3 holds no replica before the scale-in: nothing to drain"
    log "scaling $CLUSTER back to 3 brokers: broker 3 holds $held replicas and is drained first"
    k patch kafkacluster "$CLUSTER" --type merge -p '{"spec":{"brokers":3}}'
    wait_for "a plan draining broker 3" draining_3
    echo "draining broker 3 (status.rebalance: $(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.rebalance.phase} {.status.rebalance.partitionsMoved}/{.status.rebalance.partitionsTotal}'); pod $CLUSTER-broker-3 $(pod_deleting "$CLUSTER-broker-3" && echo deleting || echo still there))"
    wait_for "pod $CLUSTER-broker-3 to be deleted" pod_deleting "$CLUSTER-broker-3"
    # Right after the delete: had it come before the drain ended, partitions would still
    # list broker 3 (offline) as a replica.
    left="$(replicas_per_broker | awk '$1 == 3 {print $2}')"
    [[ -z "$left" || "$left" == 0 ]] || fail "pod $CLUSTER-broker-3 was deleted while broker 3 still held $left replicas"
    echo "pod $CLUSTER-broker-3 deleted after $((SECONDS - start)) s, broker 3 holding no replica"
    wait_for "the scale-in rebalance Done" rebalance_done "0,1,2"
    wait_for "3 broker pods" bash -c "[[ \$(kubectl -n '$NAMESPACE' get pods -l '$(broker_selector)' -o name | wc -l) == 3 ]]"
    wait_for "KafkaCluster $CLUSTER Ready at 3 brokers" cluster_ready
    wait_for "3 brokers in Metadata" brokers_in_metadata 3
    echo "scale-in done after $((SECONDS - start)) s"
}
