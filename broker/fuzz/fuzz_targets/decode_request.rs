//! Fuzzes request decoding: any byte string must decode or be refused, never
//! panic, hang or allocate without bound.
//!
//! Run: `cd broker/fuzz && cargo +nightly fuzz run decode_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let _ = tidewater_broker::protocol::decode_request(frame);
});
