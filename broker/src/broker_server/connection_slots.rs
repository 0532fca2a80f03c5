//! `max.connections` as a limit that a dynamic config change resizes while connections
//! are open, as Kafka's `ConnectionQuotas.updateMaxConnections` does: raising it admits
//! waiting connections at once; lowering it closes nothing, but connections closing
//! afterwards free no slot until the open count is under the new limit.
//!
//! Owns only the count. It must not decide who is refused: the accept loops wait on it.

use std::sync::{Arc, Mutex};

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// The connection cap shared by every accept loop of one broker.
#[derive(Debug)]
pub struct ConnectionSlots {
    /// One permit per connection that may still be opened.
    free: Arc<Semaphore>,
    /// Resizing and releasing a slot agree on the same numbers under this lock.
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    /// The limit in force.
    limit: usize,
    /// Slots still held by open connections beyond a lowered limit: each one released
    /// is retired instead of freed.
    debt: usize,
}

/// An open connection's slot; dropping it frees the slot (or retires it, see above).
#[derive(Debug)]
pub struct ConnectionSlot {
    permit: Option<OwnedSemaphorePermit>,
    slots: Arc<ConnectionSlots>,
}

impl ConnectionSlots {
    pub fn new(limit: usize) -> Arc<Self> {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        Arc::new(ConnectionSlots {
            free: Arc::new(Semaphore::new(limit)),
            state: Mutex::new(SlotState { limit, debt: 0 }),
        })
    }

    /// Waits for a free slot. Fails only once [`ConnectionSlots::close`] was called.
    pub async fn acquire(self: &Arc<Self>) -> Result<ConnectionSlot, AcquireError> {
        let permit = self.free.clone().acquire_owned().await?;
        Ok(ConnectionSlot {
            permit: Some(permit),
            slots: self.clone(),
        })
    }

    /// The limit in force.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Applies a new `max.connections`.
    pub fn resize(&self, limit: usize) {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        let mut st = self.lock();
        if limit > st.limit {
            let grow = limit - st.limit;
            let repaid = grow.min(st.debt);
            st.debt -= repaid;
            self.free.add_permits(grow - repaid);
        } else {
            let shrink = st.limit - limit;
            let forgotten = self.free.forget_permits(shrink);
            st.debt += shrink - forgotten;
        }
        st.limit = limit;
    }

    /// Wakes every waiter with an error: the broker is shutting down.
    pub fn close(&self) {
        self.free.close();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut st = self.slots.lock();
        if let Some(permit) = self.permit.take() {
            if st.debt > 0 {
                st.debt -= 1;
                permit.forget();
            } else {
                drop(permit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_acquire(slots: &Arc<ConnectionSlots>) -> Option<ConnectionSlot> {
        let permit = slots.free.clone().try_acquire_owned().ok()?;
        Some(ConnectionSlot {
            permit: Some(permit),
            slots: slots.clone(),
        })
    }

    #[test]
    fn raising_the_limit_admits_more_connections_at_once() {
        let slots = ConnectionSlots::new(1);
        let _a = try_acquire(&slots).expect("first slot");
        assert!(try_acquire(&slots).is_none());
        slots.resize(3);
        let _b = try_acquire(&slots).expect("second slot after raising to 3");
        let _c = try_acquire(&slots).expect("third slot");
        assert!(try_acquire(&slots).is_none());
        assert_eq!(slots.limit(), 3);
    }

    #[test]
    fn lowering_below_the_open_count_frees_nothing_until_under_the_new_limit() {
        let slots = ConnectionSlots::new(3);
        let a = try_acquire(&slots).expect("a");
        let b = try_acquire(&slots).expect("b");
        let c = try_acquire(&slots).expect("c");
        slots.resize(1);
        drop(a);
        assert!(try_acquire(&slots).is_none(), "2 open, limit 1");
        drop(b);
        assert!(try_acquire(&slots).is_none(), "1 open, limit 1");
        drop(c);
        let d = try_acquire(&slots).expect("0 open, limit 1");
        assert!(try_acquire(&slots).is_none());
        drop(d);
    }

    #[test]
    fn lowering_with_free_slots_takes_them_away_and_raising_repays_debt_first() {
        let slots = ConnectionSlots::new(4);
        let a = try_acquire(&slots).expect("a");
        let b = try_acquire(&slots).expect("b");
        let c = try_acquire(&slots).expect("c");
        slots.resize(1); // one free slot forgotten, two owed
        assert!(try_acquire(&slots).is_none());
        slots.resize(2); // repays one of the two owed
        assert!(try_acquire(&slots).is_none(), "3 open, limit 2");
        drop(a); // retires the last owed slot
        assert!(try_acquire(&slots).is_none(), "2 open, limit 2");
        drop(b);
        let d = try_acquire(&slots).expect("1 open, limit 2");
        assert!(try_acquire(&slots).is_none());
        drop((c, d));
        let _e = try_acquire(&slots).expect("e");
        let _f = try_acquire(&slots).expect("f");
        assert!(try_acquire(&slots).is_none(), "limit 2 holds");
    }
}
