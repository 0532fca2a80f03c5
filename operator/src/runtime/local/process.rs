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

/// Sends SIGTERM to `pid` (ignoring a process that is already gone).
pub fn terminate(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = kill_process(p, Signal::TERM);
    }
}

/// A running broker.
#[derive(Debug)]
pub struct BrokerProcess {
    child: Child,
    /// Revision it was started with.
    pub revision: String,
    /// Version of the binary.
    pub version: String,
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
        .args(["--cluster-id", cluster_id])
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
            child,
            revision,
            version,
        })
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            terminate(pid);
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
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

/// Stops broker processes recorded in `<root>/*/broker-*/<pid_file>` that still run
/// this state dir's config: leftovers of an `up` that was killed with SIGKILL. A pid
/// reused by an unrelated process is left alone (its command line does not name the
/// config file).
pub async fn stop_orphans(root: &Path, pid_file: &str, grace: Duration) {
    let Ok(clusters) = std::fs::read_dir(root) else {
        return;
    };
    for node_dir in clusters
        .flatten()
        .filter_map(|c| std::fs::read_dir(c.path()).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
    {
        let Some(pid) = std::fs::read_to_string(node_dir.join(pid_file))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let config = node_dir.join("server.properties").display().to_string();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !is_alive(pid) || !String::from_utf8_lossy(&cmdline).contains(&config) {
            continue;
        }
        tracing::warn!(pid, dir = %node_dir.display(), "stopping a broker left behind by a previous run");
        terminate(pid);
        let deadline = tokio::time::Instant::now() + grace;
        while is_alive(pid) && tokio::time::Instant::now() < deadline {
            // The orphan is not our child: polling is the only way to see it exit.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if is_alive(pid)
            && let Some(p) = Pid::from_raw(pid)
        {
            let _ = kill_process(p, Signal::KILL);
        }
    }
}
