# shellcheck shell=bash
# Scenario of issue 21, sourced by e2e/run.sh, which provides `k` (kubectl in
# $NAMESPACE), `log`, `fail`, `wait_for DESC CMD...`, `kcat_produce`, `kcat_consume`,
# `cluster_ready` (of $CLUSTER), $BROKER_IMAGE and $VERSION.
#
# Deleting a KafkaCluster keeps its PersistentVolumeClaims (storage.deleteClaim defaults
# to false); re-creating it with the same name adopts them with the same cluster id and
# every record produced before the delete reads back; with deleteClaim: true the claims
# are owned and go with the cluster. Each step prints what a user sees and how long it
# took.

KEEP_DATA_CLUSTER="${KEEP_DATA_CLUSTER:-keep-data}"
KEEP_DATA_RECORDS="${KEEP_DATA_RECORDS:-300}"

# keep_data_manifest DELETE_CLAIM: the scenario's cluster, one broker on the image under
# test.
keep_data_manifest() {
    cat <<YAML
apiVersion: tidewater.io/v1alpha1
kind: KafkaCluster
metadata:
  name: $KEEP_DATA_CLUSTER
  namespace: $NAMESPACE
spec:
  version: "$VERSION"
  image: $BROKER_IMAGE
  brokers: 1
  config:
    num.partitions: 3
  storage:
    size: 1Gi
    deleteClaim: $1
YAML
}

keep_data_selector() {
    echo "app.kubernetes.io/instance=$KEEP_DATA_CLUSTER,app.kubernetes.io/managed-by=tidewater-operator"
}

keep_data_claims() {
    k get pvc -l "$(keep_data_selector)" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort
}

keep_data_no_pods() {
    [[ -z "$(k get pods -l "$(keep_data_selector)" -o name)" ]]
}

keep_data_no_claims() {
    [[ -z "$(keep_data_claims)" ]]
}

keep_data_gone() {
    ! k get kafkacluster "$KEEP_DATA_CLUSTER" >/dev/null 2>&1
}

# Every claim of the cluster has an owner reference to a KafkaCluster (deleteClaim: true).
keep_data_claims_owned() {
    local owners
    owners="$(k get pvc -l "$(keep_data_selector)" \
        -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.ownerReferences[*].kind}{"\n"}{end}')"
    [[ -n "$owners" ]] && ! grep -qv '=KafkaCluster$' <<<"$owners"
}

keep_data_step() {
    printf '    [%3ds] %s\n' "$((SECONDS - KEEP_DATA_T0))" "$*"
}

keep_data_expected() {
    seq 1 "$KEEP_DATA_RECORDS" | sed 's/^/kept-/' | sort
}

keep_data_read_back() {
    local received
    received="$(kcat_consume keep-data "$KEEP_DATA_RECORDS")"
    [[ "$(sort <<<"$received")" == "$(keep_data_expected)" ]] ||
        fail "records read after re-creation differ: $(diff <(keep_data_expected) <(sort <<<"$received") | head -5)"
}

scenario_keep_data_on_delete() {
    local saved_cluster="$CLUSTER" id id_after claims claims_after annotated owners
    KEEP_DATA_T0=$SECONDS
    CLUSTER="$KEEP_DATA_CLUSTER"
    log "keep data on delete: creating $CLUSTER (deleteClaim: false, the default)"
    keep_data_manifest false | k apply -f -
    wait_for "KafkaCluster $CLUSTER Ready" cluster_ready
    id="$(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.clusterId}')"
    [[ -n "$id" ]] || fail "$CLUSTER is Ready without status.clusterId"
    keep_data_step "Ready, cluster id $id"

    kcat_produce keep-data "$KEEP_DATA_RECORDS" kept- >/dev/null
    keep_data_step "produced $KEEP_DATA_RECORDS records to topic keep-data"
    claims="$(keep_data_claims)"
    [[ -n "$claims" ]] || fail "$CLUSTER has no PersistentVolumeClaim"
    owners="$(k get pvc -l "$(keep_data_selector)" -o jsonpath='{.items[*].metadata.ownerReferences}')"
    [[ -z "$owners" ]] || fail "claims of $CLUSTER are owned although deleteClaim is false: $owners"

    log "deleting KafkaCluster $CLUSTER"
    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    wait_for "pods of $CLUSTER gone" keep_data_no_pods
    keep_data_step "deleted; what is left:"
    k get pvc -l "$(keep_data_selector)" -o wide
    claims_after="$(keep_data_claims)"
    [[ "$claims_after" == "$claims" ]] ||
        fail "claims changed across the delete: before [$claims] after [$claims_after]"
    annotated="$(k get pvc -l "$(keep_data_selector)" -o jsonpath='{.items[*].metadata.annotations.tidewater\.io/cluster-id}')"
    [[ " $annotated " == *" $id "* ]] || fail "retained claims record cluster id [$annotated], want $id"

    log "re-creating $CLUSTER over its retained claims"
    keep_data_manifest false | k apply -f -
    wait_for "KafkaCluster $CLUSTER Ready again" cluster_ready
    id_after="$(k get kafkacluster "$CLUSTER" -o jsonpath='{.status.clusterId}')"
    keep_data_step "Ready again, cluster id $id_after"
    [[ "$id_after" == "$id" ]] || fail "re-created cluster has id $id_after, want $id"
    [[ "$(keep_data_claims)" == "$claims" ]] || fail "re-created cluster did not adopt its claims"
    keep_data_read_back
    keep_data_step "read all $KEEP_DATA_RECORDS records back"

    log "deleteClaim: true, then deleting $CLUSTER: the claims go with it"
    k patch kafkacluster "$CLUSTER" --type merge -p '{"spec":{"storage":{"deleteClaim":true}}}'
    wait_for "claims of $CLUSTER owned by it" keep_data_claims_owned
    keep_data_step "claims now owned by $CLUSTER"
    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    wait_for "claims of $CLUSTER deleted" keep_data_no_claims
    wait_for "KafkaCluster $CLUSTER gone" keep_data_gone
    keep_data_step "deleted with its claims"
    log "keep data on delete passed in $((SECONDS - KEEP_DATA_T0))s"
    CLUSTER="$saved_cluster"
}
