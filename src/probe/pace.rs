//! A shared pacer for `--rate`: at most N new connections per second across the whole scan.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Hands out connection start times spaced `1 / rate` apart.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `per_second` must be positive (the CLI checks it).
    pub fn new(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for this connection's slot.
    pub async fn wait(&self) {
        let slot = {
            // A poisoned lock only means another task panicked while holding it; the
            // value is still a plain Instant.
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_interval() {
        let pacer = Pacer::new(10);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }
}
