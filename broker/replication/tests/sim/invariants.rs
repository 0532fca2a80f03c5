//! Safety invariants checked after every step, and the convergence check at the end.

use crate::node::Role;
use crate::world::World;

/// Records what consumers may now read: everything below each live replica's high
/// watermark must agree with what was readable before, and extends it.
pub fn observe_consumers(world: &mut World) -> Result<(), String> {
    for node in world.nodes.iter().filter(|n| n.alive) {
        let hw = usize::try_from(node.high_watermark())
            .unwrap_or(0)
            .min(node.log.records.len());
        let known = world.exposed.len().min(hw);
        if let Some(o) = (0..known).find(|&o| node.log.records[o] != world.exposed[o]) {
            return Err(format!(
                "replica {} exposes {:?} at offset {o} below its high watermark {hw}, but consumers already read {:?} there",
                node.id, node.log.records[o], world.exposed[o]
            ));
        }
        if hw > world.exposed.len() {
            let start = world.exposed.len();
            world
                .exposed
                .extend_from_slice(&node.log.records[start..hw]);
        }
    }
    Ok(())
}

/// Checks every safety invariant; the error says which one broke and where.
pub fn check(world: &World) -> Result<(), String> {
    let current_epoch = world.controller.state.leader_epoch;
    for node in &world.nodes {
        let leo = node.log.end_offset();
        let hw = node.high_watermark();
        if hw > leo || hw < 0 {
            return Err(format!(
                "replica {}: high watermark {hw} outside [0, {leo}]",
                node.id
            ));
        }
        // Every record is exactly what its epoch's leader wrote at that offset.
        for (offset, rec) in node.log.records.iter().enumerate() {
            let written = world.written.get(&rec.payload);
            if written != Some(&(offset as i64, rec.epoch)) {
                return Err(format!(
                    "replica {} holds payload {} at offset {offset} epoch {}, but it was written as {written:?}",
                    node.id, rec.payload, rec.epoch
                ));
            }
        }
        // Every acknowledged record is in the current leader's log at its offset.
        if let Role::Leader(l) = &node.role
            && node.alive
            && l.leader_epoch() == current_epoch
        {
            // Whatever consumers read is never lost or rewritten by a later leader.
            let exposed = &world.exposed;
            if node.log.records.len() < exposed.len()
                || node.log.records[..exposed.len()] != exposed[..]
            {
                return Err(format!(
                    "leader {} (epoch {current_epoch}) lacks records consumers read below offset {}",
                    node.id,
                    exposed.len()
                ));
            }
            for (&offset, rec) in &world.acked {
                let have = usize::try_from(offset)
                    .ok()
                    .and_then(|o| node.log.records.get(o));
                if have != Some(rec) {
                    return Err(format!(
                        "leader {} (epoch {current_epoch}) lost acknowledged {rec:?} at offset {offset}: has {have:?}",
                        node.id
                    ));
                }
            }
        }
    }
    // Logs agree below the smallest high watermark of the live replicas.
    let live: Vec<_> = world.nodes.iter().filter(|n| n.alive).collect();
    if let Some(min_hw) = live.iter().map(|n| n.high_watermark()).min() {
        let upto = usize::try_from(min_hw).unwrap_or(0);
        for pair in live.windows(2) {
            let (a, b) = (&pair[0].log.records, &pair[1].log.records);
            if a[..upto] != b[..upto] {
                let at = (0..upto).find(|&o| a[o] != b[o]).unwrap_or(0);
                return Err(format!(
                    "replicas {} and {} disagree at offset {at} below the minimum high watermark {min_hw}",
                    pair[0].id, pair[1].id
                ));
            }
        }
    }
    Ok(())
}

/// Converged: every replica alive, logs identical, every high watermark at the end.
pub fn converged(world: &World) -> bool {
    let Some(first) = world.nodes.first() else {
        return true;
    };
    world.nodes.iter().all(|n| {
        n.alive
            && n.log.records == first.log.records
            && n.high_watermark() == n.log.end_offset()
            && !matches!(n.role, Role::Idle)
    })
}
