//! Fencing on the connection-close signal: a killed broker process closes its sockets
//! at once, so when a broker's last heartbeat connection closes (or, for a broker this
//! controller has no connection from yet, e.g. right after a controller failover) the
//! controller probes its listener and fences it unless the listener still accepts
//! connections, instead of waiting out `broker.session.timeout.ms`. The session timeout
//! stays for the silent cases (a network partition closes nothing).
//!
//! A close alone is no proof: a live broker closes a heartbeat connection when a
//! heartbeat times out, and releases before 0.3.0 send heartbeats over pooled
//! connections that they close as the pool sees fit. Fencing such a broker moves its
//! leaderships while it still takes acks=1 appends as leader until it hears of the new
//! epoch; those records are truncated when it follows (seen in a 0.2.0 -> 0.3.0 roll).
//! The probe tells the cases apart: a process that is gone refuses (or no longer
//! answers) connections; a live one accepts them.
//!
//! Guarded against flapping: a broker fenced this way that then heartbeats again at
//! the same epoch was alive (a false alarm the probe missed). Such a broker is not fenced on a closed connection again for
//! [`FLAP_GUARD_MS`]; only its session timeout applies meanwhile. A broker that really
//! died comes back with a new registration (a new epoch), which is no false alarm.
//!
//! Sans-IO like the rest of the controller: the shell reports connections and probe
//! results with the caller's monotonic `now_ms`.

use std::collections::BTreeMap;

use super::brokers::move_away_from;
use super::{Controller, Staged};
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// How long after a false alarm a broker's closed connections are not trusted.
pub const FLAP_GUARD_MS: u64 = 60_000;

/// The connections that carry brokers' heartbeats, and the flap guard's memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionConnections {
    /// Open connection id -> the broker (id, epoch) whose heartbeats it carried.
    by_connection: BTreeMap<u64, (i32, i64)>,
    /// Brokers fenced on the connection-close signal, at this epoch.
    fenced_on_close: BTreeMap<i32, i64>,
    /// When a broker fenced on the close signal was heard from again (a false alarm).
    false_alarm_ms: BTreeMap<i32, u64>,
}

impl SessionConnections {
    fn has_connection(&self, broker_id: i32, epoch: i64) -> bool {
        self.by_connection
            .values()
            .any(|b| *b == (broker_id, epoch))
    }

    fn flapping(&self, broker_id: i32, now_ms: u64) -> bool {
        self.false_alarm_ms
            .get(&broker_id)
            .is_some_and(|at| now_ms.saturating_sub(*at) < FLAP_GUARD_MS)
    }

    /// A heartbeat from `broker_id` at `epoch` arrived: if it had been fenced on a
    /// closed connection at that epoch, that was a false alarm.
    pub(crate) fn heard_from(&mut self, broker_id: i32, epoch: i64, now_ms: u64) {
        if self.fenced_on_close.get(&broker_id) == Some(&epoch) {
            self.fenced_on_close.remove(&broker_id);
            tracing::warn!(
                broker = broker_id,
                "broker fenced on a closed connection is alive; not trusting its closed \
                 connections for {FLAP_GUARD_MS} ms"
            );
            self.false_alarm_ms.insert(broker_id, now_ms);
        }
    }
}

impl Controller {
    /// Connection `connection` carried a successful heartbeat of `broker_id` at
    /// `epoch`: its close will mean the broker is gone.
    pub fn session_connection_opened(&mut self, broker_id: i32, epoch: i64, connection: u64) {
        self.sessions
            .by_connection
            .insert(connection, (broker_id, epoch));
    }

    /// Connection `connection` closed. When it was the last one carrying the
    /// heartbeats of an active broker, returns that broker (id, epoch) for the shell to
    /// probe; [`Self::broker_unreachable`] then fences it if the probe finds it gone.
    pub fn session_connection_closed(
        &mut self,
        image: &MetadataImage,
        connection: u64,
    ) -> Option<(i32, i64)> {
        let (broker_id, epoch) = self.sessions.by_connection.remove(&connection)?;
        let active = image
            .brokers
            .get(&broker_id)
            .is_some_and(|b| b.broker_epoch == epoch && b.is_active());
        (active && !self.sessions.has_connection(broker_id, epoch)).then_some((broker_id, epoch))
    }

    /// Active brokers this controller has no heartbeat connection from: after a
    /// controller failover, a broker that died with the old controller never connects.
    /// The shell probes their listeners.
    pub fn brokers_without_session(&self, image: &MetadataImage) -> Vec<(i32, i64)> {
        image
            .brokers
            .values()
            .filter(|b| b.is_active())
            .filter(|b| !self.sessions.has_connection(b.broker_id, b.broker_epoch))
            .map(|b| (b.broker_id, b.broker_epoch))
            .collect()
    }

    /// A probe of `broker_id`'s listener found the process gone (`why`). Fences it at
    /// `epoch` (its leaderships move and it leaves every ISR), unless another heartbeat
    /// connection of that registration opened meanwhile, it is no longer active, or it
    /// is flapping.
    pub fn broker_unreachable(
        &mut self,
        image: &MetadataImage,
        broker_id: i32,
        epoch: i64,
        now_ms: u64,
        why: &'static str,
    ) -> Vec<MetadataRecord> {
        let Some(broker) = image.brokers.get(&broker_id) else {
            return Vec::new();
        };
        if broker.broker_epoch != epoch
            || !broker.is_active()
            || self.sessions.has_connection(broker_id, epoch)
        {
            return Vec::new();
        }
        if self.sessions.flapping(broker_id, now_ms) {
            tracing::info!(
                broker = broker_id,
                why,
                "not fencing a flapping broker; its session timeout applies"
            );
            return Vec::new();
        }
        tracing::info!(broker = broker_id, why, "fencing broker");
        let mut staged = Staged::new(image);
        staged.push(MetadataRecord::BrokerFence {
            broker_id,
            broker_epoch: epoch,
        });
        move_away_from(
            &mut staged,
            broker_id,
            self.config.unclean_leader_election_enable,
        );
        self.sessions.fenced_on_close.insert(broker_id, epoch);
        staged.records
    }
}
