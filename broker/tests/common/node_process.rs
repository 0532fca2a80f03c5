//! `NodeProcess`: one `tidewater-broker start` process, the single place tests spawn a
//! broker, wait until it is ready, signal it (SIGTERM, kill -9, SIGSTOP/SIGCONT) and
//! start it again on the same config, ports and data.
//!
//! Owns the process: dropping a `NodeProcess` kills it (a stopped process is continued
//! first so the kill is delivered). Each run's stderr goes to its own file in the
//! node's directory, so a failing test can print what every run said. It does not
//! write configs or pick ports: its callers (`Broker`, the cluster `Node`, the netns
//! `NsNode`) do.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::http;
use super::process::{Output, spawn};
use super::wait::wait_until;

/// How long a process may take to exit after SIGTERM before the test fails.
pub const SHUTDOWN: Duration = Duration::from_secs(30);

/// A broker process (running or not) and what is needed to start it again.
pub struct NodeProcess {
    /// Names the process in messages ("broker", "node 3").
    label: String,
    /// The program and arguments of `start`; the program may be a launcher such as
    /// `ip netns exec NS`, which execs the broker so the pid stays the broker's.
    command: Vec<String>,
    /// Where each run's stderr file goes.
    dir: PathBuf,
    /// Each run's stderr file is `<stderr_prefix>-<run>.log`.
    stderr_prefix: String,
    /// Probed for readiness when set (controller-only nodes have no Kafka listener).
    kafka_addr: Option<SocketAddr>,
    /// `/readyz` is probed here.
    http_addr: SocketAddr,
    /// How long a start may take until ready.
    startup: Duration,
    child: Option<Child>,
    /// Whether the process was SIGSTOPped and not continued yet.
    stopped: bool,
    /// Number of times the process was started; names each run's stderr file.
    runs: u32,
}

impl NodeProcess {
    /// A process not started yet; `command` is the program and its `start` arguments.
    pub fn new(
        label: impl Into<String>,
        command: Vec<String>,
        dir: &Path,
        stderr_prefix: &str,
        kafka_addr: Option<SocketAddr>,
        http_addr: SocketAddr,
        startup: Duration,
    ) -> NodeProcess {
        NodeProcess {
            label: label.into(),
            command,
            dir: dir.to_path_buf(),
            stderr_prefix: stderr_prefix.to_owned(),
            kafka_addr,
            http_addr,
            startup,
            child: None,
            stopped: false,
            runs: 0,
        }
    }

    /// `BIN start --config CONFIG`, the command of a node run directly.
    pub fn start_command(bin: &str, config: &Path) -> Vec<String> {
        vec![
            bin.to_owned(),
            "start".into(),
            "--config".into(),
            config.display().to_string(),
        ]
    }

    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.kafka_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Number of runs so far (1 after the first start).
    pub fn runs(&self) -> u32 {
        self.runs
    }

    /// The stderr file of run `run` (1-based).
    pub fn stderr_path(&self, run: u32) -> PathBuf {
        self.dir.join(format!("{}-{run}.log", self.stderr_prefix))
    }

    /// The pid; panics when the process is not running.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("{} is not running", self.label))
    }

    /// Whether the process is alive (`false` also when never started).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Whether a process was started and not reaped (it may have exited by itself).
    pub fn has_child(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process is SIGSTOPped.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Starts the process without waiting for readiness.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.label);
        self.runs += 1;
        let stderr = File::create(self.stderr_path(self.runs)).expect("create stderr file");
        let (program, args) = self.command.split_first().expect("a start command");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} (`{program}`): {e}", self.label));
        self.child = Some(child);
        self.stopped = false;
    }

    /// Waits until the Kafka port (if any) accepts and `/readyz` answers 200; panics
    /// with every run's stderr if the process exits first.
    pub fn wait_ready(&mut self) {
        let (kafka, http_addr) = (self.kafka_addr, self.http_addr);
        let label = self.label.clone();
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("{label} is not running"));
        let mut exited = None;
        wait_until(
            &format!("{label} ready (Kafka port + /readyz 200)"),
            self.startup,
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status);
                    return Ok(());
                }
                if let Some(kafka) = kafka {
                    TcpStream::connect_timeout(&kafka, Duration::from_secs(1))
                        .map_err(|e| format!("kafka port: {e}"))?;
                }
                match http::get(http_addr, "/readyz") {
                    Ok(r) if r.status == 200 => Ok(()),
                    Ok(r) => Err(format!("/readyz answered {}", r.status)),
                    Err(e) => Err(format!("/readyz: {e}")),
                }
            },
        );
        if let Some(status) = exited {
            self.child = None;
            panic!(
                "{label} exited during startup with {status}\n{}",
                self.log_tail(usize::MAX)
            );
        }
    }

    /// Starts the process (again, on the same config and data) and waits until ready.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Sends `sig` (as `kill` spells it: `-TERM`, `-STOP`, ...) to the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.pid();
        let sent = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {sig} {pid} failed");
    }

    /// SIGKILL, as a crash would; returns once the process is reaped.
    pub fn kill9(&mut self) -> ExitStatus {
        let label = &self.label;
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("{label} is not running"));
        child.kill().expect("kill -9");
        self.stopped = false;
        child.wait().expect("reap killed process")
    }

    /// SIGTERM, then waits up to `timeout` for the exit and returns its status; panics
    /// with the stderr tail (after a kill -9) when the process ignores it.
    pub fn sigterm_within(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("-TERM");
        let mut child = self.child.take().expect("process is running");
        self.stopped = false;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait().expect("wait for process") {
                Some(status) => return status,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{} ignored SIGTERM for {timeout:?}\n{}",
                        self.label,
                        self.log_tail(usize::MAX)
                    );
                }
            }
        }
    }

    /// [`NodeProcess::sigterm_within`] the harness's [`SHUTDOWN`] bound.
    pub fn sigterm(&mut self) -> ExitStatus {
        self.sigterm_within(SHUTDOWN)
    }

    /// SIGSTOP: the process freezes (no heartbeats, no fetches) but keeps its sockets.
    pub fn sigstop(&mut self) {
        self.signal("-STOP");
        self.stopped = true;
    }

    /// SIGCONT after [`NodeProcess::sigstop`].
    pub fn sigcont(&mut self) {
        self.signal("-CONT");
        self.stopped = false;
    }

    /// The last `lines` lines of every run's stderr, each under a header.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for run in 1..=self.runs {
            let text = std::fs::read_to_string(self.stderr_path(run)).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(lines);
            out.push_str(&format!(
                "--- {} stderr, run {run}, last {} lines ---\n{}\n",
                self.label,
                all.len() - from,
                all[from..].join("\n")
            ));
        }
        out
    }

    /// Every line any run wrote to stderr that contains all of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        (1..=self.runs)
            .flat_map(|run| {
                std::fs::read_to_string(self.stderr_path(run))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| needles.iter().all(|n| l.contains(n)))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.stopped {
                let _ = Command::new("kill")
                    .args(["-CONT", &child.id().to_string()])
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `BIN format --config CONFIG --cluster-id ID`, with a deadline.
pub fn format(bin: &str, config: &Path, cluster_id: &str, timeout: Duration) -> Output {
    format_with(bin, config, cluster_id, &[], timeout)
}

/// [`format`] with `extra` arguments (e.g. `--feature transaction.version=2`).
pub fn format_with(
    bin: &str,
    config: &Path,
    cluster_id: &str,
    extra: &[String],
    timeout: Duration,
) -> Output {
    let mut args = vec![
        "format".to_string(),
        "--config".into(),
        config.display().to_string(),
        "--cluster-id".into(),
        cluster_id.into(),
    ];
    args.extend_from_slice(extra);
    spawn(bin, &args, None).wait(timeout)
}
