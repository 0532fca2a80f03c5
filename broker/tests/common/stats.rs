//! Statistics over measured samples, for the figures tests print.

/// Milliseconds as p50/p99/max of a sample, for the printed figures.
pub fn percentiles(samples: &[u128]) -> (u128, u128, u128) {
    let mut s = samples.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return (0, 0, 0);
    }
    let at = |q: f64| s[((s.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}
