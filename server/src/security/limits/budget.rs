//! The event budget of one connection: a token bucket and its streaks.
//!
//! Every event a client sends, and every namespace CONNECT, spends a token of
//! its connection's budget (the `governor` crate's direct limiter); the
//! budget says whether to handle the event, drop it (telling the client once
//! per streak of drops) or disconnect a client that keeps flooding. The
//! budget belongs to the connection ([`super::connections::ConnectionPermit`]),
//! so reconnecting a namespace does not refill it; the socket layer
//! ([`crate::socket::guard`]) spends it before any handler runs.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The event rate every connection gets.
#[derive(Debug, Clone, Copy)]
pub struct EventQuota {
    /// Events per second (0 = unlimited).
    pub rate: u32,
    /// Burst above the rate.
    pub burst: u32,
    /// Dropped events before a disconnect (0 = never).
    pub disconnect_after: u32,
}

/// What to do with an incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: handle it.
    Admit,
    /// Over the rate: drop it; `notify` on the first drop of a streak.
    Drop {
        /// Whether to send the `error` event now.
        notify: bool,
    },
    /// Over the rate for too long: drop it and disconnect.
    Disconnect,
}

/// The event budget of one connection.
pub struct EventBudget {
    limiter: Option<DefaultDirectRateLimiter>,
    dropped: AtomicU32,
    in_streak: AtomicBool,
    disconnect_after: u32,
}

impl EventBudget {
    /// A full budget for `quota`.
    pub fn new(quota: EventQuota) -> Self {
        let limiter = NonZeroU32::new(quota.rate).map(|rate| {
            let burst = NonZeroU32::new(quota.burst).unwrap_or(rate);
            RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            dropped: AtomicU32::new(0),
            in_streak: AtomicBool::new(false),
            disconnect_after: quota.disconnect_after,
        }
    }

    /// Spends one event.
    pub fn spend(&self) -> Verdict {
        let Some(limiter) = &self.limiter else {
            return Verdict::Admit;
        };
        if limiter.check().is_ok() {
            self.in_streak.store(false, Ordering::Relaxed);
            return Verdict::Admit;
        }
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if self.disconnect_after > 0 && dropped >= self.disconnect_after {
            return Verdict::Disconnect;
        }
        let first_of_streak = !self.in_streak.swap(true, Ordering::Relaxed);
        Verdict::Drop {
            notify: first_of_streak,
        }
    }

    /// The last notice could not be sent: the next drop sends one again.
    pub fn renotify(&self) {
        self.in_streak.store(false, Ordering::Relaxed);
    }

    /// Events dropped so far.
    #[cfg(test)]
    pub fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_drops_then_disconnects() {
        let budget = EventBudget::new(EventQuota {
            rate: 1,
            burst: 3,
            disconnect_after: 4,
        });
        for _ in 0..3 {
            assert_eq!(budget.spend(), Verdict::Admit);
        }
        assert_eq!(budget.spend(), Verdict::Drop { notify: true });
        assert_eq!(budget.spend(), Verdict::Drop { notify: false });
        assert_eq!(budget.spend(), Verdict::Drop { notify: false });
        assert_eq!(budget.spend(), Verdict::Disconnect);
        assert_eq!(budget.dropped(), 4);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let budget = EventBudget::new(EventQuota {
            rate: 0,
            burst: 0,
            disconnect_after: 1,
        });
        for _ in 0..10_000 {
            assert_eq!(budget.spend(), Verdict::Admit);
        }
    }
}
