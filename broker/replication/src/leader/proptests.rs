//! Property test of the leader's high watermark under random interleavings of appends,
//! fetches, time and ISR commits.

use proptest::prelude::*;

use super::{fetch, leader};
use crate::ReplicaId;
use crate::leader::{AlterPartitionResponse, CommittedPartition};

#[derive(Debug, Clone)]
enum Op {
    Append(i64),
    Fetch { replica: ReplicaId, behind: i64 },
    Tick(u64),
    Commit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..5).prop_map(Op::Append),
        (2..4, 0i64..6).prop_map(|(replica, behind)| Op::Fetch { replica, behind }),
        (0u64..8_000).prop_map(Op::Tick),
        Just(Op::Commit),
    ]
}

proptest! {
    /// Under any interleaving: the high watermark never decreases, never passes the
    /// leader's end, and whenever it moves every maximal-ISR member had reached it.
    #[test]
    fn high_watermark_invariants(ops in prop::collection::vec(op(), 1..80)) {
        let (mut l, epochs) = leader(&[1, 2, 3], 2);
        let mut now = 0;
        let mut partition_epoch = 7;
        for op in ops {
            let before = l.high_watermark();
            match op {
                Op::Append(n) => l.on_leader_append(l.log_end_offset() + n, now),
                Op::Fetch { replica, behind } => {
                    let offset = (l.log_end_offset() - behind).max(0);
                    let _ = l.on_fetch(&fetch(replica, offset, 5), &epochs, now);
                }
                Op::Tick(dt) => { now += dt; l.tick(now); }
                Op::Commit => {
                    if let Some(req) = l.inflight_alter_partition().cloned() {
                        partition_epoch += 1;
                        let committed = CommittedPartition {
                            leader_id: 1, leader_epoch: 5, partition_epoch, isr: req.isr_ids().into_iter().collect(),
                        };
                        l.on_alter_partition_response(AlterPartitionResponse { request_id: req.request_id, result: Ok(committed) }, now);
                    }
                }
            }
            let hw = l.high_watermark();
            prop_assert!(hw >= before);
            prop_assert!(hw <= l.log_end_offset());
            if hw > before {
                for id in l.maximal_isr() {
                    if id != 1 {
                        prop_assert!(l.follower(id).is_some_and(|v| v.log_end_offset >= hw));
                    }
                }
            }
            prop_assert!(l.isr().contains(&1));
        }
    }
}
