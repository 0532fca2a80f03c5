//! The `local` subcommands: `up` (supervise in the foreground), `apply` (replace the
//! desired spec), `status` (print or wait for a condition), `down` (stop `up`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{is_alive, terminate};
use super::state::{StateDir, StateError, write_atomic};
use super::supervisor::Supervisor;
use super::{LocalError, LocalRuntime};
use crate::admin::KafkaAdmin;
use crate::cli::Output;
use crate::render::{RenderError, parse_cluster};
use crate::status::conditions;
use crate::validate::validate;

/// Errors of the `local` commands, worded for the command line.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// Reading the cluster file.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid KafkaCluster.
    #[error("{0}")]
    Cluster(#[from] RenderError),
    /// State directory.
    #[error(transparent)]
    State(#[from] StateError),
    /// Runtime.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// `apply` of a different cluster.
    #[error("the state dir runs cluster `{running}`, the file names `{applied}`")]
    OtherCluster {
        /// Name in the state dir.
        running: String,
        /// Name in the file.
        applied: String,
    },
    /// `status` before any `up`.
    #[error("no status yet in {0} (is `local up` running?)")]
    NoStatus(PathBuf),
    /// `status --wait` timed out.
    #[error("timed out after {timeout}s waiting for condition {condition}=True; {detail}")]
    Timeout {
        /// Condition waited for.
        condition: String,
        /// Seconds.
        timeout: u64,
        /// Current condition state.
        detail: String,
    },
    /// `down` could not stop `up`.
    #[error("local up (pid {0}) did not stop in time")]
    StillRunning(i32),
    /// Output encoding.
    #[error("encoding status: {0}")]
    Encode(String),
    /// A `local user` command: a bad file, or a user that is not ready (and why).
    #[error("{0}")]
    User(String),
}

fn read(path: &Path) -> Result<String, CmdError> {
    std::fs::read_to_string(path).map_err(|source| CmdError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Broker binaries: this build's own `tidewater-broker` (next to the operator binary) for
/// this build's version, plus `--broker-bin VERSION=PATH` entries (which win).
pub fn binaries(extra: Vec<(String, PathBuf)>) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let own = dir.join("tidewater-broker");
        if own.exists() {
            out.insert(env!("CARGO_PKG_VERSION").to_owned(), own);
        }
    }
    out.extend(extra);
    out
}

/// `local up`: validates the file, takes the state dir, supervises until Ctrl-C/SIGTERM.
pub async fn up(
    file: &Path,
    state_dir: &Path,
    broker_bins: Vec<(String, PathBuf)>,
) -> Result<(), CmdError> {
    let text = read(file)?;
    let cluster = parse_cluster(&text)?;
    validate(&cluster).map_err(RenderError::from)?;
    let state = StateDir::open(state_dir)?;
    state.lock()?;
    let result = async {
        write_atomic(&state.cluster_file(), text.as_bytes())?;
        state.event(
            "Normal",
            "Starting",
            &format!(
                "local up of cluster {}",
                cluster.metadata.name.clone().unwrap_or_default()
            ),
        )?;
        let runtime =
            LocalRuntime::new(state.clone(), binaries(broker_bins), KafkaAdmin::default()).await?;
        Supervisor::new(runtime).run(shutdown_signal()).await?;
        Ok::<(), CmdError>(())
    }
    .await;
    state.unlock();
    result
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// `local apply`: replaces the desired spec; the running `up` picks it up on its next
/// tick and reports problems in the status, as the kube controller does.
pub fn apply(file: &Path, state_dir: &Path) -> Result<String, CmdError> {
    let text = read(file)?;
    let cluster = parse_cluster(&text)?;
    let state = StateDir::open(state_dir)?;
    let name = cluster.metadata.name.clone().unwrap_or_default();
    if let Ok(current) = std::fs::read_to_string(state.cluster_file())
        && let Ok(running) = parse_cluster(&current)
    {
        let running = running.metadata.name.unwrap_or_default();
        if running != name {
            return Err(CmdError::OtherCluster {
                running,
                applied: name,
            });
        }
    }
    write_atomic(&state.cluster_file(), text.as_bytes())?;
    let message = format!("kafkacluster.tidewater.io/{name} configured");
    println!("{message}");
    Ok(message)
}

/// `local status`: prints the status; with `wait`, first polls until that condition is
/// True or `timeout` seconds pass.
pub async fn status(
    state_dir: &Path,
    output: Output,
    wait: Option<&str>,
    timeout: u64,
) -> Result<(), CmdError> {
    let state = StateDir::open(state_dir)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let current = loop {
        let s = state.read_status()?;
        let Some(condition) = wait else { break s };
        if s.as_ref()
            .is_some_and(|s| conditions::is_true(&s.conditions, condition))
        {
            break s;
        }
        if tokio::time::Instant::now() >= deadline {
            let detail = s
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == condition))
                .map_or_else(
                    || "no such condition yet".to_owned(),
                    |c| format!("{}={} ({}: {})", c.type_, c.status, c.reason, c.message),
                );
            return Err(CmdError::Timeout {
                condition: condition.to_owned(),
                timeout,
                detail,
            });
        }
        // Polling a file another process writes; no change notification to await.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let s = current.ok_or_else(|| CmdError::NoStatus(state.status_file()))?;
    let text = match output {
        Output::Yaml => serde_yaml::to_string(&s).map_err(|e| CmdError::Encode(e.to_string()))?,
        Output::Json => {
            serde_json::to_string_pretty(&s).map_err(|e| CmdError::Encode(e.to_string()))? + "\n"
        }
    };
    print!("{text}");
    Ok(())
}

/// `local down`: SIGTERM to the running `up`, which stops its brokers; waits for it.
pub async fn down(state_dir: &Path, timeout: u64) -> Result<(), CmdError> {
    let state = StateDir::open(state_dir)?;
    let Some(pid) = state.running_pid()? else {
        println!("no local cluster is running in {}", state_dir.display());
        return Ok(());
    };
    terminate(pid);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    while is_alive(pid) {
        if tokio::time::Instant::now() >= deadline {
            return Err(CmdError::StillRunning(pid));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("stopped local cluster (pid {pid})");
    Ok(())
}
