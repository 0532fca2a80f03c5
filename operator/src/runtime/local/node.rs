//! node: one broker process as the local runtime tracks it ([`Node`]: its process,
//! revision, crash count and restart backoff), the record its node dir keeps
//! (`broker.json`), and the adoption of brokers a killed `local up` left running.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::LocalError;
use super::STOP_GRACE;
use super::process::{self, BrokerProcess, Leftover, Started};
use super::state::{self, StateDir, StateError};

/// What a node dir records about its broker ([`process::Started`]): lets the next `up`
/// adopt the brokers a killed `up` (SIGKILL skips every cleanup) left running, with
/// the revision they run, so a roll resumes exactly where it was.
pub(super) const STARTED_FILE: &str = "broker.json";
/// Longest wait between restarts of a crash-looping broker.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One node the runtime knows about.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) process: Option<BrokerProcess>,
    /// Revision of the last start (kept while crashed so a crash is not a "change").
    pub(super) revision: String,
    pub(super) version: String,
    pub(super) crashes: u32,
    pub(super) next_start: Instant,
    /// Since when the current process (started or adopted) has not been ready: a node
    /// unready for longer than `spec.rollout.readyTimeoutSeconds` is reported `NotReady`.
    pub(super) unready_since: Instant,
    pub(super) problem: Option<(String, String)>,
}

impl Node {
    pub(super) fn new(version: &str) -> Self {
        Self {
            process: None,
            revision: String::new(),
            version: version.to_owned(),
            crashes: 0,
            next_start: Instant::now(),
            unready_since: Instant::now(),
            problem: None,
        }
    }
}

pub(super) fn write_record(dir: &std::path::Path, record: &Started) -> Result<(), StateError> {
    let path = dir.join(STARTED_FILE);
    let text = serde_json::to_string(record).map_err(|e| StateError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })?;
    state::write_atomic(&path, text.as_bytes())
}

/// Brokers of this state dir still running from an `up` that was killed: adopted when
/// they run the binary their node dir records (as a kubelet keeps its pods across its
/// own restart), stopped when not (then their node starts again).
pub(super) async fn adopt_leftovers(state: &StateDir) -> Result<BTreeMap<i32, Node>, LocalError> {
    let mut nodes = BTreeMap::new();
    for (id, dir) in state.node_dirs() {
        let record: Option<Started> = std::fs::read_to_string(dir.join(STARTED_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        match process::find_leftover(&dir, record.as_ref()) {
            Leftover::None => {}
            Leftover::Stray(pid) => process::stop_stray(pid, STOP_GRACE).await,
            Leftover::Adopt(pid, r) => {
                tracing::info!(broker = id, pid, revision = %r.revision, "adopting a running broker");
                state.event(
                    "Normal",
                    "BrokerAdopted",
                    &format!(
                        "node {id}: adopted running broker pid {pid} (version {})",
                        r.version
                    ),
                )?;
                let mut node = Node::new(&r.version);
                node.revision.clone_from(&r.revision);
                node.process = Some(BrokerProcess::adopted(pid, r.revision, r.version));
                nodes.insert(id, node);
            }
        }
    }
    Ok(nodes)
}

pub(super) fn backoff(crashes: u32) -> Duration {
    let secs = 1u64 << crashes.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}
