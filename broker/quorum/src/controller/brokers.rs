//! Broker lifecycle: registration (with the feature-level check), heartbeats, session
//! expiry fencing, controlled shutdown and unregistration (KRaft's
//! `ClusterControlManager` + `BrokerHeartbeatManager`); fencing on a closed heartbeat
//! connection is in `sessions`. Whenever a broker stops being
//! active, its leaderships move and it leaves ISRs, through [`move_away_from`].

use std::collections::BTreeMap;

use super::election::{Election, Target, build_change, unclean_enabled};
use super::{Controller, ControllerError, Decision, Staged, registered_at_epoch};
use crate::image::MetadataImage;
use crate::records::{FeatureRange, Listener, MetadataRecord};

/// A BrokerRegistration request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerRegistrationRequest {
    pub broker_id: i32,
    pub incarnation_id: u128,
    pub rack: Option<String>,
    pub listeners: Vec<Listener>,
    /// Supported feature ranges; a missing feature means "only level 0".
    pub features: BTreeMap<String, FeatureRange>,
}

/// A BrokerHeartbeat request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerHeartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The broker is not ready (still catching up on metadata) and wants to stay fenced.
    pub want_fence: bool,
    /// The broker asks for controlled shutdown.
    pub want_shutdown: bool,
}

/// What the heartbeat response tells the broker (given the decision's records applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeartbeatReply {
    pub is_fenced: bool,
    pub is_caught_up: bool,
    /// Controlled shutdown finished: the broker leads nothing and may stop.
    pub should_shutdown: bool,
}

impl Controller {
    /// Registers (or re-registers) a broker. The new registration starts fenced; the
    /// reply is the new broker epoch.
    pub fn register_broker(
        &mut self,
        image: &MetadataImage,
        req: &BrokerRegistrationRequest,
        now_ms: u64,
    ) -> Result<Decision<i64>, ControllerError> {
        for (name, level) in &image.features {
            let (min, max) = req.features.get(name).copied().unwrap_or((0, 0));
            if *level < min || *level > max {
                return Err(ControllerError::UnsupportedVersion(format!(
                    "Unable to register because the broker does not support finalized version \
                     {level} of {name}. The broker wants a version between {min} and {max}, inclusive."
                )));
            }
        }
        if let Some(existing) = image.brokers.get(&req.broker_id)
            && existing.incarnation_id != req.incarnation_id
            && !existing.fenced
            && !self.session_expired(req.broker_id, now_ms)
        {
            return Err(ControllerError::DuplicateBrokerRegistration(req.broker_id));
        }
        // Epochs must grow across registrations; the next log index is the KRaft choice.
        let broker_epoch = image.last_broker_epoch.max(image.offset as i64) + 1;
        let mut staged = Staged::new(image);
        staged.push(MetadataRecord::RegisterBroker {
            broker_id: req.broker_id,
            incarnation_id: req.incarnation_id,
            broker_epoch,
            rack: req.rack.clone(),
            listeners: req.listeners.clone(),
            features: req.features.clone(),
        });
        // A re-registration replaces an unfenced registration with a fenced one.
        move_away_from(
            &mut staged,
            req.broker_id,
            self.config.unclean_leader_election_enable,
        );
        self.last_heartbeat_ms.insert(req.broker_id, now_ms);
        Ok(Decision {
            records: staged.records,
            reply: broker_epoch,
        })
    }

    /// Handles a heartbeat: unfences a ready broker, fences one that asks, and runs
    /// controlled shutdown.
    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
        hb: &BrokerHeartbeat,
        now_ms: u64,
    ) -> Result<Decision<HeartbeatReply>, ControllerError> {
        let broker = registered_at_epoch(image, hb.broker_id, hb.broker_epoch)?;
        self.last_heartbeat_ms.insert(hb.broker_id, now_ms);
        self.sessions
            .heard_from(hb.broker_id, hb.broker_epoch, now_ms);
        let unclean = self.config.unclean_leader_election_enable;
        let mut staged = Staged::new(image);
        let (id, epoch) = (hb.broker_id, hb.broker_epoch);
        if hb.want_shutdown {
            if !broker.in_controlled_shutdown && !broker.fenced {
                staged.push(MetadataRecord::ControlledShutdown {
                    broker_id: id,
                    broker_epoch: epoch,
                });
            }
            move_away_from(&mut staged, id, unclean);
        } else if broker.fenced && !hb.want_fence && !broker.in_controlled_shutdown {
            staged.push(MetadataRecord::BrokerUnfence {
                broker_id: id,
                broker_epoch: epoch,
            });
            elect_offline_partitions(&mut staged, id, unclean);
        } else if !broker.fenced && hb.want_fence {
            staged.push(MetadataRecord::BrokerFence {
                broker_id: id,
                broker_epoch: epoch,
            });
            move_away_from(&mut staged, id, unclean);
        }
        // Kafka's SHUTDOWN_NOW comes only once the broker has seen its leaderships
        // move (its metadata offset reached the controlled shutdown's): the heartbeat
        // that moves them does not complete the shutdown. Until the next one the broker
        // stays registered and listed in Metadata while it answers its clients
        // NOT_LEADER_OR_FOLLOWER with the new leaders; fencing it in the same decision
        // made librdkafka drop the broker and its partitions at once, parking them on
        // its internal broker until its 1 s leader scan (a 1 s acks=all gap per stop).
        let leads_nothing = image.partitions().all(|p| p.leader != id)
            && staged.image.partitions().all(|p| p.leader != id);
        if hb.want_shutdown
            && leads_nothing
            && staged.image.brokers.get(&id).is_some_and(|b| !b.fenced)
        {
            // Kafka's SHUTDOWN_NOW: a broker whose controlled shutdown is complete is
            // fenced at once. Its session ends with it, so the restarted incarnation
            // registers immediately instead of being refused as a live duplicate until
            // broker.session.timeout.ms runs out (which added ~9 s to every restart).
            staged.push(MetadataRecord::BrokerFence {
                broker_id: id,
                broker_epoch: epoch,
            });
        }
        let after = staged.image.brokers.get(&id);
        let is_fenced = after.is_none_or(|b| b.fenced);
        let reply = HeartbeatReply {
            is_fenced,
            is_caught_up: !is_fenced,
            should_shutdown: hb.want_shutdown && (is_fenced || leads_nothing),
        };
        Ok(Decision {
            records: staged.records,
            reply,
        })
    }

    /// Fences every unfenced broker whose session expired at `now_ms`, moving its
    /// leaderships and removing it from ISRs. Brokers never heard from by this
    /// controller (e.g. after failover) get a fresh session starting now.
    pub fn tick(&mut self, image: &MetadataImage, now_ms: u64) -> Vec<MetadataRecord> {
        let mut staged = Staged::new(image);
        for broker in image.brokers.values().filter(|b| !b.fenced) {
            self.last_heartbeat_ms
                .entry(broker.broker_id)
                .or_insert(now_ms);
            if self.session_expired(broker.broker_id, now_ms) {
                tracing::info!(broker = broker.broker_id, "fencing broker: session expired");
                staged.push(MetadataRecord::BrokerFence {
                    broker_id: broker.broker_id,
                    broker_epoch: broker.broker_epoch,
                });
                move_away_from(
                    &mut staged,
                    broker.broker_id,
                    self.config.unclean_leader_election_enable,
                );
            }
        }
        staged.records
    }

    /// Removes a broker's registration (UnregisterBroker), moving its leaderships away.
    pub fn unregister_broker(
        &mut self,
        image: &MetadataImage,
        broker_id: i32,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let broker = image
            .brokers
            .get(&broker_id)
            .ok_or(ControllerError::BrokerNotRegistered(broker_id))?;
        let mut staged = Staged::new(image);
        staged.push(MetadataRecord::UnregisterBroker {
            broker_id,
            broker_epoch: broker.broker_epoch,
        });
        move_away_from(
            &mut staged,
            broker_id,
            self.config.unclean_leader_election_enable,
        );
        self.last_heartbeat_ms.remove(&broker_id);
        Ok(staged.records)
    }

    fn session_expired(&self, broker_id: i32, now_ms: u64) -> bool {
        self.last_heartbeat_ms
            .get(&broker_id)
            .is_none_or(|last| now_ms.saturating_sub(*last) > self.config.broker_session_timeout_ms)
    }
}

/// For a broker that is no longer active in `staged.image`: leave every ISR (unless the
/// last member) and hand its leaderships to another ISR member.
pub(crate) fn move_away_from(staged: &mut Staged<'_>, broker_id: i32, unclean_default: bool) {
    let affected: Vec<_> = staged
        .image
        .partitions()
        .filter(|p| p.leader == broker_id || p.isr.contains(&broker_id))
        .cloned()
        .collect();
    for p in affected {
        let election = election_for(&staged.image, p.topic_id, unclean_default);
        let target = Target::from(&p).without_isr_member(broker_id);
        if let Some(change) = build_change(&staged.image, &p, target, election) {
            staged.push(MetadataRecord::PartitionChange(change));
        }
    }
}

/// After `broker_id` became active: elect leaders for offline partitions it can lead.
fn elect_offline_partitions(staged: &mut Staged<'_>, broker_id: i32, unclean_default: bool) {
    let offline: Vec<_> = staged
        .image
        .partitions()
        .filter(|p| p.leader == crate::records::NO_LEADER && p.replicas.contains(&broker_id))
        .cloned()
        .collect();
    for p in offline {
        let election = election_for(&staged.image, p.topic_id, unclean_default);
        if let Some(change) = build_change(&staged.image, &p, Target::from(&p), election) {
            staged.push(MetadataRecord::PartitionChange(change));
        }
    }
}

/// `Unclean` when the partition's topic allows it, else `Clean`.
pub(crate) fn election_for(
    image: &MetadataImage,
    topic_id: u128,
    unclean_default: bool,
) -> Election {
    let name = image
        .topics_by_id
        .get(&topic_id)
        .map(|t| t.name.as_str())
        .unwrap_or("");
    if unclean_enabled(image, name, unclean_default) {
        Election::Unclean
    } else {
        Election::Clean
    }
}
