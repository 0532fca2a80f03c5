//! One Apache Kafka 4.4.0 node (KRaft, combined broker and controller, a dynamic
//! quorum of one as `kafka-storage.sh format --standalone` makes it), run from the
//! jars `fetch-jars.sh` keeps, to write log dirs that Tidewater then reads.
//!
//! Owns the node's temp dir, ports and JVM process; dropping it kills the JVM. It
//! judges nothing about Tidewater.

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use super::common::ports::free_port;
use super::common::process::{Output, Running, spawn};
use super::common::wait::wait_until;
use super::jvm::KafkaTools;

/// A valid cluster id (16 bytes, base64), the one Kafka's docs use.
pub const CLUSTER_ID: &str = "q1Sh-9_ISia_zwGINzRvyQ";
/// A JVM start and KRaft election on a busy 2-core machine.
const STARTUP: Duration = Duration::from_secs(120);
/// Kafka flushes every log and writes its checkpoints on SIGTERM.
const SHUTDOWN: Duration = Duration::from_secs(60);

pub struct KafkaNode {
    /// Declared first: the JVM dies before its directory is removed.
    process: Option<Running>,
    /// server.properties and the log dir `data/`.
    dir: TempDir,
    kafka_port: u16,
}

impl KafkaNode {
    /// Formats a log dir for node 1 and starts Kafka on it with a 512 MiB heap; returns
    /// once its listener accepts connections. `config` adds server.properties lines.
    pub fn start(kafka: &KafkaTools, config: &[(&str, &str)]) -> KafkaNode {
        let dir = tempfile::Builder::new()
            .prefix("tidewater-kafka-")
            .tempdir()
            .expect("tempdir");
        let (kafka_port, controller_port) = (free_port(), free_port());
        let mut props = format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             controller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://127.0.0.1:{kafka_port},CONTROLLER://127.0.0.1:{controller_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{kafka_port}\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
             controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}\n\
             log.dirs={}\n\
             offsets.topic.replication.factor=1\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             group.initial.rebalance.delay.ms=0\n",
            dir.path().join("data").display()
        );
        for (k, v) in config {
            props.push_str(&format!("{k}={v}\n"));
        }
        let properties = dir.path().join("server.properties");
        std::fs::write(&properties, props).expect("write server.properties");
        let properties = properties.display().to_string();
        let format = kafka.run(
            "kafka.tools.StorageTool",
            &[
                "format",
                "-t",
                CLUSTER_ID,
                "-c",
                &properties,
                "--standalone",
            ],
        );
        assert!(format.status.success(), "{format}");
        let process = kafka.spawn(
            &["-Xmx512m", "-Xms512m", "-XX:+UseG1GC"],
            "kafka.Kafka",
            &[&properties],
        );
        let mut node = KafkaNode {
            process: Some(process),
            dir,
            kafka_port,
        };
        wait_until("Kafka's listener", STARTUP, || {
            if let Some(p) = node.process.as_mut()
                && !p.is_running()
            {
                let out = node.process.take().map(|p| p.wait(SHUTDOWN));
                panic!(
                    "Kafka exited on start:\n{}",
                    out.map(|o| o.to_string()).unwrap_or_default()
                );
            }
            TcpStream::connect(("127.0.0.1", node.kafka_port))
                .map(drop)
                .map_err(|e| e.to_string())
        });
        node
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// SIGTERM, as an operator stops Kafka before moving its log dir; Kafka must
    /// shut down cleanly (it marks that with `.kafka_cleanshutdown` in the log dir).
    pub fn stop(&mut self) -> Output {
        let process = self.process.take().expect("Kafka is running");
        let kill = spawn("kill", &["-TERM".into(), process.pid().to_string()], None)
            .wait(Duration::from_secs(10));
        assert!(kill.status.success(), "{kill}");
        // The JVM exits 143 after its shutdown hook ran on SIGTERM.
        let out = process.wait(SHUTDOWN);
        assert!(
            self.log_dir().join(".kafka_cleanshutdown").is_file(),
            "Kafka did not stop cleanly:\n{out}"
        );
        out
    }
}
