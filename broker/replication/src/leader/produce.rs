//! The acks=all purgatory of one partition leader (Kafka's `DelayedProduce` and
//! `Partition.checkEnoughReplicasReachOffset`): produce requests written to the leader's
//! log that wait for the high watermark to pass their last offset.
//!
//! It owns only the waiting requests and their deadlines; the leader decides when the
//! high watermark or the ISR changed and asks it to complete what it can.

use std::collections::BTreeMap;

use crate::error::ReplicaError;

/// A finished acks=all produce: `Ok` once the ISR holds every record of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceCompletion {
    /// The caller's id for the request, echoed back.
    pub request_id: u64,
    /// One past the request's last offset.
    pub required_offset: i64,
    pub result: Result<(), ReplicaError>,
}

/// Waiting acks=all requests, ordered by the offset they wait for so a high watermark
/// advance completes a prefix.
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingProduces {
    /// (required offset, request id) -> deadline in ms.
    waiting: BTreeMap<(i64, u64), u64>,
}

impl PendingProduces {
    pub(crate) fn insert(&mut self, request_id: u64, required_offset: i64, deadline_ms: u64) {
        self.waiting
            .insert((required_offset, request_id), deadline_ms);
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Completes every request the high watermark has passed. Like Kafka, the ISR size is
    /// checked at completion: records that reached the HW while the ISR was below
    /// `min.insync.replicas` are written but answered NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    pub(crate) fn complete_up_to(
        &mut self,
        high_watermark: i64,
        isr_size: usize,
        min_isr: usize,
        out: &mut Vec<ProduceCompletion>,
    ) {
        while let Some(entry) = self.waiting.first_entry() {
            let (required_offset, request_id) = *entry.key();
            if required_offset > high_watermark {
                break;
            }
            entry.remove();
            let result = if isr_size >= min_isr {
                Ok(())
            } else {
                Err(ReplicaError::NotEnoughReplicasAfterAppend {
                    isr: isr_size,
                    min_isr,
                })
            };
            out.push(ProduceCompletion {
                request_id,
                required_offset,
                result,
            });
        }
    }

    /// Fails every request whose deadline has passed with REQUEST_TIMED_OUT.
    pub(crate) fn expire(&mut self, now_ms: u64, out: &mut Vec<ProduceCompletion>) {
        let expired: Vec<(i64, u64)> = self
            .waiting
            .iter()
            .filter(|&(_, &deadline)| deadline <= now_ms)
            .map(|(&k, _)| k)
            .collect();
        for (required_offset, request_id) in expired {
            self.waiting.remove(&(required_offset, request_id));
            out.push(ProduceCompletion {
                request_id,
                required_offset,
                result: Err(ReplicaError::RequestTimedOut { required_offset }),
            });
        }
    }

    /// Fails everything: this replica stopped being the leader.
    pub(crate) fn fail_all(&mut self, out: &mut Vec<ProduceCompletion>) {
        for ((required_offset, request_id), _) in std::mem::take(&mut self.waiting) {
            out.push(ProduceCompletion {
                request_id,
                required_offset,
                result: Err(ReplicaError::NoLongerLeader),
            });
        }
    }
}
