//! [`MetadataFollower`]: a broker following the metadata log as a KRaft observer.
//!
//! Long-polls FetchMetadata from the voters (the leader when known, any voter
//! otherwise; it moves on after an error), applies what comes back in log order
//! (the whole image first when it is new or far behind, then entries), and publishes
//! each new image on a watch channel. It uses its own connections, so a long poll
//! never delays a heartbeat on the client's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ControllerClient;
use crate::image::MetadataImage;
use crate::raft::{Connection, Request, Response};
use crate::rpc::MetadataDelta;

/// How long a voter holds a fetch open when nothing is new.
const FETCH_MAX_WAIT: Duration = Duration::from_millis(500);

/// Pause after a failed fetch before asking the next voter.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Follows the metadata log; stops on [`Self::shutdown`] or drop.
#[derive(Debug)]
pub struct MetadataFollower {
    image: watch::Receiver<Arc<MetadataImage>>,
    task: Option<JoinHandle<()>>,
}

impl MetadataFollower {
    /// Spawns a task that long-polls FetchMetadata (max_wait ~500 ms) from the voters
    /// (leader preferred, any voter works; switch on error) and publishes each new image
    /// in log order. `observer_id` is this broker's node.id. Needs a tokio runtime.
    pub fn start(client: ControllerClient, observer_id: i32) -> Self {
        let (publish, image) = watch::channel(Arc::new(MetadataImage::default()));
        let task = tokio::spawn(follow(client, observer_id, publish));
        Self {
            image,
            task: Some(task),
        }
    }

    /// The latest image (offset 0 and empty until the first fetch answers).
    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// Stops the task and waits until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _cancelled = task.await;
        }
    }
}

impl Drop for MetadataFollower {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn follow(
    client: ControllerClient,
    observer_id: i32,
    publish: watch::Sender<Arc<MetadataImage>>,
) {
    let mut image = MetadataImage::default();
    let mut conns: BTreeMap<u64, Connection> = client
        .voters()
        .iter()
        .map(|(id, addr)| (*id, client.connection(*id, addr.clone())))
        .collect();
    let ids: Vec<u64> = conns.keys().copied().collect();
    if ids.is_empty() {
        tracing::warn!("no controller.quorum.voters: metadata cannot be followed");
        return;
    }
    let ttl = FETCH_MAX_WAIT + client.request_timeout();
    let mut turn = 0usize;
    // The voter that failed last: not preferred even if it is the known leader.
    let mut failed: Option<u64> = None;
    loop {
        let leader = client
            .active_controller()
            .and_then(|l| u64::try_from(l).ok())
            .filter(|l| conns.contains_key(l) && failed != Some(*l));
        let target = leader.unwrap_or(ids[turn % ids.len()]);
        let Some(conn) = conns.get_mut(&target) else {
            return;
        };
        let request = Request::FetchMetadata {
            after: image.offset,
            max_wait_ms: FETCH_MAX_WAIT.as_millis() as u64,
            observer_id: Some(observer_id),
        };
        let started = Instant::now();
        match conn.call(&request, ttl).await {
            Ok(Response::Metadata(delta)) => {
                failed = None;
                let empty = matches!(&delta, MetadataDelta::Entries(e) if e.is_empty());
                if delta.apply_to(&mut image) {
                    publish.send_replace(Arc::new(image.clone()));
                }
                // An empty answer well before the wait elapsed means the voter cannot
                // wait (it is stopping): do not hammer it.
                if empty && started.elapsed() < FETCH_MAX_WAIT / 2 {
                    failed = Some(target);
                    turn += 1;
                    tokio::time::sleep(RETRY_BACKOFF).await;
                }
            }
            Ok(other) => {
                tracing::debug!(voter = target, response = ?std::mem::discriminant(&other), "unexpected metadata fetch response");
                failed = Some(target);
                turn += 1;
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
            Err(e) => {
                tracing::debug!(voter = target, error = ?e, "metadata fetch failed; trying another voter");
                failed = Some(target);
                turn += 1;
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        }
    }
}
