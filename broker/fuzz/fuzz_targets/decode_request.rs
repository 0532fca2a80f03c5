//! Fuzzes request decoding: any byte string must decode or be refused, never
//! panic, hang or allocate without bound.
//!
//! Run: `cd broker/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode_request --
//! -malloc_limit_mb=256` (no legitimate small frame needs a 256 MB allocation,
//! so a reservation driven by a claimed count is reported as an OOM). Add any
//! crash or OOM it finds to `regressions/decode_request.txt`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let _ = tidewater_broker::protocol::decode_request(frame);
});
