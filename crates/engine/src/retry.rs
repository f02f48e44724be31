//! Retry policy: how many attempts a job gets and how long it waits between
//! them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attempt budget and exponential backoff with jitter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts per job, the first included.
    pub max_attempts: u32,
    /// Backoff after the first failed attempt; it doubles after each.
    pub base_delay: Duration,
    /// Upper bound of one backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Returns the wait after the `failed`-th charged failure (1-based). The
    /// exponential delay is jittered between half and all of its value, so
    /// jobs that failed together do not retry together. A provider's
    /// Retry-After wins when it is longer.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failed.saturating_sub(1).min(20);
        let full = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let half = full / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rand::random_range(0..=half.as_nanos() as u64))
        };
        let delay = half + jitter;
        match retry_after {
            Some(after) if after > delay => after,
            _ => delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_within_jitter() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!(
                first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
                "{first:?}"
            );
            let third = policy.delay(3, None);
            assert!(
                third >= Duration::from_secs(4) && third <= Duration::from_secs(8),
                "{third:?}"
            );
        }
    }

    #[test]
    fn delay_is_capped() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(30, None) <= policy.max_delay);
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let policy = RetryPolicy::default();
        let delay = policy.delay(1, Some(Duration::from_secs(30)));
        assert_eq!(delay, Duration::from_secs(30));
    }
}
