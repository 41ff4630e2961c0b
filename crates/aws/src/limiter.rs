//! A token bucket for client-side request rates (Security Hub allows GetFindings 3/s per
//! account × region). Uses tokio's clock so tests run it under `tokio::time::pause`.
//!
//! Must not: block a thread (waiting is an async sleep) or drop a request (callers wait).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// At most `rate` requests per second on average, `burst` at once after a quiet period.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket. `rate` and `burst` are clamped to at least 1.
    pub fn new(rate_per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: f64::from(rate_per_second.max(1)),
            burst,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    /// Waits until a request may be sent, then takes its token. Waiters are served in order
    /// (the lock is held while waiting, and tokio's mutex is fair).
    pub async fn acquire(&self) {
        let mut bucket = self.bucket.lock().await;
        self.refill(&mut bucket);
        if bucket.tokens < 1.0 {
            let wait = (1.0 - bucket.tokens) / self.rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            self.refill(&mut bucket);
        }
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }

    fn refill(&self, bucket: &mut Bucket) {
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_passes_then_rate_holds() {
        let limiter = RateLimiter::new(3, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        // The burst costs no (virtual) time.
        assert_eq!(Instant::now(), start);
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // Six more at 3/s need two more seconds of the paused clock.
        let elapsed = Instant::now() - start;
        assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(2100), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn quiet_period_refills_only_up_to_burst() {
        let limiter = RateLimiter::new(3, 3);
        tokio::time::advance(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..4 {
            limiter.acquire().await;
        }
        // Three from the bucket, the fourth waits a third of a second.
        let elapsed = Instant::now() - start;
        assert!(elapsed >= Duration::from_millis(333), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");
    }
}
