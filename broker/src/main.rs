//! `tidewater-broker`: the broker binary (see `tidewater_broker::cli`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tidewater_broker::cli::run(tidewater_broker::cli::Cli::parse())
}
