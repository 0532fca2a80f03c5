//! Waiting on a condition with a deadline, instead of sleeping for a guessed time.

use std::time::{Duration, Instant};

/// Polls `cond` every 20 ms until it returns `Some`, or panics after `timeout` with
/// `what` and the last `Err` the condition gave.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut last;
    loop {
        match cond() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
