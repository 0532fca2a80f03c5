//! What `/healthz` reports: whether this replica can do its job. A replica is healthy
//! while it holds the leader Lease and its watches work, or while it stands by for the
//! Lease; it is not once it lost the Lease or its controller stopped, nor while its
//! watches have failed for longer than [`WATCH_GRACE`] (the kubelet then restarts it,
//! which re-lists everything, as a watch that cannot resume needs).
//!
//! The decision ([`HealthState::report`]) is pure and takes the time as an argument;
//! [`Health`] is the shared handle the controller updates and the HTTP server reads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long watches may keep failing before the replica reports itself unhealthy: long
/// enough to ride out an API server restart, short enough that a replica that lost its
/// watches for good is restarted within minutes.
pub const WATCH_GRACE: Duration = Duration::from_secs(60);

/// The replica's part in leader election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serving before the controller started.
    Starting,
    /// Leader election is on and another replica holds the Lease.
    StandingBy,
    /// This replica holds the Lease and reconciles.
    Leading,
    /// Leader election is off: the only replica reconciles.
    Single,
}

/// The state `/healthz` is computed from.
#[derive(Debug, Clone)]
pub struct HealthState {
    role: Role,
    /// Since when every watch event has been an error (None: the last one was fine).
    watch_failing_since: Option<Instant>,
    /// Why this replica stopped working (Lease lost, controller ended).
    stopped: Option<String>,
}

impl Default for HealthState {
    fn default() -> Self {
        Self {
            role: Role::Starting,
            watch_failing_since: None,
            stopped: None,
        }
    }
}

impl HealthState {
    /// `(healthy, text)` at time `now`.
    pub fn report(&self, now: Instant) -> (bool, String) {
        if let Some(why) = &self.stopped {
            return (false, format!("unhealthy: {why}\n"));
        }
        let role = match self.role {
            Role::Starting => "starting",
            Role::StandingBy => "standing by for the leader Lease",
            Role::Leading => "leader",
            Role::Single => "reconciling (no leader election)",
        };
        if let Some(since) = self.watch_failing_since {
            let failing = now.saturating_duration_since(since);
            if failing > WATCH_GRACE {
                return (
                    false,
                    format!("unhealthy: watches failing for {}s\n", failing.as_secs()),
                );
            }
            return (
                true,
                format!("ok: {role}, watches failing for {}s\n", failing.as_secs()),
            );
        }
        (true, format!("ok: {role}\n"))
    }
}

/// Shared handle on the replica's [`HealthState`].
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<HealthState>>);

impl Health {
    fn update(&self, f: impl FnOnce(&mut HealthState)) {
        // A poisoned lock only means a panic elsewhere; the state is still usable.
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }

    /// Sets the replica's role.
    pub fn set_role(&self, role: Role) {
        self.update(|s| s.role = role);
    }

    /// A watch event or reconcile succeeded.
    pub fn watch_ok(&self) {
        self.update(|s| s.watch_failing_since = None);
    }

    /// A watch failed at `now`; the first failure of a run starts the clock.
    pub fn watch_failed(&self, now: Instant) {
        self.update(|s| {
            s.watch_failing_since.get_or_insert(now);
        });
    }

    /// The replica stopped working for `why`.
    pub fn stopped(&self, why: impl Into<String>) {
        let why = why.into();
        self.update(|s| s.stopped = Some(why));
    }

    /// `(healthy, text)` now.
    pub fn report(&self) -> (bool, String) {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.report(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_by_and_leading_are_healthy() {
        let h = Health::default();
        assert_eq!(h.report(), (true, "ok: starting\n".to_owned()));
        h.set_role(Role::StandingBy);
        assert_eq!(
            h.report(),
            (true, "ok: standing by for the leader Lease\n".to_owned())
        );
        h.set_role(Role::Leading);
        assert_eq!(h.report(), (true, "ok: leader\n".to_owned()));
    }

    #[test]
    fn failing_watches_turn_unhealthy_after_the_grace_and_recover() {
        let mut s = HealthState {
            role: Role::Leading,
            ..HealthState::default()
        };
        let t0 = Instant::now();
        s.watch_failing_since = Some(t0);
        assert!(s.report(t0 + WATCH_GRACE / 2).0);
        let (ok, text) = s.report(t0 + WATCH_GRACE + Duration::from_secs(1));
        assert!(!ok);
        assert_eq!(text, "unhealthy: watches failing for 61s\n");
        // Later failures do not move the start of the run.
        let h = Health::default();
        h.watch_failed(t0);
        h.watch_failed(t0 + Duration::from_secs(30));
        assert_eq!(h.0.lock().unwrap().watch_failing_since, Some(t0));
        h.watch_ok();
        assert!(h.report().0);
    }

    #[test]
    fn a_lost_lease_is_unhealthy_whatever_else() {
        let h = Health::default();
        h.set_role(Role::Leading);
        h.stopped("lost the leader Lease");
        assert_eq!(
            h.report(),
            (false, "unhealthy: lost the leader Lease\n".to_owned())
        );
    }
}
