//! One broker child process: format its data dir, start it with its own log file, probe
//! `/readyz`, stop it with SIGTERM (then SIGKILL after a deadline), and notice when it
//! died. No decisions: the supervisor decides when to start and stop.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process, test_kill_process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// Errors running a broker process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The binary could not be started.
    #[error("starting {bin}: {source}")]
    Spawn {
        /// Broker binary.
        bin: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `format` failed.
    #[error("formatting {dir}: {message}")]
    Format {
        /// Node directory.
        dir: PathBuf,
        /// The broker's message.
        message: String,
    },
    /// The log file could not be opened.
    #[error("opening {path}: {source}")]
    Log {
        /// Log file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Whether process `pid` exists.
pub fn is_alive(pid: i32) -> bool {
    Pid::from_raw(pid).is_some_and(|p| test_kill_process(p).is_ok())
}

/// Whether process `pid` exists and has not exited: a process that is not our child
/// stays a zombie (state `Z`) until whoever adopted it reaps it.
fn is_running(pid: i32) -> bool {
    if !is_alive(pid) {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X'))
}

/// Sends SIGTERM to `pid` (ignoring a process that is already gone), then SIGCONT so a
/// stopped (SIGSTOP) broker handles it instead of waiting out the grace period.
pub fn terminate(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = kill_process(p, Signal::TERM);
        let _ = kill_process(p, Signal::CONT);
    }
}

/// A running broker: our child, or one adopted from an `up` that was killed.
#[derive(Debug)]
pub struct BrokerProcess {
    /// The child handle when this `up` started it; `None` for an adopted broker
    /// (its parent died, so only its pid is left to watch and signal).
    child: Option<Child>,
    pid: u32,
    /// Revision it was started with.
    pub revision: String,
    /// Version of the binary.
    pub version: String,
}

/// What a node dir records about the broker started in it, so a later `up` can adopt
/// it (written before the spawn; `pid` after it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Started {
    /// Binary it runs (checked against `/proc/<pid>/exe`).
    pub bin: PathBuf,
    /// Revision it was started with.
    pub revision: String,
    /// Version of the binary.
    pub version: String,
    /// Its pid, once spawned.
    pub pid: Option<u32>,
}

/// Runs `bin format` for `config` (idempotent for the same cluster id and node id).
pub async fn format(
    bin: &Path,
    config: &Path,
    cluster_id: &str,
    dir: &Path,
) -> Result<(), ProcessError> {
    let out = Command::new(bin)
        .args(["format", "--config"])
        .arg(config)
        // One form every broker release parses, even for an id that begins with '-'.
        .arg(format!("--cluster-id={cluster_id}"))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| ProcessError::Spawn {
            bin: bin.to_path_buf(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProcessError::Format {
            dir: dir.to_path_buf(),
            // The last line is the broker's error; earlier ones are its log.
            message: String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("format failed")
                .trim()
                .to_owned(),
        })
    }
}

impl BrokerProcess {
    /// Starts `bin start --config <config>`, appending stdout and stderr to `log`.
    pub fn start(
        bin: &Path,
        config: &Path,
        log: &Path,
        revision: String,
        version: String,
    ) -> Result<Self, ProcessError> {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|source| ProcessError::Log {
                    path: log.to_path_buf(),
                    source,
                })
        };
        let child = Command::new(bin)
            .args(["start", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(open()?)
            .stderr(open()?)
            // The supervisor stops brokers itself; this catches the supervisor dying.
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                bin: bin.to_path_buf(),
                source,
            })?;
        Ok(Self {
            pid: child.id().unwrap_or_default(),
            child: Some(child),
            revision,
            version,
        })
    }

    /// A broker left running by an `up` that was killed, taken over as it runs.
    pub fn adopted(pid: u32, revision: String, version: String) -> Self {
        Self {
            child: None,
            pid,
            revision,
            version,
        }
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        match &self.child {
            Some(c) => c.id(),
            None => Some(self.pid),
        }
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.as_mut() {
            Some(c) => c
                .try_wait()
                .ok()
                .flatten()
                .map(|s: ExitStatus| s.to_string()),
            None => (!i32::try_from(self.pid).is_ok_and(is_running))
                .then(|| "adopted process exited".to_owned()),
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        let Ok(pid) = i32::try_from(self.pid) else {
            return;
        };
        terminate(pid);
        match self.child.as_mut() {
            Some(child) => {
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
            }
            None => stop_pid(pid, grace).await,
        }
    }
}

/// Waits up to `grace` for `pid` (already sent SIGTERM) to exit, then SIGKILLs it.
async fn stop_pid(pid: i32, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while is_running(pid) && tokio::time::Instant::now() < deadline {
        // Not our child: polling is the only way to see it exit.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if is_running(pid)
        && let Some(p) = Pid::from_raw(pid)
    {
        let _ = kill_process(p, Signal::KILL);
    }
}

/// Whether `GET /readyz` on `127.0.0.1:port` answers 200.
pub async fn probe_ready(port: i32) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", u16::try_from(port).ok()?))
            .await
            .ok()?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(
            buf.get(..n)?.starts_with(b"HTTP/1.1 200")
                || buf.get(..n)?.starts_with(b"HTTP/1.0 200"),
        )
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// What [`find_leftover`] found in a node dir.
#[derive(Debug, PartialEq, Eq)]
pub enum Leftover {
    /// Nothing of this node dir runs.
    None,
    /// A broker of this node dir runs the binary recorded for it: adopt it.
    Adopt(u32, Started),
    /// A broker of this node dir runs, but not as recorded (another binary, no record):
    /// it must be stopped before the node starts again.
    Stray(u32),
}

/// Looks for a broker left behind in `node_dir` by an `up` killed with SIGKILL: a
/// process whose command line names this node dir's `server.properties` (found in
/// `/proc`, so a broker spawned just before the kill, whose pid was never recorded,
/// counts too), checked against `record` through `/proc/<pid>/exe`.
pub fn find_leftover(node_dir: &Path, record: Option<&Started>) -> Leftover {
    let config = node_dir.join("server.properties").display().to_string();
    let Some(pid) = pids_with_arg(&config).into_iter().next() else {
        return Leftover::None;
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    match record {
        Some(r) if exe.is_some() && exe == r.bin.canonicalize().ok() => {
            Leftover::Adopt(pid, r.clone())
        }
        _ => Leftover::Stray(pid),
    }
}

/// Pids of live processes with `arg` as one of their command-line arguments.
fn pids_with_arg(arg: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
        })
        .filter(|pid| i32::try_from(*pid).is_ok_and(is_running))
        .collect();
    pids.sort_unstable();
    pids
}

/// Stops a stray broker (SIGTERM, SIGKILL after `grace`).
pub async fn stop_stray(pid: u32, grace: Duration) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    tracing::warn!(pid, "stopping a broker left behind by a previous run");
    terminate(pid);
    stop_pid(pid, grace).await;
}
