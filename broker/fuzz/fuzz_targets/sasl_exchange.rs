//! Fuzzes the SASL server side (PLAIN, SCRAM-SHA-256/512 message parsing and the
//! exchange, the JAAS config parser): any client tokens must be answered or
//! refused, never panic.
//!
//! Run: `cd broker/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run sasl_exchange`. The same
//! driver runs as a proptest with the broker's unit tests
//! (`security::sasl::fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidewater_broker::security::sasl::fuzz::exchange(data);
});
