//! A queue one sender task drains in batches (Kafka's `AlterPartitionManager` shape):
//! callers push, the sender takes everything queued and sends it as one controller call.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Items waiting for the sender task, in push order.
pub struct BatchQueue<T> {
    pending: Mutex<Vec<T>>,
    /// Wakes the sender task (a permit is kept when it is busy).
    wake: Arc<Notify>,
}

impl<T> Default for BatchQueue<T> {
    fn default() -> Self {
        Self {
            pending: Mutex::default(),
            wake: Arc::default(),
        }
    }
}

impl<T> BatchQueue<T> {
    pub fn push(&self, item: T) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(item);
        self.wake.notify_one();
    }

    /// Everything queued, leaving the queue empty.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// What the sender task waits on when the queue is empty (a push since its last
    /// `take` left a permit, so the wait then returns at once).
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
