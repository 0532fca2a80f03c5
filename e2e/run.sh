#!/usr/bin/env bash
# End-to-end scenarios on a real Kubernetes cluster, whatever KUBECONFIG points at: the
# control plane of e2e/control-plane, or kind (see e2e/README.md).
#
# Built-in steps, in order (each a function below): install the chart (two operator
# replicas, the chart's ServiceAccount and RBAC only), check that RBAC, refuse invalid
# manifests by the CRD's CEL rules, create the three-zone example and wait for Ready,
# check one broker per zone and RF 3 partitions over three racks, produce and consume
# with kcat through status.bootstrapServers, the printer columns, SIGTERM then SIGKILL
# after the grace period, delete a broker pod under load (0 acked records lost, its data kept), kill the leading operator (the other
# takes the Lease and carries on), scale to four brokers and back under load (partitions
# rebalanced, broker 3 drained before its pod goes), delete the cluster (owned
# objects garbage-collected, PVCs per the retention policy).
#
# More scenarios: every e2e/scenarios/*.sh is sourced, and each function it defines
# whose name starts with `scenario_` runs after the built-in steps, in name order (it
# gets no arguments). The example cluster has been deleted by then; a scenario creates
# what it needs (create_cluster and wait_ready apply the example again). Scenario files may use these
# helpers, whose names and meaning stay stable:
#   k ARGS...                 kubectl in the cluster's namespace ($NAMESPACE)
#   log MESSAGE               a step heading
#   fail MESSAGE              print MESSAGE, the namespace's state, and exit 1
#   wait_for WHAT CMD...      retry CMD until it succeeds, else fail after $TIMEOUT s
#   dump_state                print objects, events and the operator's log
#   kcat_pod SCRIPT           run `sh -c SCRIPT` in a kcat pod, print its output
#   kcat_produce TOPIC N [PREFIX]   produce PREFIX1..PREFIXN (acks=all), fail if any
#                             is not acknowledged
#   kcat_consume TOPIC N      print N records of TOPIC from the beginning
#   start_paced_producer POD TOPIC N   an idempotent acks=all kcat producer of N records
#                             at about 100/s in a pod, running when it returns
#   wait_paced_producer POD TOPIC N    fail unless it acknowledged all N and all N read
#                             back
#   bootstrap                 status.bootstrapServers of the cluster
#   cluster_ready             true when Ready=True for the current generation
#   broker_selector           label selector of the cluster's broker pods
# and the variables CLUSTER, NAMESPACE, OPERATOR_NAMESPACE, TIMEOUT, ROOT.
# A scenario deletes what it created.
#
# E2E_ONLY="STEP ..." runs the operator's install and only the steps named (built-in
# functions or scenario_* ones), for work on one scenario.
#
# Runs only when KUBECONFIG is set; otherwise it says so and exits 0 (exit 1 when
# E2E_REQUIRE_CLUSTER is set, as e2e/ci.sh sets it).
set -Eeuo pipefail
export LC_ALL=C   # sort and comm agree on order

if [[ -z "${KUBECONFIG:-}" ]]; then
    if [[ -n "${E2E_REQUIRE_CLUSTER:-}" ]]; then
        echo "FAILED: KUBECONFIG not set, and E2E_REQUIRE_CLUSTER says a cluster is required" >&2
        exit 1
    fi
    echo "skipped: KUBECONFIG not set (see e2e/README.md)"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ROOT/charts/tidewater-operator/Chart.yaml")"
IMAGE_REPOSITORY="${IMAGE_REPOSITORY:-ghcr.io/tidewater-io/tidewater}"
IMAGE_TAG="${IMAGE_TAG:-$VERSION}"
KCAT_IMAGE="${KCAT_IMAGE:-edenhill/kcat:1.7.1}"
OPERATOR_NAMESPACE="${OPERATOR_NAMESPACE:-tidewater-system}"
RELEASE=tidewater
OPERATOR_DEPLOYMENT="$RELEASE-tidewater-operator"
OPERATOR_SA="$RELEASE-tidewater-operator"
BROKER_IMAGE="${BROKER_IMAGE:-$IMAGE_REPOSITORY:$IMAGE_TAG}"
EXAMPLE="${EXAMPLE:-$ROOT/operator/examples/three-zones.yaml}"
# The example's own namespace, if it names one.
NAMESPACE="${NAMESPACE:-$(sed -n 's/^  namespace: *//p' "$EXAMPLE" 2>/dev/null | head -n 1)}"
NAMESPACE="${NAMESPACE:-tidewater-e2e}"
TIMEOUT="${TIMEOUT:-600}"   # seconds for each wait
CLUSTER=""                  # metadata.name of the example, set by create_cluster

log() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
FAILURE=""                  # the message of the step that failed, repeated at the end
fail() {
    printf 'FAILED: %s\n' "$*" >&2
    FAILURE="$*"
    dump_state
    DUMPED=1
    exit 1
}

# wait_for DESCRIPTION COMMAND...: retries COMMAND until it succeeds or TIMEOUT passes.
wait_for() {
    local what="$1"; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "last attempt of: $*" >&2
            "$@" >&2 || true
            fail "timed out after ${TIMEOUT}s waiting for $what"
        fi
        sleep 2
    done
}

k() { kubectl -n "$NAMESPACE" "$@"; }

# Prints what the cluster looks like; runs on any failure so the log explains it.
dump_state() {
    {
        echo "---- state of namespace $NAMESPACE ----"
        k get kafkacluster,pods,svc,pvc,cm,pdb,lease -o wide || true
        k get kafkacluster -o yaml || true
        echo "---- events of namespace $NAMESPACE ----"
        k get events --sort-by=.lastTimestamp | tail -n 60 || true
        echo "---- operator ($OPERATOR_NAMESPACE) ----"
        kubectl -n "$OPERATOR_NAMESPACE" get pods,lease -o wide || true
        local pod
        for pod in $(kubectl -n "$OPERATOR_NAMESPACE" get pods -l app.kubernetes.io/name=tidewater-operator -o name 2>/dev/null); do
            echo "---- log of $pod ----"
            kubectl -n "$OPERATOR_NAMESPACE" logs "$pod" --tail=80 || true
        done
        for pod in $(k get pods -l "$(broker_selector)" -o name 2>/dev/null); do
            echo "---- log of $pod (tail) ----"
            k logs "$pod" --tail=30 || true
        done
    } >&2
}

check_tools() {
    local tool
    for tool in kubectl helm; do
        command -v "$tool" >/dev/null || { echo "FAILED: $tool not found on PATH" >&2; exit 1; }
    done
    [[ -f "$EXAMPLE" ]] || { echo "FAILED: example cluster $EXAMPLE not found" >&2; exit 1; }
    kubectl version >/dev/null || { echo "FAILED: cannot reach the cluster of KUBECONFIG=$KUBECONFIG" >&2; exit 1; }
}

install_operator() {
    log "installing the operator chart ($IMAGE_REPOSITORY:$IMAGE_TAG, 2 replicas)"
    helm upgrade --install "$RELEASE" "$ROOT/charts/tidewater-operator" \
        --namespace "$OPERATOR_NAMESPACE" --create-namespace \
        --set image.repository="$IMAGE_REPOSITORY" \
        --set image.tag="$IMAGE_TAG" \
        --set replicas=2 \
        --wait --timeout "${TIMEOUT}s"
    kubectl get crd kafkaclusters.tidewater.io >/dev/null
    kubectl -n "$OPERATOR_NAMESPACE" get pods -o wide
}

# `kubectl auth can-i --list` of a ServiceAccount as "group/resource verb" lines,
# without what every authenticated user may do (that of a ServiceAccount with no
# binding at all).
grants_of() {
    kubectl auth can-i --list --as "system:serviceaccount:$1" -n "$2" --no-headers | python3 -c '
import re, sys
for line in sys.stdin:
    line = line.rstrip()
    # Rows of non-resource URLs start with their [url] column.
    if not line or line.startswith("["):
        continue
    verbs = re.search(r"\[([^\]]*)\]\s*$", line)
    if verbs:
        for v in verbs.group(1).split():
            print(line.split()[0], v)
' | sort -u
}

# The chart's rules rendered as the same lines.
chart_grants() {
    local ns="$1"
    helm get manifest "$RELEASE" -n "$OPERATOR_NAMESPACE" | python3 -c '
import sys, yaml
ns = sys.argv[1]
op_ns = sys.argv[2]
out = set()
for d in yaml.safe_load_all(sys.stdin):
    if not d or d.get("kind") not in ("Role", "ClusterRole"):
        continue
    if d["kind"] == "Role" and d["metadata"].get("namespace") != ns:
        continue
    for r in d.get("rules", []):
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                # As kubectl prints them: resource.group/subresource.
                base, _, sub = res.partition("/")
                name = base if g == "" else base + "." + g
                if sub:
                    name += "/" + sub
                for v in r.get("verbs", []):
                    out.add(name + " " + v)
print("\n".join(sorted(out)))
' "$ns" "$OPERATOR_NAMESPACE"
}

# Item 6 of issue 13: the operator's ServiceAccount can do exactly what the chart grants.
check_rbac() {
    log "checking the operator's RBAC (kubectl auth can-i --as its ServiceAccount)"
    local ns have base want extra missing
    for ns in "$OPERATOR_NAMESPACE" "$NAMESPACE"; do
        kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
        have="$(grants_of "$OPERATOR_NAMESPACE:$OPERATOR_SA" "$ns")"
        base="$(grants_of "$OPERATOR_NAMESPACE:e2e-nobody" "$ns")"
        want="$(chart_grants "$ns")"
        extra="$(comm -23 <(comm -23 <(echo "$have") <(echo "$base")) <(echo "$want"))"
        missing="$(comm -13 <(echo "$have") <(echo "$want"))"
        [[ -z "$extra" ]] || fail "in $ns the operator may do more than the chart grants: $extra"
        [[ -z "$missing" ]] || fail "in $ns the operator lacks what the chart grants: $missing"
        echo "namespace $ns: $(echo "$want" | grep -c .) grants, exactly those of the chart"
    done
    # Secrets (issue 14 item 8): it reads and writes the CA and certificate Secrets it
    # names, but may not enumerate, watch or delete the namespace's Secrets (its own go
    # with their owner, the KafkaCluster).
    local verb as="system:serviceaccount:$OPERATOR_NAMESPACE:$OPERATOR_SA"
    for verb in get create patch; do
        [[ "$(kubectl auth can-i "$verb" secrets -n "$NAMESPACE" --as "$as")" == yes ]] ||
            fail "the operator may not $verb secrets (its CA and certificate Secrets)"
    done
    for verb in list watch delete; do
        [[ "$(kubectl auth can-i "$verb" secrets -n "$NAMESPACE" --as "$as")" == no ]] ||
            fail "the operator may $verb secrets"
    done
}

# The example as applied: its broker image replaced by the image under test, unless the
# example pins one itself.
example_under_test() {
    if grep -q '^  image:' "$EXAMPLE"; then
        cat "$EXAMPLE"
    else
        sed "s|^spec:\$|spec:\n  image: $BROKER_IMAGE|" "$EXAMPLE"
    fi
}

# PriorityClasses the example's pod template refers to must exist, or no pod is admitted.
create_priority_classes() {
    local class
    sed -n 's/^ *priorityClassName: *//p' "$EXAMPLE" | sort -u | while read -r class; do
        kubectl create priorityclass "$class" --value=1000 --dry-run=client -o yaml | kubectl apply -f -
    done
}

# kubectl apply must fail with MESSAGE and create nothing.
expect_refused() {
    local what="$1" message="$2" manifest="$3" out
    if out="$(k apply -f - <<<"$manifest" 2>&1)"; then
        fail "an invalid KafkaCluster ($what) was accepted: $out"
    fi
    grep -qF "$message" <<<"$out" || fail "refusal of $what does not say '$message': $out"
    [[ -z "$(k get kafkacluster e2e-invalid -o name --ignore-not-found)" ]] ||
        fail "the refused KafkaCluster ($what) exists"
    echo "refused ($what): $(grep -oF "$message" <<<"$out" | head -n 1)"
}

check_cel_rules() {
    log "invalid KafkaClusters are refused by the CRD's CEL rules"
    local head="apiVersion: tidewater.io/v1alpha1
kind: KafkaCluster
metadata:
  name: e2e-invalid
spec:
  version: 0.2.0"
    expect_refused "even controller count" "spec.controllers must be 0 (combined mode) or an odd number" \
        "$head
  brokers: 3
  controllers: 2"
    expect_refused "more zones than brokers" "spec.rack.zones lists more zones than there are brokers" \
        "$head
  brokers: 1
  rack:
    zones: [zone-a, zone-b]"
}

create_cluster() {
    log "creating the example cluster from $EXAMPLE in namespace $NAMESPACE (image $BROKER_IMAGE)"
    kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
    create_priority_classes
    CLUSTER="$(example_under_test | k apply -f - -o jsonpath='{.metadata.name}')"
    [[ -n "$CLUSTER" ]] || fail "could not read the cluster name from $EXAMPLE"
    echo "cluster: $CLUSTER"
}

# Ready=True for the current generation, not a stale one from before a spec change.
cluster_ready() {
    local gen observed ready
    gen="$(k get kafkacluster "$CLUSTER" -o jsonpath='{.metadata.generation}')"
    observed="$(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.observedGeneration}')"
    ready="$(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
    [[ "$ready" == "True" && "$observed" == "$gen" ]]
}

wait_ready() {
    log "waiting for $CLUSTER to be Ready (kubectl wait --for=condition=Ready)"
    local start=$SECONDS
    k wait "kafkacluster/$CLUSTER" --for=condition=Ready --timeout="${TIMEOUT}s" >/dev/null ||
        fail "KafkaCluster $CLUSTER did not become Ready"
    wait_for "KafkaCluster $CLUSTER Ready for its generation" cluster_ready
    echo "Ready after $((SECONDS - start)) s"
}

# status.bootstrapServers, as the operator published it.
bootstrap() {
    k get kafkacluster "$CLUSTER" -o jsonpath='{.status.bootstrapServers}'
}

pod_finished() {
    local phase
    phase="$(k get pod "$1" -o jsonpath='{.status.phase}')"
    [[ "$phase" == "Succeeded" || "$phase" == "Failed" ]]
}

# start_paced_producer POD TOPIC N: an idempotent acks=all producer of load-1 .. load-N
# (about 100 records/s) in a kcat pod, running when this returns; kcat exits non-zero
# when a record is not acknowledged. (The e2e node agent has no exec: the producer
# stops by itself.)
start_paced_producer() {
    local pod="$1" topic="$2" count="$3"
    # shellcheck disable=SC2016  # expanded by the pod's sh
    local script='i=0; while [ $i -lt "$3" ]; do i=$((i+1)); echo "load-$i"; case $i in *00) sleep 1;; esac; done | kcat -b "$1" -P -t "$2" -X acks=all -X message.timeout.ms=300000 -X enable.idempotence=true'
    k run "$pod" --image="$KCAT_IMAGE" --restart=Never --command -- sh -c "$script" sh "$(bootstrap)" "$topic" "$count" >/dev/null
    wait_for "producer $pod running" bash -c "[[ \$(kubectl -n '$NAMESPACE' get pod '$pod' -o jsonpath='{.status.phase}') == Running ]]"
}

# wait_paced_producer POD TOPIC N: requires every record of start_paced_producer
# acknowledged, and every one of them consumed back.
wait_paced_producer() {
    local pod="$1" topic="$2" count="$3" phase received
    wait_for "producer $pod to finish" pod_finished "$pod"
    phase="$(k get pod "$pod" -o jsonpath='{.status.phase}')"
    [[ "$phase" == Succeeded ]] ||
        fail "producer $pod: not every record was acknowledged ($phase): $(k logs "$pod" 2>&1 |
            grep -v 'Disconnected\|Connection refused\|Connect to ' | tail -6 | tr '\n' ' ')"
    k delete pod "$pod" --wait=false >/dev/null
    received="$(kcat_consume "$topic" "$count" | grep '^load-' | sort -u | grep -c .)"
    ((received == count)) || fail "$received of $count acknowledged records consumed back"
    echo "all $count acknowledged records of $topic consumed back (0 lost)"
}

# kcat_pod SCRIPT: runs `sh -c SCRIPT` to completion in a pod of the kcat image, in the
# cluster's namespace, and prints its output. Output is read from the finished pod's
# log rather than an attached terminal, which can miss what a fast command prints.
kcat_pod() {
    local name="kcat-$RANDOM$RANDOM" phase
    k run "$name" --image="$KCAT_IMAGE" --restart=Never --command -- sh -c "$1" >/dev/null
    wait_for "kcat pod $name to finish" pod_finished "$name"
    phase="$(k get pod "$name" -o jsonpath='{.status.phase}')"
    if [[ "$phase" == "Succeeded" ]]; then
        k logs "$name"
        k delete pod "$name" --wait=false >/dev/null
        return
    fi
    # Callers capture stdout: what kcat said goes to stderr, where the log keeps it.
    echo "---- log of kcat pod $name ----" >&2
    k logs "$name" >&2 || true
    k delete pod "$name" --wait=false >/dev/null
    fail "kcat pod $name ended $phase running: $1"
}

# kcat_produce TOPIC COUNT [PREFIX]: every record acknowledged by all in-sync replicas,
# or the pod fails (kcat exits non-zero when a delivery fails).
kcat_produce() {
    local topic="$1" count="$2" prefix="${3:-msg-}"
    kcat_pod "seq 1 $count | sed 's/^/$prefix/' | kcat -b $(bootstrap) -P -t $topic -X acks=all -X message.timeout.ms=120000 -X enable.idempotence=true"
}

kcat_consume() {
    local topic="$1" count="$2"
    kcat_pod "kcat -b $(bootstrap) -C -t $topic -o beginning -c $count -e -q"
}

produce_consume() {
    local topic="e2e-$RANDOM" count=100 received expected
    log "producing $count messages to $topic through status.bootstrapServers ($(bootstrap))"
    kcat_produce "$topic" "$count"
    log "consuming them back"
    received="$(kcat_consume "$topic" "$count")"
    expected="$(seq 1 "$count" | sed 's/^/msg-/' | sort)"
    [[ "$(sort <<<"$received")" == "$expected" ]] ||
        fail "consumed messages differ from produced ones: $(diff <(echo "$expected") <(sort <<<"$received") | head -5)"
    echo "all $count messages came back"
}

broker_selector() {
    echo "app.kubernetes.io/instance=$CLUSTER,app.kubernetes.io/component=broker"
}

# broker id -> zone of the node its pod runs on, as "id zone" lines.
broker_zones() {
    local pod node id
    for pod in $(k get pods -l "$(broker_selector)" -o jsonpath='{.items[*].metadata.name}'); do
        node="$(k get pod "$pod" -o jsonpath='{.spec.nodeName}')"
        id="${pod##*-}"
        echo "$id $(kubectl get node "$node" -o jsonpath='{.metadata.labels.topology\.kubernetes\.io/zone}')"
    done
}

check_zones() {
    log "checking one broker per zone and RF 3 partitions over three racks"
    local zones distinct
    zones="$(broker_zones)"
    echo "$zones"
    distinct="$(awk '{print $2}' <<<"$zones" | sort -u | grep -c .)"
    ((distinct == 3)) || fail "brokers run in $distinct zone(s), want 3"
    # Each broker's broker.rack is the zone its pod was placed in.
    local id zone rack
    while read -r id zone; do
        rack="$(k get cm -l "app.kubernetes.io/instance=$CLUSTER" -o json | python3 -c '
import json, sys
want = sys.argv[1]
for cm in json.load(sys.stdin)["items"]:
    props = cm.get("data", {}).get("server.properties", "")
    kv = dict(l.split("=", 1) for l in props.splitlines() if "=" in l and not l.startswith("#"))
    if kv.get("node.id") == want:
        print(kv.get("broker.rack", ""))
' "$id")"
        [[ "$rack" == "$zone" ]] || fail "broker $id runs in zone $zone but has broker.rack '$rack'"
    done <<<"$zones"
    # An RF 3 topic: every partition on three distinct brokers, hence three racks.
    local topic="e2e-racks-$RANDOM" meta
    kcat_produce "$topic" 10 >/dev/null
    meta="$(kcat_pod "kcat -b $(bootstrap) -L -t $topic")"
    echo "$meta" | grep 'partition '
    python3 -c '
import re, sys
zones = dict(l.split() for l in sys.argv[1].splitlines())
parts = re.findall(r"partition \d+, leader \d+, replicas: ([\d,]+)", sys.stdin.read())
assert parts, "no partitions in the metadata"
for reps in parts:
    ids = reps.strip(",").split(",")
    racks = {zones[r] for r in ids}
    assert len(ids) == 3 and len(racks) == 3, (reps, racks)
print(f"{len(parts)} partitions, each on 3 racks")
' "$zones" <<<"$meta" || fail "a partition of $topic is not on three racks"
}

check_printer_columns() {
    log "kubectl get kafka (printer columns)"
    local out
    out="$(k get kafka)"
    echo "$out"
    local col
    for col in NAME VERSION BROKERS READY REASON AGE; do
        head -n 1 <<<"$out" | grep -qw "$col" || fail "kubectl get kafka has no $col column"
    done
    # Columns by their header's position: a column may be empty (no upgrade running).
    awk -v c="$CLUSTER" '
        NR == 1 { p = 1; for (i = 1; i <= NF; i++) { p += index(substr($0, p), $i) - 1; pos[$i] = p; p += length($i) }; next }
        function col(name,   f) { split(substr($0, pos[name]), f, " "); return f[1] }
        col("NAME") == c && col("BROKERS") ~ /^[0-9]+$/ && col("READY") == "True" { ok = 1 }
        END { exit !ok }' <<<"$out" ||
        fail "kubectl get kafka does not show $CLUSTER Ready with its broker count"
}

# The disruption controller can compute the budget (an integer minAvailable; the
# KafkaCluster owning the pods has no scale subresource) and allows one node to go.
pdb_allows_one_disruption() {
    log "PodDisruptionBudget allows exactly one disruption"
    local pdb="$CLUSTER-kafka"
    wait_for "$pdb to allow one disruption" \
        test "$(k get pdb "$pdb" -o jsonpath='{.status.disruptionsAllowed}')" = 1
}

# The nodes stop a pod as a kubelet does: SIGTERM, then SIGKILL once
# terminationGracePeriodSeconds have passed (a pod that ignores SIGTERM takes the whole
# grace, one that exits on it does not).
grace_period_enforced() {
    log "pods get SIGTERM, then SIGKILL after terminationGracePeriodSeconds"
    local name trap start took
    for name in ignores-term exits-on-term; do
        trap='trap "exit 0" TERM'
        [[ "$name" == ignores-term ]] && trap='trap "" TERM'
        k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $name}
spec:
  terminationGracePeriodSeconds: 6
  containers:
    - name: c
      image: $KCAT_IMAGE
      command: [sh, -c, '$trap; while true; do sleep 0.2; done']
YAML
        k wait "pod/$name" --for=condition=Ready --timeout="${TIMEOUT}s" >/dev/null
        start=$SECONDS
        k delete pod "$name" --timeout=60s >/dev/null
        took=$((SECONDS - start))
        echo "$name: gone after ${took} s"
        if [[ "$name" == ignores-term ]]; then
            ((took >= 5 && took <= 30)) || fail "a pod ignoring SIGTERM went after ${took} s, not about its 6 s grace"
        else
            ((took <= 4)) || fail "a pod exiting on SIGTERM took ${took} s to go"
        fi
    done
}

# Delete a broker pod while a producer runs: it comes back on its claim, and every
# acknowledged record is there.
broker_pod_deleted_under_load() {
    log "deleting a broker pod under load"
    local topic="e2e-load-$RANDOM" count=20000 victim claim uid before
    victim="$(k get pods -l "$(broker_selector)" -o jsonpath='{.items[1].metadata.name}')"
    uid="$(k get pod "$victim" -o jsonpath='{.metadata.uid}')"
    claim="$(k get pod "$victim" -o jsonpath='{.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}')"
    before="$(k get pvc "$claim" -o jsonpath='{.spec.volumeName}')"
    local producer="producer-$RANDOM"
    # Slow enough to be still producing when the broker goes (about 20 s of records).
    k run "$producer" --image="$KCAT_IMAGE" --restart=Never --command -- sh -c \
        "seq 1 $count | sed 's/^/load-/' | while read -r l; do echo \$l; case \$l in *000) sleep 1;; esac; done |
         kcat -b $(bootstrap) -P -t $topic -X acks=all -X message.timeout.ms=180000 -X enable.idempotence=true" >/dev/null
    wait_for "producer $producer running" bash -c "[[ \$(kubectl -n '$NAMESPACE' get pod '$producer' -o jsonpath='{.status.phase}') == Running ]]"
    sleep 5
    echo "deleting $victim (claim $claim, volume $before) while $producer produces"
    k delete pod "$victim" --wait=false
    # One read of the uid: two reads could see the old pod, then none (gone, not yet
    # re-created), and an empty uid differs from the old one too.
    wait_for "$victim replaced" bash -c "u=\$(kubectl -n '$NAMESPACE' get pod '$victim' -o jsonpath='{.metadata.uid}'); [[ -n \$u && \$u != '$uid' ]]"
    k wait "pod/$victim" --for=condition=Ready --timeout="${TIMEOUT}s" >/dev/null || fail "$victim did not come back Ready"
    [[ "$(k get pvc "$claim" -o jsonpath='{.spec.volumeName}')" == "$before" ]] ||
        fail "$victim came back on another volume"
    wait_for "producer $producer to finish" pod_finished "$producer"
    local phase
    phase="$(k get pod "$producer" -o jsonpath='{.status.phase}')"
    [[ "$phase" == Succeeded ]] ||
        fail "producer $producer: not every record was acknowledged ($phase): $(k logs "$producer" 2>&1 | tail -3 | tr '\n' ' ')"
    k delete pod "$producer" --wait=false >/dev/null
    wait_for "KafkaCluster $CLUSTER Ready again" cluster_ready
    local received missing
    received="$(kcat_consume "$topic" "$count" | sort -u | grep -c '^load-')"
    ((received == count)) || fail "$received of $count acknowledged records consumed back"
    echo "$victim came back on volume $before; all $count acknowledged records consumed back"
}

lease_holder() {
    kubectl -n "$OPERATOR_NAMESPACE" get lease tidewater-operator -o jsonpath='{.spec.holderIdentity}'
}

# Kill the operator replica holding the Lease: the other takes it and reconciles.
operator_failover() {
    log "killing the leading operator replica"
    local leader
    wait_for "an operator holding the Lease" bash -c "[[ -n \$(kubectl -n '$OPERATOR_NAMESPACE' get lease tidewater-operator -o jsonpath='{.spec.holderIdentity}') ]]"
    leader="$(lease_holder)"
    kubectl -n "$OPERATOR_NAMESPACE" get pod "$leader" >/dev/null || fail "the Lease holder $leader is not an operator pod"
    echo "leader: $leader"
    kubectl -n "$OPERATOR_NAMESPACE" delete pod "$leader" --grace-period=0 --force >/dev/null 2>&1
    local start=$SECONDS
    wait_for "another replica to take the Lease" bash -c "h=\$(kubectl -n '$OPERATOR_NAMESPACE' get lease tidewater-operator -o jsonpath='{.spec.holderIdentity}'); [[ -n \$h && \$h != '$leader' ]]"
    echo "new leader: $(lease_holder) after $((SECONDS - start)) s"
    # It carries on: an owned object removed behind its back is put back.
    k delete svc "$CLUSTER-bootstrap" --wait=true >/dev/null
    wait_for "the new leader to recreate $CLUSTER-bootstrap" k get svc "$CLUSTER-bootstrap"
    wait_for "KafkaCluster $CLUSTER Ready" cluster_ready
    kubectl -n "$OPERATOR_NAMESPACE" rollout status "deployment/$OPERATOR_DEPLOYMENT" --timeout="${TIMEOUT}s"
}

brokers_in_metadata() {
    local want="$1"
    [[ "$(kcat_pod "kcat -b $(bootstrap) -L -m 10" | grep -c '^  broker ')" == "$want" ]]
}

# 3 -> 4 -> 3 brokers under load (issue 12; helpers in e2e/scenarios/rebalance.sh): the
# new broker gets replicas and status.rebalance ends Done; the scale-in drains broker 3
# before its pod goes; the producer running throughout loses no acknowledged record.
scale_to_four() {
    local topic="e2e-rebalance-$RANDOM" producer="rebalance-producer-$RANDOM" start=$SECONDS
    log "producing to $topic for the whole scale-out and scale-in"
    start_paced_producer "$producer" "$topic" "$REBALANCE_RECORDS"
    wait_for "topic $topic in Metadata" topic_in_metadata "$topic"
    log "scaling $CLUSTER to 4 brokers (rebalance throttled at $REBALANCE_THROTTLE bytes/s)"
    k patch kafkacluster "$CLUSTER" --type merge -p "{\"spec\":{\"brokers\":4,\"rebalance\":{\"throttleBytesPerSecond\":$REBALANCE_THROTTLE}}}"
    wait_for "4 broker pods" bash -c "[[ \$(kubectl -n '$NAMESPACE' get pods -l '$(broker_selector)' -o name | wc -l) == 4 ]]"
    wait_for "KafkaCluster $CLUSTER Ready at 4 brokers" cluster_ready
    wait_for "4 brokers in Metadata" brokers_in_metadata 4
    wait_for "the scale-out rebalance Done" rebalance_done "0,1,2,3"
    echo "scale-out rebalanced after $((SECONDS - start)) s: $(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.rebalance.partitionsMoved} partitions, {.status.rebalance.bytesMoved} bytes moved')"
    check_scale_out_balance "$topic"
    produce_consume
    scale_in_drains_broker_3
    [[ "$(k get pod "$producer" -o jsonpath='{.status.phase}')" == Running ]] ||
        echo "note: producer $producer ended before the scale-in did"
    wait_paced_producer "$producer" "$topic" "$REBALANCE_RECORDS"
    echo "3 -> 4 -> 3 under load in $((SECONDS - start)) s"
}

owned_objects() {
    k get pods,svc,cm,pdb -l "app.kubernetes.io/instance=$CLUSTER" -o name
}

claims() {
    k get pvc -l "app.kubernetes.io/instance=$CLUSTER" -o name
}

no_owned_objects() {
    [[ -z "$(owned_objects)" ]]
}

# Claims are kept when the KafkaCluster is deleted unless spec.storage.deleteClaim is
# true (issue 21); a CRD without that field predates the policy: claims are owned and
# garbage-collected with the rest.
delete_cluster() {
    log "deleting $CLUSTER"
    local policy keep=false n
    policy="$(kubectl get crd kafkaclusters.tidewater.io -o jsonpath='{.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.storage.properties.deleteClaim.type}')"
    if [[ -n "$policy" && "$(k get kafkacluster "$CLUSTER" -o jsonpath='{.spec.storage.deleteClaim}')" != true ]]; then
        keep=true
    fi
    n="$(claims | grep -c . || true)"
    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    wait_for "no pods, services, config maps or PDBs left of $CLUSTER" no_owned_objects
    if [[ "$keep" == true ]]; then
        sleep 5
        [[ "$(claims | grep -c . || true)" == "$n" ]] || fail "deleting $CLUSTER removed claims the retention policy keeps"
        echo "nothing owned left; $n claims kept (spec.storage.deleteClaim is not true)"
        k delete pvc -l "app.kubernetes.io/instance=$CLUSTER" --wait=false >/dev/null
    else
        wait_for "the claims of $CLUSTER to be deleted" bash -c "[[ -z \$(kubectl -n '$NAMESPACE' get pvc -l 'app.kubernetes.io/instance=$CLUSTER' -o name) ]]"
        echo "nothing left of $CLUSTER, its $n claims included"
    fi
}

# Helpers of scale_to_four (issue 12).
# shellcheck source=e2e/scenarios/rebalance.sh
source "$ROOT/e2e/scenarios/rebalance.sh"

source_scenarios() {
    local f
    for f in "$ROOT"/e2e/scenarios/*.sh; do
        [[ -e "$f" ]] || continue
        # shellcheck source=/dev/null
        source "$f"
    done
}

# Functions named scenario_* from e2e/scenarios/*.sh, in name order.
run_extra_scenarios() {
    local s
    source_scenarios
    for s in $(declare -F | awk '$3 ~ /^scenario_/ {print $3}' | sort); do
        log "scenario $s"
        step "$s"
    done
}

PASSED=0
# step FUNCTION: runs one step and counts it.
step() {
    CURRENT_STEP="$*"
    "$@"
    PASSED=$((PASSED + 1))
}

on_exit() {
    local status=$?
    if ((status != 0)); then
        ((DUMPED)) || dump_state
        echo "e2e: $PASSED passed, 1 failed: ${CURRENT_STEP:-?}${FAILURE:+: $FAILURE}"
    fi
}

main() {
    check_tools
    local start=$SECONDS
    # Whatever fails from here on, the log ends with what the cluster looked like.
    DUMPED=0
    trap on_exit EXIT
    step install_operator
    if [[ -n "${E2E_ONLY:-}" ]]; then
        # While working on a step: only the operator and the steps named, e.g.
        # E2E_ONLY=scenario_rack_roll e2e/run.sh (never set by e2e/ci.sh).
        source_scenarios
        kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
        local only
        for only in $E2E_ONLY; do
            log "step $only (E2E_ONLY)"
            step "$only"
        done
        echo "e2e: $PASSED passed, 0 failed (E2E_ONLY: $E2E_ONLY)"
        return
    fi
    step check_rbac
    step check_cel_rules
    step create_cluster
    step wait_ready
    step check_zones
    step produce_consume
    step check_printer_columns
    step pdb_allows_one_disruption
    step grace_period_enforced
    step broker_pod_deleted_under_load
    step operator_failover
    step scale_to_four
    step delete_cluster
    run_extra_scenarios
    log "e2e passed in $((SECONDS - start)) s"
    echo "e2e: $PASSED passed, 0 failed"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
