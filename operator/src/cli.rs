//! Command line of `tidewater-operator`: argument types and dispatch to the modules.
//! Owns exit codes and messages; the modules it calls return typed errors.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Kubernetes operator for Tidewater KafkaClusters, with a local runtime.
#[derive(Debug, Parser)]
#[command(name = "tidewater-operator", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a CustomResourceDefinition (YAML): KafkaCluster, or KafkaUser.
    Crd {
        /// Which CRD.
        #[arg(long, value_enum, default_value_t = CrdKind::KafkaCluster)]
        kind: CrdKind,
    },
    /// Print every Kubernetes object the operator would create for a cluster file.
    Render {
        /// KafkaCluster YAML file (`-` for stdin).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Run the Kubernetes controller.
    Run(RunArgs),
    /// Run clusters as broker processes on this machine.
    #[command(subcommand)]
    Local(LocalCommand),
}

/// `run` flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Address of `/metrics` and `/healthz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Take a coordination.k8s.io Lease before reconciling (for replicas > 1).
    #[arg(long)]
    pub leader_election: bool,
    /// Watch one namespace only (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Namespace of the leader-election Lease (default: env POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Identity in the Lease (default: env POD_NAME, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

/// `local` subcommands.
#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Run and supervise a cluster in the foreground (Ctrl-C stops it cleanly).
    Up {
        /// KafkaCluster YAML file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Directory of the cluster's state, data and logs.
        #[arg(long)]
        state_dir: PathBuf,
        /// Broker binary for a version: `VERSION=PATH` (repeatable).
        #[arg(long = "broker-bin", value_parser = parse_broker_bin)]
        broker_bins: Vec<(String, PathBuf)>,
    },
    /// Change the desired spec of a running cluster, as `kubectl apply` does.
    Apply {
        /// KafkaCluster YAML file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// State directory of the running cluster.
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Print the cluster's status object.
    Status {
        /// State directory of the cluster.
        #[arg(long)]
        state_dir: PathBuf,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Yaml)]
        output: Output,
        /// Wait until this condition (e.g. `Ready`) is True.
        #[arg(long)]
        wait: Option<String>,
        /// Seconds to wait.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Apply or delete a KafkaUser of the running cluster.
    #[command(subcommand)]
    User(UserCommand),
    /// Stop the running cluster (its brokers stop with SIGTERM) and wait for it.
    Down {
        /// State directory of the cluster.
        #[arg(long)]
        state_dir: PathBuf,
        /// Seconds to wait for a clean stop.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

/// `local user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create or change a user from a KafkaUser file, as `kubectl apply` does: its
    /// credential and ACLs in the cluster, its Secret as files under
    /// `<state-dir>/users/<name>/`.
    Apply {
        /// KafkaUser YAML file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// State directory of the running cluster.
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Delete a user: its SCRAM credential, its ACLs and its files.
    Delete {
        /// The KafkaUser's name.
        name: String,
        /// State directory of the running cluster.
        #[arg(long)]
        state_dir: PathBuf,
    },
}

/// The CRDs `crd` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CrdKind {
    /// `kafkaclusters.tidewater.io`.
    #[value(name = "KafkaCluster")]
    KafkaCluster,
    /// `kafkausers.tidewater.io`.
    #[value(name = "KafkaUser")]
    KafkaUser,
}

/// Output format of `local status`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

fn parse_broker_bin(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((v, p)) if !v.is_empty() && !p.is_empty() => Ok((v.to_owned(), PathBuf::from(p))),
        _ => Err(format!("expected VERSION=PATH, got `{s}`")),
    }
}
