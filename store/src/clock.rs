use std::time::{SystemTime, UNIX_EPOCH};

/// Where the store reads "now" (unix milliseconds). Leases and limits compare
/// times written by several hosts, so production uses the system clock (hosts
/// are expected to run NTP); tests use `testing::ManualClock` to expire a lease
/// without sleeping.
pub(crate) trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}
