# shellcheck shell=bash
# Scenario of issue 11, sourced by e2e/run.sh, which provides `k` (kubectl in
# $NAMESPACE), `log`, `fail`, `wait_for DESC CMD...`, `kcat_pod`, `kcat_consume`,
# `cluster_ready` (of $CLUSTER), `start_paced_producer`, `wait_paced_producer` and $TIMEOUT.
#
# A rolling upgrade on a real API server: a 3-broker cluster created at the previous
# release (0.2.0, its image from operator/versions.yaml: e2e/image makes it from that
# release's broker binary), an idempotent acks=all producer running, `spec.version`
# bumped to the current one; the operator evicts one pod at a time (the PDB decides),
# finalizes `metadata.version` after the soak, and every pod ends on the new version's
# image with its version label, and every acknowledged record reads back.

UPGRADE_CLUSTER="${UPGRADE_CLUSTER:-upgrade}"
UPGRADE_FROM="${UPGRADE_FROM:-0.2.0}"
UPGRADE_TO="${UPGRADE_TO:-$VERSION}"
# 18000 records at about 100 a second (3 minutes): about as long as the roll.
UPGRADE_RECORDS="${UPGRADE_RECORDS:-18000}"

upgrade_manifest() {
    cat <<YAML
apiVersion: tidewater.io/v1alpha1
kind: KafkaCluster
metadata:
  name: $UPGRADE_CLUSTER
  namespace: $NAMESPACE
spec:
  version: "$UPGRADE_FROM"
  brokers: 3
  rollout:
    soakSeconds: 10
  config:
    default.replication.factor: 3
    min.insync.replicas: 2
    num.partitions: 6
  storage:
    size: 1Gi
    deleteClaim: true
YAML
}

upgrade_selector() {
    echo "app.kubernetes.io/instance=$UPGRADE_CLUSTER,app.kubernetes.io/component=broker"
}

upgrade_step() {
    printf '    [%3ds] %s\n' "$((SECONDS - UPGRADE_T0))" "$*"
}

# "pod version image uid" of each broker pod.
upgrade_pods() {
    k get pods -l "$(upgrade_selector)" -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.labels.tidewater\.io/version} {.spec.containers[0].image} {.metadata.uid}{"\n"}{end}' | sort
}

# Every broker pod runs version $1 with the catalog's image of it, and is ready.
upgrade_all_on() {
    local want="$1" pods
    pods="$(upgrade_pods)"
    [[ "$(grep -c . <<<"$pods")" == 3 ]] || return 1
    ! awk -v v="$want" -v img="ghcr.io/tidewater-io/tidewater:$want" '$2 != v || $3 != img' <<<"$pods" | grep -q . || return 1
    [[ "$(k get pods -l "$(upgrade_selector)" -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}')" == "True True True" ]]
}

upgrade_status() {
    k get kafkacluster "$UPGRADE_CLUSTER" -o jsonpath="{$1}"
}

# The upgrade is over: phase Done, metadata.version finalized at $1, Ready.
upgrade_done() {
    [[ "$(upgrade_status .status.upgrade.phase)" == Done ]] &&
        [[ "$(upgrade_status .status.metadataVersion)" == "$1" ]] &&
        cluster_ready
}

upgrade_gone() {
    [[ -z "$(k get pods,pvc -l "app.kubernetes.io/instance=$UPGRADE_CLUSTER" -o name)" ]] &&
        ! k get kafkacluster "$UPGRADE_CLUSTER" >/dev/null 2>&1
}

scenario_upgrade() {
    local saved_cluster="$CLUSTER" topic="upgrade-$RANDOM" producer="upgrade-producer-$RANDOM"
    local before after roll_start roll_secs
    UPGRADE_T0=$SECONDS
    CLUSTER="$UPGRADE_CLUSTER"
    log "upgrade: creating $CLUSTER at version $UPGRADE_FROM (3 brokers, min.insync.replicas 2)"
    upgrade_manifest | k apply -f -
    wait_for "KafkaCluster $CLUSTER Ready at $UPGRADE_FROM" cluster_ready
    wait_for "every pod on $UPGRADE_FROM" upgrade_all_on "$UPGRADE_FROM"
    k get pods -l "$(upgrade_selector)" -L tidewater.io/version
    before="$(upgrade_pods)"
    upgrade_step "Ready on $UPGRADE_FROM, metadata.version $(upgrade_status .status.metadataVersion)"

    log "producing $UPGRADE_RECORDS records (acks=all, idempotent) to $topic during the upgrade"
    start_paced_producer "$producer" "$topic" "$UPGRADE_RECORDS"

    log "kubectl patch: spec.version $UPGRADE_FROM -> $UPGRADE_TO"
    k patch kafkacluster "$CLUSTER" --type merge -p "{\"spec\":{\"version\":\"$UPGRADE_TO\"}}"
    roll_start=$SECONDS
    # Each pod goes once, in turn: print every change of the pods' versions as it comes.
    local seen="" now deadline=$((SECONDS + TIMEOUT))
    until upgrade_all_on "$UPGRADE_TO"; do
        ((SECONDS < deadline)) || fail "timed out after ${TIMEOUT}s waiting for every pod on $UPGRADE_TO"
        now="$(k get pods -l "$(upgrade_selector)" -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.labels.tidewater\.io/version} {end}' 2>/dev/null || true)"
        if [[ "$now" != "$seen" ]]; then
            upgrade_step "pods: $now ($(upgrade_status '.status.conditions[?(@.type=="Progressing")].message'))"
            seen="$now"
        fi
        sleep 2
    done
    roll_secs=$((SECONDS - roll_start))
    upgrade_step "every pod on $UPGRADE_TO after ${roll_secs} s ($((roll_secs / 3)) s per broker)"
    wait_for "upgrade Done with metadata.version 4.1-IV0" upgrade_done 4.1-IV0
    upgrade_step "finalized: status.metadataVersion $(upgrade_status .status.metadataVersion), upgrade phase $(upgrade_status .status.upgrade.phase), $((SECONDS - roll_start)) s after the patch"
    k get kafka "$CLUSTER"
    k get pods -l "$(upgrade_selector)" -L tidewater.io/version

    # Every pod was replaced exactly once (a new uid each), and is on the new image.
    after="$(upgrade_pods)"
    local name
    for name in $(awk '{print $1}' <<<"$before"); do
        [[ "$(awk -v n="$name" '$1 == n {print $4}' <<<"$before")" != "$(awk -v n="$name" '$1 == n {print $4}' <<<"$after")" ]] ||
            fail "pod $name was never restarted"
    done
    [[ "$(upgrade_status .status.version)" == "$UPGRADE_TO" ]] ||
        fail "status.version is $(upgrade_status .status.version), want $UPGRADE_TO"

    wait_paced_producer "$producer" "$topic" "$UPGRADE_RECORDS"
    upgrade_step "0 acknowledged records lost"

    log "deleting $CLUSTER"
    k delete kafkacluster "$CLUSTER" --wait --timeout="${TIMEOUT}s"
    wait_for "pods and claims of $CLUSTER gone" upgrade_gone
    log "upgrade $UPGRADE_FROM -> $UPGRADE_TO passed in $((SECONDS - UPGRADE_T0)) s (roll ${roll_secs} s)"
    CLUSTER="$saved_cluster"
}
