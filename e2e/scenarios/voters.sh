# shellcheck shell=bash
# Scenario of issue 17 (item 2), sourced by e2e/run.sh, which provides `k`, `log`,
# `fail`, `wait_for DESC CMD...`, `start_paced_producer`, `wait_paced_producer`,
# `cluster_ready` (of $CLUSTER), $VERSION and $TIMEOUT.
#
# KRaft voter changes (KIP-853) on a real API server: 3 brokers and 3 dedicated
# controllers, an idempotent acks=all producer running. `spec.controllers: 5` adds
# 1003 then 1004 (each pod created, AddRaftVoter once it serves); `3` removes them
# again (RemoveRaftVoter, then the pod); `1` removes 1002 and 1001, voters the quorum
# was formed with, which every node keeps in `controller.quorum.voters`: their pods'
# DNS names stop resolving, so a broker pod deleted afterwards must start with two
# voters it cannot resolve (the broker resolves a voter when it connects to it). After
# each change the operator's status.controller.voters (DescribeQuorum) is exactly the
# spec's, QuorumResizing is False (VotersMatchSpec) and the cluster Ready; every pod
# created or removed has its Event, and every acknowledged record reads back.
#
# scenario_voters_old_release: the same cluster at 0.2.0, a release that resolves every
# voter's DNS name when it starts, so its initial voters must stay: `spec.controllers:
# 1` sends no RemoveRaftVoter, Degraded is VoterChangeBlocked naming 0.2.0 (with its
# Event), every controller pod stays, and `3` again clears it.

VOTERS_CLUSTER="${VOTERS_CLUSTER:-voters}"
# About 100 records a second: the changes take about 3 minutes here.
VOTERS_RECORDS="${VOTERS_RECORDS:-15000}"

# The manifest at version $1 (default: the version under test).
voters_manifest() {
    cat <<YAML
apiVersion: tidewater.io/v1alpha1
kind: KafkaCluster
metadata:
  name: $VOTERS_CLUSTER
  namespace: $NAMESPACE
spec:
  version: "${1:-$VERSION}"
  brokers: 3
  controllers: 3
  config:
    default.replication.factor: 3
    min.insync.replicas: 2
    num.partitions: 3
  storage:
    size: 1Gi
    deleteClaim: true
YAML
}

voters_step() {
    printf '    [%3ds] %s\n' "$((SECONDS - VOTERS_T0))" "$*"
}

# The voters the operator last read from DescribeQuorum, as "1000 1001 ...".
voters_status() {
    k get kafkacluster "$VOTERS_CLUSTER" -o jsonpath='{.status.controller.voters[*]}'
}

# The controller pods' node ids, sorted, as "1000 1001 ...".
voters_pods() {
    k get pods -l "app.kubernetes.io/instance=$VOTERS_CLUSTER,app.kubernetes.io/component=controller" \
        -o jsonpath='{range .items[*]}{.metadata.labels.tidewater\.io/node-id}{"\n"}{end}' |
        sort -n | paste -sd' '
}

# Settled on the voters $1 ("1000 1001 ..."): DescribeQuorum lists exactly them,
# QuorumResizing is False (VotersMatchSpec; $2 = "new": or absent, before any change),
# exactly their controller pods exist, and the cluster is Ready for its generation.
voters_settled() {
    local want="$1" resizing
    [[ "$(voters_status)" == "$want" ]] || return 1
    resizing="$(k get kafkacluster "$VOTERS_CLUSTER" -o jsonpath='{.status.conditions[?(@.type=="QuorumResizing")].status}/{.status.conditions[?(@.type=="QuorumResizing")].reason}')"
    [[ "$resizing" == "False/VotersMatchSpec" || ("${2:-}" == new && "$resizing" == /) ]] || return 1
    [[ "$(voters_pods)" == "$want" ]] || return 1
    cluster_ready
}

# Patches spec.controllers to $1 and waits until the voters are $2, printing each
# QuorumResizing message the operator writes on the way.
voters_change() {
    local controllers="$1" want="$2" deadline=$((SECONDS + TIMEOUT)) seen="" now
    k patch kafkacluster "$VOTERS_CLUSTER" --type merge -p "{\"spec\":{\"controllers\":$controllers}}"
    until voters_settled "$want"; do
        ((SECONDS < deadline)) || fail "timed out after ${TIMEOUT}s waiting for the voters $want"
        now="voters [$(voters_status)] pods [$(voters_pods)]: $(k get kafkacluster "$VOTERS_CLUSTER" -o jsonpath='{.status.conditions[?(@.type=="QuorumResizing")].message}')" || now="?"
        if [[ "$now" != "$seen" ]]; then
            voters_step "$now"
            seen="$now"
        fi
        sleep 1
    done
    voters_step "settled: voters [$want] (DescribeQuorum), QuorumResizing False, Ready"
}

# Notes of the cluster's Events of reason $1, one per line (of this KafkaCluster, not
# of an earlier one of the same name).
voters_events() {
    local uid
    uid="$(k get kafkacluster "$VOTERS_CLUSTER" -o jsonpath='{.metadata.uid}')" || return 1
    k get events --field-selector "reason=$1,involvedObject.uid=$uid" \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
}

voters_gone() {
    [[ -z "$(k get pods,pvc -l "app.kubernetes.io/instance=$VOTERS_CLUSTER" -o name)" ]] &&
        ! k get kafkacluster "$VOTERS_CLUSTER" >/dev/null 2>&1
}

# Creates the cluster at version $1 and waits until it is Ready on voters 1000-1002.
voters_create() {
    log "voters at $1: creating $CLUSTER (3 brokers, 3 controllers)"
    voters_manifest "$1" | k apply -f -
    wait_for "KafkaCluster $CLUSTER Ready" cluster_ready
    wait_for "the voters 1000 1001 1002" voters_settled "1000 1001 1002" new
    voters_step "Ready at $1: voters [$(voters_status)]"
}

# Deletes the cluster, waits until nothing of it is left, then logs "$1 in N s".
voters_delete() {
    log "deleting $CLUSTER"
    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    wait_for "pods and claims of $CLUSTER gone" voters_gone
    log "$1 in $((SECONDS - VOTERS_T0)) s"
}

voters_broker_replaced() {
    local uid
    uid="$(k get pod "$VOTERS_CLUSTER-broker-0" -o jsonpath='{.metadata.uid}')" || return 1
    [[ -n "$uid" && "$uid" != "$1" ]] || return 1
    [[ "$(k get pod "$VOTERS_CLUSTER-broker-0" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]] &&
        cluster_ready
}

scenario_voters() {
    local saved_cluster="$CLUSTER" topic="voters-$RANDOM" producer="voters-producer-$RANDOM"
    local id uid created removed properties
    VOTERS_T0=$SECONDS
    CLUSTER="$VOTERS_CLUSTER"
    voters_create "$VERSION"

    log "producing $VOTERS_RECORDS records (acks=all, idempotent) to $topic during the changes"
    start_paced_producer "$producer" "$topic" "$VOTERS_RECORDS"

    log "kubectl patch: spec.controllers 3 -> 5 (AddRaftVoter 1003, then 1004)"
    voters_change 5 "1000 1001 1002 1003 1004"

    log "kubectl patch: spec.controllers 5 -> 3 (RemoveRaftVoter 1004 and 1003)"
    voters_change 3 "1000 1001 1002"

    log "kubectl patch: spec.controllers 3 -> 1 (RemoveRaftVoter 1002 and 1001: initial voters)"
    voters_change 1 "1000"
    k get pods -l "app.kubernetes.io/instance=$CLUSTER" -o wide

    # Every node still lists 1001 and 1002 in controller.quorum.voters, and their pods'
    # names no longer resolve: a broker must start anyway.
    properties="$(k get configmap "$CLUSTER-broker-0-config" -o jsonpath='{.data.server\.properties}')"
    grep -q "^controller.quorum.voters=.*1001@.*1002@" <<<"$properties" ||
        fail "broker 0's config does not list the initial voters 1001 and 1002: $properties"
    log "deleting pod $CLUSTER-broker-0: it restarts with initial voters 1001 and 1002 gone"
    uid="$(k get pod "$CLUSTER-broker-0" -o jsonpath='{.metadata.uid}')"
    k delete pod "$CLUSTER-broker-0" --wait=false
    wait_for "broker 0 back (a new pod, Ready) and the cluster Ready" voters_broker_replaced "$uid"
    voters_step "broker 0 restarted with 1001 and 1002 unresolvable"

    # Read whole, then searched: `grep -q` on a pipe would fail the pipeline (pipefail)
    # whenever it stops reading before the writer is done.
    created="$(voters_events NodeCreated)"
    removed="$(voters_events NodeRemoved)"
    for id in 1003 1004; do
        grep -q "created node $id " <<<"$created" ||
            fail "no NodeCreated Event for controller $id: $created"
    done
    for id in 1001 1002 1003 1004; do
        grep -q "removed node $id " <<<"$removed" ||
            fail "no NodeRemoved Event for controller $id: $removed"
    done
    voters_step "Events: $(grep -c 'node 100' <<<"$created") NodeCreated of controllers, $(grep -c . <<<"$removed") NodeRemoved"

    wait_paced_producer "$producer" "$topic" "$VOTERS_RECORDS"
    voters_step "0 acknowledged records lost"

    voters_delete "voters passed"
    CLUSTER="$saved_cluster"
}

# Degraded's "status/reason".
voters_degraded() {
    k get kafkacluster "$VOTERS_CLUSTER" -o jsonpath='{.status.conditions[?(@.type=="Degraded")].status}/{.status.conditions[?(@.type=="Degraded")].reason}'
}

voters_blocked() {
    [[ "$(voters_degraded)" == True/VoterChangeBlocked ]]
}

voters_not_degraded() {
    [[ "$(voters_degraded)" == False/* ]]
}

scenario_voters_old_release() {
    local saved_cluster="$CLUSTER" old="${VOTERS_OLD_RELEASE:-0.2.0}" message
    VOTERS_T0=$SECONDS
    CLUSTER="$VOTERS_CLUSTER"
    voters_create "$old"

    log "kubectl patch: spec.controllers 3 -> 1 at $old (initial voters: refused)"
    k patch kafkacluster "$CLUSTER" --type merge -p '{"spec":{"controllers":1}}'
    wait_for "Degraded VoterChangeBlocked" voters_blocked
    message="$(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.conditions[?(@.type=="Degraded")].message}')"
    voters_step "Degraded VoterChangeBlocked: $message"
    # 1002 goes first, or 1001 when 1002 is the active controller (it goes last).
    grep -q "controller 100[12] is not removed.*broker version $old" <<<"$message" ||
        fail "the VoterChangeBlocked message does not name controller 1001 or 1002 and $old: $message"
    [[ -n "$(voters_events VoterChangeBlocked)" ]] || fail "no VoterChangeBlocked Event"
    [[ "$(voters_status)" == "1000 1001 1002" && "$(voters_pods)" == "1000 1001 1002" ]] ||
        fail "the voters or controller pods changed: voters [$(voters_status)] pods [$(voters_pods)]"
    voters_step "voters [$(voters_status)] and controller pods [$(voters_pods)] kept"

    log "kubectl patch: spec.controllers back to 3"
    k patch kafkacluster "$CLUSTER" --type merge -p '{"spec":{"controllers":3}}'
    wait_for "Degraded cleared" voters_not_degraded
    wait_for "Ready" cluster_ready
    voters_step "Degraded $(voters_degraded), Ready"

    voters_delete "voters at $old passed"
    CLUSTER="$saved_cluster"
}
