# shellcheck shell=bash
# Scenario of issue 14 item 7, sourced by e2e/run.sh, which provides `k` (kubectl in
# $NAMESPACE), `log`, `fail`, `wait_for DESC CMD...`, `kcat_pod`, `cluster_ready` (of
# $CLUSTER), $BROKER_IMAGE, $VERSION and $TIMEOUT.
#
# A KafkaUser on a real API server: a one-broker cluster with a SCRAM-SHA-512 listener
# and Kafka's authorizer; a user with Write/Read on the topic prefix `e2e-users` gets a
# Secret (owned by the user) whose password kcat produces and consumes with, and is
# refused on another topic; deleting the user removes its Secret and its SCRAM login.

USERS_CLUSTER="${USERS_CLUSTER:-users}"
USERS_USER="${USERS_USER:-e2e-writer}"

users_manifest() {
    cat <<YAML
apiVersion: tidewater.io/v1alpha1
kind: KafkaCluster
metadata:
  name: $USERS_CLUSTER
  namespace: $NAMESPACE
spec:
  version: "$VERSION"
  image: $BROKER_IMAGE
  brokers: 1
  storage:
    size: 1Gi
    deleteClaim: true
  listeners:
    - name: scram
      port: 9095
      authentication:
        type: scram-sha-512
  config:
    offsets.topic.replication.factor: 1
    authorizer.class.name: org.apache.kafka.metadata.authorizer.StandardAuthorizer
---
apiVersion: tidewater.io/v1alpha1
kind: KafkaUser
metadata:
  name: $USERS_USER
  namespace: $NAMESPACE
  labels:
    tidewater.io/cluster: $USERS_CLUSTER
spec:
  authentication:
    type: scram-sha-512
  authorization:
    type: simple
    acls:
      - resource: {type: topic, name: e2e-users, patternType: prefix}
        operations: [Create, Write, Read, Describe]
YAML
}

users_user_ready() {
    [[ "$(k get kafkauser "$USERS_USER" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

users_secret_gone() {
    ! k get secret "$USERS_USER" >/dev/null 2>&1
}

# users_kcat PASSWORD ARGS: kcat as the user against the cluster's SCRAM listener.
users_kcat() {
    local password="$1"; shift
    local bs
    bs="$(k get kafkacluster "$USERS_CLUSTER" -o jsonpath='{.status.listeners[?(@.name=="scram")].bootstrapServers}')"
    echo "kcat -b $bs -X security.protocol=sasl_plaintext -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=$USERS_USER -X sasl.password=$password $*"
}

scenario_users() {
    local saved_cluster="$CLUSTER" password owner out t0=$SECONDS
    CLUSTER="$USERS_CLUSTER"
    log "users: cluster $CLUSTER with a SCRAM listener and ACLs, KafkaUser $USERS_USER"
    users_manifest | k apply -f -
    wait_for "KafkaCluster $CLUSTER Ready" cluster_ready
    wait_for "KafkaUser $USERS_USER Ready" users_user_ready
    k get kafkauser "$USERS_USER" -o wide
    owner="$(k get secret "$USERS_USER" -o jsonpath='{.metadata.ownerReferences[0].kind}')"
    [[ "$owner" == KafkaUser ]] || fail "Secret $USERS_USER is owned by [$owner], want the KafkaUser"
    password="$(k get secret "$USERS_USER" -o jsonpath='{.data.password}' | base64 -d)"
    [[ ${#password} -eq 32 ]] || fail "Secret $USERS_USER holds a password of ${#password} characters"

    kcat_pod "echo hello | $(users_kcat "$password" -P -t e2e-users-1 -X message.timeout.ms=60000)" >/dev/null
    out="$(kcat_pod "$(users_kcat "$password" -C -t e2e-users-1 -o beginning -c 1 -e -q)")"
    [[ "$out" == hello ]] || fail "the user read [$out] back, want hello"
    echo "produced and consumed with the Secret's password"
    out="$(kcat_pod "echo nope | $(users_kcat "$password" -P -t other -X message.timeout.ms=30000) 2>&1 || true")"
    [[ "$out" == *"authorization failed"* ]] || fail "a topic without an ACL was not refused: $out"
    echo "refused on a topic without an ACL"

    log "deleting KafkaUser $USERS_USER: its Secret and login go"
    k delete kafkauser "$USERS_USER" --wait --timeout="${TIMEOUT}s"
    wait_for "Secret $USERS_USER garbage-collected" users_secret_gone
    out="$(kcat_pod "$(users_kcat "$password" -L -m 10) 2>&1 || true")"
    [[ "$out" == *"Authentication failed"* ]] || fail "the deleted user still logs in: $out"
    echo "the deleted user's login is refused"

    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    log "users passed in $((SECONDS - t0))s"
    CLUSTER="$saved_cluster"
}
