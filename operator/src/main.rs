//! `tidewater-operator`: the operator binary. Parses the command line and hands off to
//! the library; prints errors as one line and exits non-zero.

use std::io::Read;
use std::process::ExitCode;

use clap::Parser;
use tidewater_operator::cli::{Cli, Command, CrdKind, LocalCommand, UserCommand};
use tidewater_operator::{controller, crd, render, runtime::local};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Crd { kind } => {
            let yaml = match kind {
                CrdKind::KafkaCluster => crd::crdgen::crd_yaml(),
                CrdKind::KafkaUser => crd::crdgen::user_crd_yaml(),
            };
            print!("{}", yaml.map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Render { file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| format!("reading {}: {e}", file.display()))?
            };
            print!("{}", render::render(&text).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => tokio_runtime()?
            .block_on(controller::run(args))
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| e.to_string()),
        Command::Local(cmd) => tokio_runtime()?.block_on(local_command(cmd)),
    }
}

async fn local_command(cmd: LocalCommand) -> Result<ExitCode, String> {
    match cmd {
        LocalCommand::Up {
            file,
            state_dir,
            broker_bins,
        } => {
            local::cmd::up(&file, &state_dir, broker_bins)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Apply { file, state_dir } => {
            local::cmd::apply(&file, &state_dir).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Status {
            state_dir,
            output,
            wait,
            timeout,
        } => {
            local::cmd::status(&state_dir, output, wait.as_deref(), timeout)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::User(UserCommand::Apply { file, state_dir }) => {
            local::user::apply(&file, &state_dir)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::User(UserCommand::Delete { name, state_dir }) => {
            local::user::delete(&name, &state_dir)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Down { state_dir, timeout } => {
            local::cmd::down(&state_dir, timeout)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}
