//! KIP-890 verification of a transactional Produce on its leaders (Kafka's
//! `ReplicaManager.appendRecords` with `transaction.partition.verification.enable`):
//! before a producer's first transactional batch opens a transaction on a partition,
//! the leader takes a guard in the partition's producer state and asks the
//! transaction coordinator whether the partition is in the producer's ongoing
//! transaction. A partition the coordinator does not vouch for is refused and nothing
//! is appended, so a late batch of an ended transaction cannot leave a transaction
//! open that no coordinator will ever end (a hanging transaction holding the last
//! stable offset). Once the transaction is open on the partition its later batches
//! need no asking, until the marker ends it. From Produce v12 (transaction version 2)
//! the same request adds the partition to the transaction instead (KIP-890 part 2).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::ProduceRequest;
use tidewater_quorum::acl::{AclOperation, ResourceType};
use tidewater_storage::batch::BatchHeader;
use tidewater_storage::producer_state::{TxnVerification, VerificationGuard};

use super::RequestContext;
use super::authz::allowed;
use crate::broker_server::Broker;
use crate::broker_server::topic_names::is_internal;
use crate::metadata::image_store::dynamic_broker_configs;

/// A partition of a Produce request: (topic, partition).
type Tp = (String, i32);

/// Kafka's broker setting (dynamic there and here; default true).
pub const VERIFICATION_ENABLE: &str = "transaction.partition.verification.enable";

/// What each partition of a transactional Produce may append with: its verification,
/// or the error that refuses it.
pub struct Verified {
    /// False when `transaction.partition.verification.enable` is off.
    enabled: bool,
    /// Partitions whose producer needed asking: the guard, or the refusal.
    asked: HashMap<Tp, Result<VerificationGuard, E>>,
}

impl Verified {
    /// Nothing verified: a non-transactional Produce.
    pub fn off() -> Self {
        Verified {
            enabled: false,
            asked: HashMap::new(),
        }
    }

    /// What the append of this partition carries, or Kafka's error for it.
    pub fn for_partition(&self, topic: &str, partition: i32) -> Result<TxnVerification, E> {
        if !self.enabled {
            return Ok(TxnVerification::NotRequired);
        }
        match self.asked.get(&(topic.to_string(), partition)) {
            Some(Ok(guard)) => Ok(TxnVerification::Required(Some(*guard))),
            Some(Err(e)) => Err(*e),
            None => Ok(TxnVerification::Required(None)),
        }
    }
}

/// Whether this broker verifies: its dynamic setting, else its static one, else true.
pub fn enabled(broker: &Broker) -> bool {
    let node_id = broker.config().node_id;
    let dynamic = dynamic_broker_configs(&broker.cluster().image(), node_id);
    dynamic
        .get(VERIFICATION_ENABLE)
        .or_else(|| broker.config().static_props.get(VERIFICATION_ENABLE))
        .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"))
}

/// Takes each led partition's guard for a transactional producer with no transaction
/// open there, then asks the coordinator once per producer (id, epoch).
pub async fn verify(
    broker: &Broker,
    ctx: &RequestContext,
    req: &ProduceRequest,
    transactional_id: &str,
    version: i16,
) -> Verified {
    // Transaction version 2 clients (Produce v12) add no partitions themselves: the
    // leader's request adds them, whatever the verification setting.
    if !enabled(broker) && version < 12 {
        return Verified::off();
    }
    // (producer id, epoch) -> the partitions to ask about, with their guards.
    let mut guards: BTreeMap<(i64, i16), Vec<(Tp, VerificationGuard)>> = BTreeMap::new();
    for topic in &req.topic_data {
        let name = topic.name.0.as_str();
        // Partitions the main loop refuses anyway are not asked about.
        if is_internal(name)
            || !allowed(broker, ctx, AclOperation::Write, ResourceType::Topic, name)
        {
            continue;
        }
        for pd in &topic.partition_data {
            let Some(h) = pd.records.as_deref().and_then(BatchHeader::parse) else {
                continue;
            };
            if !h.has_producer_id() || !h.is_transactional() {
                continue;
            }
            let Ok(replica) = broker.replicas().leader_replica(name, pd.index) else {
                continue;
            };
            if let Some(guard) = replica
                .log
                .start_txn_verification(h.producer_id, h.producer_epoch)
            {
                guards
                    .entry((h.producer_id, h.producer_epoch))
                    .or_default()
                    .push(((name.to_string(), pd.index), guard));
            }
        }
    }
    let mut asked = HashMap::new();
    for ((producer_id, producer_epoch), partitions) in guards {
        let tps: BTreeSet<Tp> = partitions.iter().map(|(tp, _)| tp.clone()).collect();
        let refused = broker
            .coordinators()
            .txns()
            .verify_for_produce(transactional_id, producer_id, producer_epoch, tps, version)
            .await;
        for (tp, guard) in partitions {
            let answer = refused.get(&tp).map_or(Ok(guard), |e| Err(*e));
            asked.insert(tp, answer);
        }
    }
    Verified {
        enabled: true,
        asked,
    }
}
