#!/usr/bin/env bash
# End-to-end scenario on a real Kubernetes cluster (see e2e/README.md):
# install the operator chart, create the three-broker example cluster, wait for Ready,
# produce and consume through the bootstrap Service with kcat in a pod, check the
# brokers spread over three zones, scale to four brokers, delete the cluster and check
# that nothing it owned is left behind.
#
# Runs only when KUBECONFIG is set; otherwise it says so and exits 0.
set -Eeuo pipefail

if [[ -z "${KUBECONFIG:-}" ]]; then
    echo "skipped: KUBECONFIG not set (see e2e/README.md to run on kind)"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ROOT/charts/tidewater-operator/Chart.yaml")"
IMAGE_REPOSITORY="${IMAGE_REPOSITORY:-ghcr.io/tidewater-io/tidewater}"
IMAGE_TAG="${IMAGE_TAG:-$VERSION}"
KCAT_IMAGE="${KCAT_IMAGE:-edenhill/kcat:1.7.1}"
OPERATOR_NAMESPACE="${OPERATOR_NAMESPACE:-tidewater-system}"
BROKER_IMAGE="${BROKER_IMAGE:-$IMAGE_REPOSITORY:$IMAGE_TAG}"
# The three-broker, three-zone example of operator/examples.
if [[ -z "${EXAMPLE:-}" ]]; then
    for EXAMPLE in "$ROOT"/operator/examples/{three-brokers,three-zones}.yaml; do
        [[ -f "$EXAMPLE" ]] && break
    done
fi
# The example's own namespace, if it names one.
NAMESPACE="${NAMESPACE:-$(sed -n 's/^  namespace: *//p' "$EXAMPLE" 2>/dev/null | head -n 1)}"
NAMESPACE="${NAMESPACE:-tidewater-e2e}"
TIMEOUT="${TIMEOUT:-600}"   # seconds for each wait
CLUSTER=""                  # metadata.name of the example, set by create_cluster

log() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

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
    echo "---- state of namespace $NAMESPACE ----" >&2
    k get kafkacluster,pods,svc,pvc,cm,pdb -o wide >&2 || true
    k get kafkacluster -o yaml >&2 || true
    kubectl -n "$OPERATOR_NAMESPACE" logs deployment/tidewater-tidewater-operator --tail=100 >&2 || true
}

check_tools() {
    local tool
    for tool in kubectl helm; do
        command -v "$tool" >/dev/null || fail "$tool not found on PATH"
    done
    [[ -f "$EXAMPLE" ]] || fail "example cluster $EXAMPLE not found"
    kubectl version >/dev/null || fail "cannot reach the cluster of KUBECONFIG=$KUBECONFIG"
}

install_operator() {
    log "installing the operator chart ($IMAGE_REPOSITORY:$IMAGE_TAG)"
    helm upgrade --install tidewater "$ROOT/charts/tidewater-operator" \
        --namespace "$OPERATOR_NAMESPACE" --create-namespace \
        --set image.repository="$IMAGE_REPOSITORY" \
        --set image.tag="$IMAGE_TAG" \
        --wait --timeout "${TIMEOUT}s"
    kubectl get crd kafkaclusters.tidewater.io >/dev/null
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
    log "waiting for $CLUSTER to be Ready"
    wait_for "KafkaCluster $CLUSTER Ready" cluster_ready
    k get kafkacluster "$CLUSTER"
}

bootstrap() {
    local port
    port="$(k get svc "$CLUSTER-bootstrap" -o jsonpath='{.spec.ports[?(@.name=="kafka")].port}')"
    echo "$CLUSTER-bootstrap.$NAMESPACE.svc:$port"
}

pod_finished() {
    local phase
    phase="$(k get pod "$1" -o jsonpath='{.status.phase}')"
    [[ "$phase" == "Succeeded" || "$phase" == "Failed" ]]
}

# kcat_pod SCRIPT: runs `sh -c SCRIPT` to completion in a pod of the kcat image, in the
# cluster's namespace, and prints its output. Output is read from the finished pod's
# log rather than an attached terminal, which can miss what a fast command prints.
kcat_pod() {
    local name="kcat-$RANDOM$RANDOM" phase
    k run "$name" --image="$KCAT_IMAGE" --restart=Never --command -- sh -c "$1" >/dev/null
    wait_for "kcat pod $name to finish" pod_finished "$name"
    phase="$(k get pod "$name" -o jsonpath='{.status.phase}')"
    k logs "$name"
    k delete pod "$name" --wait=false >/dev/null
    [[ "$phase" == "Succeeded" ]] || fail "kcat pod $name ended $phase running: $1"
}

produce_consume() {
    local topic="e2e-$RANDOM" count=100 bs expected received
    bs="$(bootstrap)"
    log "producing $count messages to $topic through $bs"
    kcat_pod "seq 1 $count | sed 's/^/msg-/' | kcat -b $bs -P -t $topic -X message.timeout.ms=60000"
    log "consuming them back"
    received="$(kcat_pod "kcat -b $bs -C -t $topic -o beginning -c $count -e -q")"
    expected="$(seq 1 "$count" | sed 's/^/msg-/' | sort)"
    [[ "$(sort <<<"$received")" == "$expected" ]] ||
        fail "consumed messages differ from produced ones: $(diff <(echo "$expected") <(sort <<<"$received") | head -5)"
    echo "all $count messages came back"
}

broker_selector() {
    echo "app.kubernetes.io/instance=$CLUSTER,app.kubernetes.io/component=broker"
}

check_zones() {
    log "checking broker pods spread over three zones"
    local node zones=()
    for node in $(k get pods -l "$(broker_selector)" -o jsonpath='{.items[*].spec.nodeName}'); do
        zones+=("$(kubectl get node "$node" -o jsonpath='{.metadata.labels.topology\.kubernetes\.io/zone}')")
    done
    local distinct
    distinct="$(printf '%s\n' "${zones[@]}" | sort -u | grep -c .)"
    echo "broker zones: ${zones[*]}"
    ((distinct == 3)) || fail "brokers run in $distinct zone(s), want 3"
}

brokers_in_metadata() {
    local want="$1"
    [[ "$(kcat_pod "kcat -b $(bootstrap) -L -m 10" | grep -c '^  broker ')" == "$want" ]]
}

scale_to_four() {
    log "scaling $CLUSTER to 4 brokers"
    k patch kafkacluster "$CLUSTER" --type merge -p '{"spec":{"brokers":4}}'
    wait_for "4 broker pods" bash -c "[[ \$(kubectl -n '$NAMESPACE' get pods -l '$(broker_selector)' -o name | wc -l) == 4 ]]"
    wait_for "KafkaCluster $CLUSTER Ready at 4 brokers" cluster_ready
    wait_for "4 brokers in Metadata" brokers_in_metadata 4
    produce_consume
}

owned_objects() {
    k get pods,svc,cm,pvc,pdb -l "app.kubernetes.io/instance=$CLUSTER" -o name
}

no_owned_objects() {
    [[ -z "$(owned_objects)" ]]
}

delete_cluster() {
    log "deleting $CLUSTER"
    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    wait_for "no objects left of $CLUSTER" no_owned_objects
    echo "nothing left: $(owned_objects | wc -l) owned objects"
}

main() {
    check_tools
    # Whatever fails from here on, the log ends with what the cluster looked like.
    trap 'status=$?; ((status == 0)) || dump_state' EXIT
    install_operator
    create_cluster
    wait_ready
    produce_consume
    check_zones
    scale_to_four
    delete_cluster
    log "e2e passed"
}

main "$@"
