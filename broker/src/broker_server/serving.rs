//! Whether this broker serves clients now: `/readyz` readiness, the shutdown flag that
//! answers long polls at once, and the connection slots of `max.connections` (Kafka's
//! `ConnectionQuotas`). The KRaft half of readiness (registered and unfenced) is
//! [`super::Broker::is_ready`]'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::info;

use super::connection_slots::ConnectionSlots;

pub struct Serving {
    /// Set once listeners are bound and every log is loaded (`/readyz`).
    ready: AtomicBool,
    /// Set when shutdown begins: long polls answer at once instead of waiting.
    closing: AtomicBool,
    /// `max.connections` (static, then dynamic): every listener's accept loop waits on it.
    connection_slots: Arc<ConnectionSlots>,
}

impl Serving {
    pub fn new(max_connections: usize) -> Self {
        Serving {
            ready: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            connection_slots: ConnectionSlots::new(max_connections),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn begin_closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// The slots every listener's accept loop takes one of per connection.
    pub fn connection_slots(&self) -> &Arc<ConnectionSlots> {
        &self.connection_slots
    }

    /// Resizes the connection cap when the effective `max.connections` changed.
    pub fn set_max_connections(&self, limit: usize) {
        if self.connection_slots.limit() != limit {
            info!(limit, "max.connections");
            self.connection_slots.resize(limit);
        }
    }
}
