//! `tidewater-broker`: the broker binary (see `tidewater_broker::cli`).

use std::process::ExitCode;

use clap::Parser;

/// kafka-protocol decodes an array by first reserving room for the element count
/// the frame claims. With the system allocator a hostile count (2^31 elements of
/// 100+ bytes) aborts the process; mimalloc maps such requests MAP_NORESERVE
/// (when the kernel allows overcommit), so the reservation succeeds lazily, the
/// decode then fails on the missing bytes, and only that connection is closed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tidewater_broker::cli::run(tidewater_broker::cli::Cli::parse())
}
