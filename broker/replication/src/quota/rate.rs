//! A rate over sampled time windows with Kafka's exact arithmetic (`SampledStat` with a
//! `WindowedSum`, measured by `Rate`), so a throttle set on Tidewater behaves like the
//! same setting on Kafka, including its warm-up assumption of N-1 elapsed windows.

use crate::error::QuotaConfigError;

#[derive(Debug, Clone, Copy)]
struct Sample {
    window_start_ms: u64,
    value: f64,
}

/// `samples` windows of `window_ms` each; the oldest is reused as the newest.
#[derive(Debug, Clone)]
pub struct SampledRate {
    window_ms: u64,
    num_samples: usize,
    samples: Vec<Sample>,
    current: usize,
}

impl SampledRate {
    pub fn new(window_num: u32, window_size_seconds: u32) -> Result<Self, QuotaConfigError> {
        if window_num == 0 {
            return Err(QuotaConfigError::WindowNum(window_num));
        }
        if window_size_seconds == 0 {
            return Err(QuotaConfigError::WindowSize(window_size_seconds));
        }
        Ok(Self {
            window_ms: u64::from(window_size_seconds) * 1000,
            num_samples: window_num as usize,
            samples: Vec::new(),
            current: 0,
        })
    }

    /// Kafka's `SampledStat.record`: roll to a new window when the current one is full.
    pub fn record(&mut self, value: f64, now_ms: u64) {
        if self.samples.is_empty() {
            self.samples.push(Sample {
                window_start_ms: now_ms,
                value: 0.0,
            });
            self.current = 0;
        }
        let complete =
            now_ms.saturating_sub(self.samples[self.current].window_start_ms) >= self.window_ms;
        if complete {
            self.current = (self.current + 1) % self.num_samples;
            let fresh = Sample {
                window_start_ms: now_ms,
                value: 0.0,
            };
            if self.current >= self.samples.len() {
                self.samples.push(fresh);
            } else {
                self.samples[self.current] = fresh;
            }
        }
        self.samples[self.current].value += value;
    }

    /// Kafka's `purgeObsoleteSamples`: windows older than the whole span are emptied.
    fn purge(&mut self, now_ms: u64) {
        let expire_age = self.num_samples as u64 * self.window_ms;
        for s in &mut self.samples {
            if now_ms.saturating_sub(s.window_start_ms) >= expire_age {
                *s = Sample {
                    window_start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
    }

    /// The sum of the retained windows.
    pub fn total(&mut self, now_ms: u64) -> f64 {
        self.purge(now_ms);
        self.samples.iter().map(|s| s.value).sum()
    }

    /// Kafka's `Rate.windowSize`: time since the oldest window, but at least N-1 full
    /// windows so a young sensor does not report a huge rate; never below 1 ms.
    pub fn window_size_ms(&mut self, now_ms: u64) -> u64 {
        self.purge(now_ms);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.window_start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full_windows = elapsed / self.window_ms;
        let min_full_windows = self.num_samples as u64 - 1;
        if full_windows < min_full_windows {
            elapsed += (min_full_windows - full_windows) * self.window_ms;
        }
        elapsed.max(1)
    }

    /// The rate in units per second.
    pub fn measure(&mut self, now_ms: u64) -> f64 {
        let total = self.total(now_ms);
        total / (self.window_size_ms(now_ms) as f64 / 1000.0)
    }
}
