//! Concurrency limit whose size can change while jobs run.
//!
//! `tokio::sync::Semaphore` can grow but not shrink without waiting for
//! permits, so the pool keeps its own count: lowering the limit lets running
//! jobs finish and starts no new one until the count is below the new limit.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Counts running jobs of one provider against a changeable limit.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<LimiterState>,
    freed: Notify,
}

#[derive(Debug)]
struct LimiterState {
    limit: usize,
    in_use: usize,
}

/// One slot of a [`Limiter`], given back on drop.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
}

impl Limiter {
    /// Creates a limiter allowing `limit` slots (at least 1).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(LimiterState { limit: limit.max(1), in_use: 0 }),
            freed: Notify::new(),
        })
    }

    /// Waits for a free slot.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let freed = self.freed.notified();
            {
                let mut state = self.state.lock().expect("limiter lock poisoned");
                if state.in_use < state.limit {
                    state.in_use += 1;
                    return Permit { limiter: Arc::clone(self) };
                }
            }
            freed.await;
        }
    }

    /// Changes the limit (at least 1). Waiting callers start at once when it
    /// grows.
    pub fn set_limit(&self, limit: usize) {
        self.state.lock().expect("limiter lock poisoned").limit = limit.max(1);
        self.freed.notify_waiters();
    }

    /// Returns the current limit.
    pub fn limit(&self) -> usize {
        self.state.lock().expect("limiter lock poisoned").limit
    }

    /// Returns the number of slots in use.
    pub fn in_use(&self) -> usize {
        self.state.lock().expect("limiter lock poisoned").in_use
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.state.lock().expect("limiter lock poisoned").in_use -= 1;
        self.limiter.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn acquire_waits_at_limit() {
        let limiter = Limiter::new(2);
        let _a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_err(), "a third permit was granted at limit 2");
        assert_eq!(limiter.in_use(), 2);
    }

    #[tokio::test]
    async fn raising_limit_wakes_waiter() {
        let limiter = Limiter::new(1);
        let _a = limiter.acquire().await;
        let waiter = tokio::spawn({
            let limiter = Arc::clone(&limiter);
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        limiter.set_limit(2);
        let permit = tokio::time::timeout(Duration::from_secs(1), waiter).await;
        assert!(permit.is_ok(), "raising the limit did not wake the waiter");
    }

    #[tokio::test]
    async fn lowering_limit_holds_new_jobs() {
        let limiter = Limiter::new(2);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        limiter.set_limit(1);
        drop(a);
        let next = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(next.is_err(), "a permit was granted above the lowered limit");
    }
}
