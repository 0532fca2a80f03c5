# shellcheck shell=bash
# Scenario of issue 11 (items 6 and 9), sourced by e2e/run.sh, which provides `k`, `log`,
# `fail`, `wait_for DESC CMD...`, `start_paced_producer`, `wait_paced_producer`,
# `cluster_ready` (of $CLUSTER), $VERSION and $TIMEOUT.
#
# A rack-parallel roll on a real API server: 6 brokers over zones a, b, c (broker i in
# zone i mod 3, so a zone holds brokers i and i+3) and 3 dedicated controllers, with
# `spec.rollout.parallelRacks`; an idempotent acks=all producer runs while a static
# config key changes. The operator restarts the controllers one at a time, then each
# zone's two brokers together: for each zone step it narrows the PodDisruptionBudget to
# exactly that zone's pods (Event DisruptionBudgetLowered naming them), the two pods are
# evicted and down at the same time, and the normal budget (one node at a time, no step
# annotation) comes back once they are Ready (DisruptionBudgetRestored). Every pod is
# replaced once and every acknowledged record reads back.

RACK_CLUSTER="${RACK_CLUSTER:-racks}"
# About 100 records a second (80 s): longer than the roll (about 50 s here).
RACK_RECORDS="${RACK_RECORDS:-8000}"

rack_manifest() {
    cat <<YAML
apiVersion: tidewater.io/v1alpha1
kind: KafkaCluster
metadata:
  name: $RACK_CLUSTER
  namespace: $NAMESPACE
spec:
  version: "$VERSION"
  brokers: 6
  controllers: 3
  rack:
    topologyKey: topology.kubernetes.io/zone
    zones: [zone-a, zone-b, zone-c]
  rollout:
    parallelRacks: true
  config:
    default.replication.factor: 3
    min.insync.replicas: 2
    num.partitions: $1
  storage:
    size: 1Gi
    deleteClaim: true
YAML
}

rack_step() {
    printf '    [%3ds] %s\n' "$((SECONDS - RACK_T0))" "$*"
}

rack_selector() {
    echo "app.kubernetes.io/instance=$RACK_CLUSTER,app.kubernetes.io/component=$1"
}

# "pod uid" of each pod of the cluster.
rack_uids() {
    k get pods -l "app.kubernetes.io/instance=$RACK_CLUSTER" \
        -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}' | sort
}

# Node ids of the broker pods that are not Ready now (missing and terminating ones
# included: a deleted pod keeps its Ready condition until its process stops), sorted.
rack_down() {
    local ready
    ready="$(k get pods -l "$(rack_selector broker)" -o jsonpath='{range .items[*]}{.metadata.labels.tidewater\.io/node-id}={.status.conditions[?(@.type=="Ready")].status}{.metadata.deletionTimestamp}{"\n"}{end}')" || return 1
    local id
    for id in 0 1 2 3 4 5; do
        grep -qx "$id=True" <<<"$ready" || echo "$id"
    done
}

# Every pod of the cluster differs from $1 (a `rack_uids` listing) and is Ready, and the
# cluster is Ready for its generation.
rack_all_replaced() {
    local before="$1" now name
    now="$(rack_uids)"
    [[ "$(grep -c . <<<"$now")" == 9 ]] || return 1
    for name in $(awk '{print $1}' <<<"$before"); do
        [[ "$(awk -v n="$name" '$1 == n {print $2}' <<<"$before")" != "$(awk -v n="$name" '$1 == n {print $2}' <<<"$now")" ]] || return 1
    done
    cluster_ready
}

# Notes of the cluster's Events of reason $1, one per line.
rack_events() {
    k get events --field-selector "reason=$1,involvedObject.name=$RACK_CLUSTER" \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
}

# The budget is the normal one: every node but one, over every pod, no step annotation.
rack_budget_normal() {
    local pdb="$RACK_CLUSTER-kafka"
    [[ "$(k get pdb "$pdb" -o jsonpath='{.spec.minAvailable} {.spec.selector.matchExpressions} {.metadata.annotations.tidewater\.io/rack-step}')" == "8  " ]] &&
        [[ "$(k get pdb "$pdb" -o jsonpath='{.status.disruptionsAllowed}')" == 1 ]]
}

rack_gone() {
    [[ -z "$(k get pods,pvc -l "app.kubernetes.io/instance=$RACK_CLUSTER" -o name)" ]] &&
        ! k get kafkacluster "$RACK_CLUSTER" >/dev/null 2>&1
}

scenario_rack_roll() {
    local saved_cluster="$CLUSTER" topic="racks-$RANDOM" producer="racks-producer-$RANDOM"
    local before roll_start roll_secs down step_note pairs="" budgets="" zone
    RACK_T0=$SECONDS
    CLUSTER="$RACK_CLUSTER"
    log "rack roll: creating $CLUSTER (6 brokers in 3 zones, 3 controllers, parallelRacks)"
    rack_manifest 6 | k apply -f -
    wait_for "KafkaCluster $CLUSTER Ready" cluster_ready
    wait_for "the normal budget" rack_budget_normal
    before="$(rack_uids)"
    k get pods -l "app.kubernetes.io/instance=$CLUSTER" -o wide
    rack_step "Ready: 9 pods"

    log "producing $RACK_RECORDS records (acks=all, idempotent) to $topic during the roll"
    start_paced_producer "$producer" "$topic" "$RACK_RECORDS"

    log "kubectl patch: num.partitions 6 -> 7 (a static key: a roll)"
    k patch kafkacluster "$CLUSTER" --type merge -p '{"spec":{"config":{"num.partitions":7}}}'
    roll_start=$SECONDS
    # Record which brokers are down together and which step the budget names, as they
    # change: a zone's two brokers must be seen down at the same time.
    local deadline=$((SECONDS + TIMEOUT)) seen_down="" seen_budget=""
    until rack_all_replaced "$before"; do
        ((SECONDS < deadline)) || fail "timed out after ${TIMEOUT}s waiting for every pod to be replaced"
        down="$(rack_down | tr '\n' ' ')" || down="?"
        step_note="$(k get pdb "$CLUSTER-kafka" -o jsonpath='{.metadata.annotations.tidewater\.io/rack-step}' 2>/dev/null || true)"
        if [[ "$down" != "$seen_down" || "$step_note" != "$seen_budget" ]]; then
            rack_step "brokers not Ready: [${down% }], budget step: [${step_note}]"
            seen_down="$down"
            seen_budget="$step_note"
            pairs+="${down% };"
            [[ -n "$step_note" ]] && budgets+="$step_note;"
        fi
        sleep 1
    done
    roll_secs=$((SECONDS - roll_start))
    rack_step "every pod replaced after ${roll_secs} s"
    k get pods -l "app.kubernetes.io/instance=$CLUSTER" -o wide

    # Each zone's brokers went down together, under a budget narrowed to exactly them.
    # The Events are read whole, then searched: `grep -q` on the kubectl pipe failed the
    # pipeline (pipefail, SIGPIPE) when it matched the first line before kubectl was done.
    local lowered
    lowered="$(rack_events DisruptionBudgetLowered)"
    for zone in "0 3" "1 4" "2 5"; do
        grep -q ";$zone;\|^$zone;" <<<";$pairs" ||
            fail "brokers $zone (one zone) were never down together; down sets seen: $pairs"
        grep -q "${zone/ /,}" <<<"$budgets" ||
            fail "the budget was never narrowed to brokers ${zone/ /,}; steps seen: $budgets"
        grep -q "lets only nodes ${zone/ /, } go" <<<"$lowered" ||
            fail "no DisruptionBudgetLowered Event for brokers ${zone/ /, }: $lowered"
    done
    # Never two brokers of different zones down at once.
    awk -v RS=';' 'NF > 1 { for (i = 2; i <= NF; i++) if ($i % 3 != $1 % 3) bad = 1 } END { exit bad }' <<<"$pairs" ||
        fail "brokers of different zones were down together; down sets seen: $pairs"
    rack_step "zones went one at a time, each zone's two brokers together: $pairs"
    wait_for "the normal budget back (minAvailable 8, no step)" rack_budget_normal
    [[ -n "$(rack_events DisruptionBudgetRestored)" ]] ||
        fail "no DisruptionBudgetRestored Event"
    rack_step "budget restored: $(rack_events DisruptionBudgetRestored | tail -1)"

    wait_paced_producer "$producer" "$topic" "$RACK_RECORDS"
    rack_step "0 acknowledged records lost"

    log "deleting $CLUSTER"
    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    wait_for "pods and claims of $CLUSTER gone" rack_gone
    log "rack roll passed in $((SECONDS - RACK_T0)) s (roll ${roll_secs} s)"
    CLUSTER="$saved_cluster"
}
