//! `tidewater-broker`: the broker binary (see `tidewater_broker::cli`).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: fewer page faults and less fragmentation than glibc's allocator for the
/// broker's many short-lived request buffers. (Hostile array counts in request frames
/// are refused before any reservation by the patched codec in `patches/kafka-protocol`.)
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tidewater_broker::cli::run(tidewater_broker::cli::Cli::parse())
}
