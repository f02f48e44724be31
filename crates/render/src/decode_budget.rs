//! Process-wide memory budget for image decoding.
//!
//! A decode first reserves its estimated peak memory here and blocks until the
//! bytes fit in [`DECODE_BUDGET_BYTES`]. Ten large photos queued at once then
//! decode a few at a time instead of all allocating together. A single decode
//! larger than the whole budget still runs, but only while no other
//! reservation is held. The amounts are estimates made before decoding, so the
//! budget bounds the planned allocations, not the allocator's real usage.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Total bytes that concurrent decodes may reserve: 1 GiB.
pub const DECODE_BUDGET_BYTES: u64 = 1 << 30;

struct Budget {
    reserved: Mutex<u64>,
    released: Condvar,
}

static BUDGET: Budget = Budget { reserved: Mutex::new(0), released: Condvar::new() };

/// Bytes held in the decode budget, returned to it on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    bytes: u64,
}

impl Reservation {
    /// Reserved amount in bytes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut reserved = lock(&BUDGET.reserved);
        *reserved = reserved.saturating_sub(self.bytes);
        drop(reserved);
        BUDGET.released.notify_all();
    }
}

fn lock(mutex: &Mutex<u64>) -> MutexGuard<'_, u64> {
    // The counter is a plain number, so it stays valid even if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Blocks until `bytes` fit in the budget, then reserves them.
pub(crate) fn reserve(bytes: u64) -> Reservation {
    let mut reserved = lock(&BUDGET.reserved);
    while *reserved > 0 && reserved.saturating_add(bytes) > DECODE_BUDGET_BYTES {
        reserved = BUDGET.released.wait(reserved).unwrap_or_else(PoisonError::into_inner);
    }
    *reserved = reserved.saturating_add(bytes);
    Reservation { bytes }
}

/// Bytes reserved right now, for tests.
#[cfg(test)]
pub(crate) fn reserved_bytes() -> u64 {
    *lock(&BUDGET.reserved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn second_large_reservation_waits_for_first() {
        let first = reserve(DECODE_BUDGET_BYTES / 4 * 3);
        assert!(reserved_bytes() >= first.bytes());

        let started = AtomicBool::new(false);
        let (sender, receiver) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                started.store(true, Ordering::SeqCst);
                let second = reserve(DECODE_BUDGET_BYTES / 2);
                sender.send(second.bytes()).unwrap();
            });
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            let early = receiver.recv_timeout(Duration::from_millis(200));
            assert!(early.is_err(), "second reservation did not wait");
            drop(first);
            let granted = receiver.recv_timeout(Duration::from_secs(10));
            assert_eq!(granted, Ok(DECODE_BUDGET_BYTES / 2));
        });
    }

    #[test]
    fn oversized_reservation_runs_alone() {
        let huge = reserve(DECODE_BUDGET_BYTES * 2);
        assert_eq!(huge.bytes(), DECODE_BUDGET_BYTES * 2);
    }
}
