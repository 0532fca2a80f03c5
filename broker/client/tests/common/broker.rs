//! One real `tidewater-broker` process for the client's integration tests.
//!
//! The binary belongs to another crate, so cargo does not build it for this one:
//! `cargo test --workspace` builds it anyway; `cargo test -p tidewater-client` needs
//! `cargo build -p tidewater-broker` first, and the tests say so when it is missing.
//! The process is killed when the guard drops, pass or fail, and its stderr is printed
//! when the test is panicking.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tidewater_client::{AdminClient, ClientConfig, ClientError};

use super::ports::free_port;

/// A Kafka-format cluster id (base64url of 16 bytes), as `kafka-storage random-uuid` makes.
pub const CLUSTER_ID: &str = "q1Sh-9_ISia_zwGINzRvyQ";

const STARTUP: Duration = Duration::from_secs(60);

/// The broker binary: `$TIDEWATER_BROKER_BIN`, else `<target dir>/debug/tidewater-broker`.
pub fn broker_bin() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    // A relative CARGO_TARGET_DIR is relative to where cargo ran, normally the workspace.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
    let bin = std::env::var_os("TIDEWATER_BROKER_BIN").map_or_else(
        || target.join("debug").join("tidewater-broker"),
        PathBuf::from,
    );
    assert!(
        bin.is_file(),
        "broker binary not found at {}: run `cargo build -p tidewater-broker` first \
         (or set TIDEWATER_BROKER_BIN)",
        bin.display()
    );
    bin
}

/// A running broker; killed on drop.
pub struct Broker {
    dir: TempDir,
    pub bootstrap: String,
    child: Child,
}

impl Broker {
    /// Formats a log dir with [`CLUSTER_ID`] and starts the broker as node 1; returns once
    /// an `AdminClient` can connect.
    pub async fn start() -> Broker {
        Broker::start_with(false).await
    }

    /// Like [`Broker::start`], as a one-node KRaft cluster (node 1 is broker and the only
    /// controller voter).
    pub async fn start_kraft() -> Broker {
        Broker::start_with(true).await
    }

    /// Like [`Broker::start_kraft`], with `extra` lines added to its config.
    pub async fn start_kraft_with(extra: &str) -> Broker {
        Broker::start_configured(true, extra).await
    }

    async fn start_with(kraft: bool) -> Broker {
        Broker::start_configured(kraft, "").await
    }

    async fn start_configured(kraft: bool, extra: &str) -> Broker {
        let bin = broker_bin();
        let dir = tempfile::Builder::new()
            .prefix("tidewater-client-it-")
            .tempdir()
            .expect("tempdir");
        let bootstrap = format!("127.0.0.1:{}", free_port());
        let mut config = format!(
            "node.id=1\n\
             advertised.listeners=PLAINTEXT://{bootstrap}\n\
             log.dirs={}\n\
             tidewater.http.listener=127.0.0.1:{}\n",
            dir.path().join("data").display(),
            free_port()
        );
        if kraft {
            let controller = format!("127.0.0.1:{}", free_port());
            config.push_str(&format!(
                "process.roles=broker,controller\n\
                 controller.quorum.voters=1@{controller}\n\
                 controller.listener.names=CONTROLLER\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 listeners=PLAINTEXT://{bootstrap},CONTROLLER://{controller}\n"
            ));
        } else {
            config.push_str(&format!("listeners=PLAINTEXT://{bootstrap}\n"));
        }
        config.push_str(extra);
        let config_path = dir.path().join("broker.properties");
        std::fs::write(&config_path, config).expect("write broker config");
        let format = Command::new(&bin)
            .args(["format", "--config"])
            .arg(&config_path)
            .args(["--cluster-id", CLUSTER_ID])
            .output()
            .expect("run tidewater-broker format");
        assert!(
            format.status.success(),
            "tidewater-broker format failed ({}):\n{}",
            format.status,
            String::from_utf8_lossy(&format.stderr)
        );
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr file");
        let child = Command::new(&bin)
            .args(["start", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn tidewater-broker start");
        let mut broker = Broker {
            dir,
            bootstrap,
            child,
        };
        broker.wait_ready().await;
        broker
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP;
        let config = ClientConfig {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            ..ClientConfig::default()
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "broker exited during startup with {status}\n{}",
                    self.stderr()
                );
            }
            match AdminClient::connect_with(&self.bootstrap, config.clone()).await {
                Ok(_) => return,
                Err(err) if Instant::now() > deadline => {
                    panic!(
                        "broker not ready after {STARTUP:?}: {err}\n{}",
                        self.stderr()
                    )
                }
                // Poll interval while the broker starts, not a synchronisation.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub async fn admin(&self) -> Result<AdminClient, ClientError> {
        AdminClient::connect(&self.bootstrap).await
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- broker stderr ---\n{}", self.stderr());
        }
    }
}
