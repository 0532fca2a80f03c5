//! `Broker`: one real `tidewater-broker` process in its own temporary directory,
//! on free loopback ports, with restart, kill -9 and SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use tempfile::TempDir;

use super::http;
use super::node_process::{self, NodeProcess};
use super::process::{Output, spawn};

/// The broker binary under test, built by cargo for this test run.
pub const BROKER_BIN: &str = env!("CARGO_BIN_EXE_tidewater-broker");

/// How long a broker may take to format or start.
const STARTUP: Duration = Duration::from_secs(30);

/// Settings a test can change; everything else is the harness's fixed config.
#[derive(Debug, Clone)]
pub struct BrokerOpts {
    /// `num.partitions` for auto-created topics.
    pub num_partitions: u32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Extra `key=value` lines appended to the config file.
    pub config: Vec<(String, String)>,
    /// Listeners besides the harness's PLAINTEXT one (`NAME://host:port`), bound
    /// and advertised as given; their protocols come from `config`.
    pub extra_listeners: Vec<String>,
    /// `format --feature NAME=LEVEL` levels the new cluster starts with.
    pub format_features: Vec<String>,
}

impl Default for BrokerOpts {
    fn default() -> Self {
        Self {
            num_partitions: 1,
            auto_create_topics: true,
            config: Vec::new(),
            extra_listeners: Vec::new(),
            format_features: Vec::new(),
        }
    }
}

/// A running (or stopped) broker. Dropping it kills the process, and when the test
/// is failing prints everything the broker wrote to stderr.
pub struct Broker {
    /// Declared first so it drops (and is killed) before its directory is deleted.
    process: NodeProcess,
    /// Holds the config file, the log dirs and the captured stderr of every run.
    dir: TempDir,
    pub kafka_addr: SocketAddr,
    pub http_addr: SocketAddr,
    config_path: PathBuf,
}

pub use super::ports::free_port;

impl Broker {
    /// Formats a fresh log dir and starts the broker; returns once the Kafka port
    /// accepts connections and `/readyz` answers 200.
    pub fn start(opts: BrokerOpts) -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("tidewater-it-")
            .tempdir()
            .expect("tempdir");
        let kafka_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let http_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let log_dir = dir.path().join("data");
        let listeners = std::iter::once(format!("PLAINTEXT://{kafka_addr}"))
            .chain(opts.extra_listeners.iter().cloned())
            .collect::<Vec<_>>()
            .join(",");
        let mut cfg = format!(
            "node.id=1\n\
             listeners={listeners}\n\
             advertised.listeners={listeners}\n\
             log.dirs={}\n\
             tidewater.http.listener={http_addr}\n\
             group.initial.rebalance.delay.ms=0\n\
             offsets.topic.num.partitions=5\n\
             num.partitions={}\n\
             auto.create.topics.enable={}\n",
            log_dir.display(),
            opts.num_partitions,
            opts.auto_create_topics
        );
        for (k, v) in &opts.config {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        let config_path = dir.path().join("broker.properties");
        std::fs::write(&config_path, cfg).expect("write config");
        let process = NodeProcess::new(
            "broker",
            NodeProcess::start_command(BROKER_BIN, &config_path),
            dir.path(),
            "broker-stderr",
            Some(kafka_addr),
            http_addr,
            STARTUP,
        );
        let mut broker = Broker {
            dir,
            kafka_addr,
            http_addr,
            config_path,
            process,
        };
        let features: Vec<String> = opts
            .format_features
            .iter()
            .flat_map(|f| ["--feature".to_string(), f.clone()])
            .collect();
        node_process::format_with(
            BROKER_BIN,
            &broker.config_path,
            "tidewater-it-cluster",
            &features,
            STARTUP,
        )
        .ok();
        broker.start_process();
        broker
    }

    /// `tidewater-broker format --config FILE --cluster-id ID`.
    pub fn format(&self, cluster_id: &str) -> Output {
        node_process::format(BROKER_BIN, &self.config_path, cluster_id, STARTUP)
    }

    /// `host:port` for clients' `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.kafka_addr.to_string()
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Starts the broker process again on the same config, ports and data, and waits
    /// until it is ready.
    pub fn start_process(&mut self) {
        self.process.start();
    }

    /// Waits until the Kafka port accepts and `/readyz` says 200; panics with the
    /// broker's stderr if the process exits first.
    pub fn wait_ready(&mut self) {
        self.process.wait_ready();
    }

    /// Whether the process is still alive (`false` also when never started).
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// SIGKILL, as a crash would; returns once the process is reaped.
    pub fn kill9(&mut self) -> ExitStatus {
        self.process.kill9()
    }

    /// SIGTERM, then waits (bounded) for the process to exit and returns its status.
    pub fn sigterm(&mut self) -> ExitStatus {
        self.process.sigterm()
    }

    /// Clean stop (SIGTERM, must exit 0) and start again on the same data.
    pub fn restart(&mut self) {
        let status = self.sigterm();
        assert!(
            status.success(),
            "broker exited {status} on SIGTERM\n{}",
            self.log()
        );
        self.start_process();
    }

    /// Everything the broker wrote to stderr, over all its runs.
    pub fn log(&self) -> String {
        self.process.log_tail(usize::MAX)
    }

    /// Every `.log` segment file under the log dirs.
    pub fn segment_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.log_dir()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "log") {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// `tidewater-broker dump-log FILE...`.
    pub fn dump_log(&self, files: &[PathBuf]) -> Output {
        self.dump_log_with(&[], files)
    }

    /// `tidewater-broker dump-log OPTIONS... FILE...`.
    pub fn dump_log_with(&self, options: &[&str], files: &[PathBuf]) -> Output {
        let mut args = vec!["dump-log".to_string()];
        args.extend(options.iter().map(|o| o.to_string()));
        args.extend(files.iter().map(|f| f.display().to_string()));
        spawn(BROKER_BIN, &args, None).wait(Duration::from_secs(60))
    }

    /// `GET path` on the broker's HTTP listener.
    pub fn http_get(&self, path: &str) -> Result<http::Response, String> {
        http::get(self.http_addr, path)
    }

    /// The broker's resident memory in KiB, from /proc/PID/status.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // The process's own Drop kills it; its stderr explains a failing test.
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
    }
}
