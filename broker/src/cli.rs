//! The command line: `format`, `start` and `dump-log`. Parses arguments, sets
//! up logging and the runtime, and turns every failure into a message on stderr
//! and a non-zero exit status (never `process::exit` here; `main` returns it).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::BrokerConfig;
use crate::metadata::{bootstrap_features, format_log_dirs};

#[derive(Debug, Parser)]
#[command(
    name = "tidewater-broker",
    version,
    about = "Tidewater's Kafka-compatible broker"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prepare empty log directories for a cluster (like `kafka-storage.sh format`).
    Format {
        /// The broker's server.properties.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// The cluster id to record in every log dir. A base64 id may begin with `-`
        /// (one in 64 random ids does), so such a value is taken as the id, not a flag.
        #[arg(long, short = 't', allow_hyphen_values = true)]
        cluster_id: String,
        /// A feature level the new cluster starts with, e.g. `transaction.version=2`
        /// (repeatable; Kafka's `kafka-storage format --feature`).
        #[arg(long = "feature", value_name = "NAME=LEVEL")]
        features: Vec<String>,
    },
    /// Run the broker until SIGTERM/SIGINT.
    Start {
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Override a config key, e.g. `--override num.partitions=3` (repeatable).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Print segment, index and time-index files like `kafka-dump-log.sh`.
    DumpLog {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print every record's offset, timestamp, sizes and sequence.
        #[arg(long)]
        deep_iteration: bool,
        /// Also print keys and values (implies --deep-iteration).
        #[arg(long)]
        print_data: bool,
    },
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // No colour codes in files and pipes (tests and log shippers read them).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Runs a parsed command; the exit status for `main`.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Format {
            config,
            cluster_id,
            features,
        } => {
            init_logging();
            let supported = crate::handlers::update_features::supported_features().into();
            let levels = features
                .iter()
                .map(|f| bootstrap_features::parse(f, &supported))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string());
            let result = levels.and_then(|levels| {
                let c = BrokerConfig::load(&config, &[]).map_err(|e| e.to_string())?;
                format_log_dirs(&c.log_dirs, &cluster_id, c.node_id).map_err(|e| e.to_string())?;
                bootstrap_features::write(&c.log_dirs, &levels).map_err(|e| e.to_string())?;
                Ok(c)
            });
            match result {
                Ok(c) => {
                    for d in &c.log_dirs {
                        eprintln!("Formatted {} for cluster {cluster_id}", d.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Start { config, overrides } => {
            init_logging();
            let config = match BrokerConfig::load(&config, &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(crate::server::run(config, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::DumpLog {
            files,
            deep_iteration,
            print_data,
        } => {
            let mut out = std::io::stdout().lock();
            let opts = tidewater_storage::dump::DumpOptions {
                deep_iteration,
                print_data,
            };
            match tidewater_storage::dump::dump_files(&files, opts, &mut out) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the broker");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contracted_commands() {
        let cli = Cli::try_parse_from([
            "tidewater-broker",
            "start",
            "--config",
            "f",
            "--override",
            "a=1",
            "--override",
            "b=2",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::Start { ref overrides, .. } if overrides.len() == 2)
        );
        let cli = Cli::try_parse_from([
            "tidewater-broker",
            "format",
            "--config",
            "f",
            "--cluster-id",
            "x",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Format { .. }));
        // One random base64 id in 64 begins with '-': still the id, in both spellings.
        for args in [
            ["--cluster-id", "-AbCdEfGhIjKlMnOpQrStU"].as_slice(),
            ["--cluster-id=-AbCdEfGhIjKlMnOpQrStU"].as_slice(),
        ] {
            let mut argv = vec!["tidewater-broker", "format", "--config", "f"];
            argv.extend_from_slice(args);
            let cli = Cli::try_parse_from(argv).unwrap();
            assert!(
                matches!(cli.command, Command::Format { ref cluster_id, .. } if cluster_id == "-AbCdEfGhIjKlMnOpQrStU")
            );
        }
        let cli = Cli::try_parse_from([
            "tidewater-broker",
            "dump-log",
            "a.log",
            "b.index",
            "--print-data",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::DumpLog { print_data: true, deep_iteration: false, ref files } if files.len() == 2)
        );
        assert!(Cli::try_parse_from(["tidewater-broker", "dump-log"]).is_err());
    }
}
