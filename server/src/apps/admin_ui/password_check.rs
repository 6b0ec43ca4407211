//! bcrypt verification of Admin UI logins, bounded so that a flood of wrong
//! passwords cannot take the node's CPU.
//!
//! bcrypt costs tens of milliseconds of CPU by design. Run on the async
//! workers it would stall every client; run with plain `spawn_blocking`, up to
//! 512 verifications at once would still crowd the workers off the cores. So
//! at most [`PasswordCheck::running`] run at once (half the cores, at least
//! one), at most [`QUEUED_PER_RUNNING`] times as many wait for a turn, and a
//! login beyond that is refused at once (`rate_limited`), never queued.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Logins that may wait for a turn, per verification that may run.
pub const QUEUED_PER_RUNNING: usize = 8;

/// Why a password was not checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Busy {
    /// Too many logins are being checked or waiting already.
    Full,
}

/// The bound on bcrypt verifications of one node.
pub struct PasswordCheck {
    /// Logins running or waiting; a login that finds none left is refused.
    admitted: Semaphore,
    /// Verifications running at once.
    running: Arc<Semaphore>,
}

impl PasswordCheck {
    /// At most `running` verifications at once, with room for
    /// [`QUEUED_PER_RUNNING`] × `running` more to wait.
    pub fn new(running: usize) -> Self {
        let running = running.max(1);
        Self {
            admitted: Semaphore::new(running * (1 + QUEUED_PER_RUNNING)),
            running: Arc::new(Semaphore::new(running)),
        }
    }

    /// Half of the node's cores, at least one.
    pub fn for_this_host() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores / 2)
    }

    /// Whether `password` matches the bcrypt `hash`; `Err(Busy::Full)` when
    /// too many logins are in progress to take this one.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Busy> {
        let Ok(_admitted) = self.admitted.try_acquire() else {
            return Err(Busy::Full);
        };
        let Ok(turn) = self.running.clone().acquire_owned().await else {
            return Err(Busy::Full);
        };
        let verdict = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            bcrypt::verify(password, &hash)
        })
        .await;
        Ok(verdict.is_ok_and(|v| v.unwrap_or(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logins_beyond_the_running_and_waiting_ones_are_refused_at_once() {
        let hash = bcrypt::hash("s3cret", 8).expect("hash");
        let check = Arc::new(PasswordCheck::new(1));
        let attempts: Vec<_> = (0..(2 + QUEUED_PER_RUNNING + 3))
            .map(|_| {
                let (check, hash) = (check.clone(), hash.clone());
                tokio::spawn(async move { check.verify("wrong".to_owned(), hash).await })
            })
            .collect();
        let mut refused = 0;
        let mut checked = 0;
        for attempt in attempts {
            match attempt.await.expect("task") {
                Err(Busy::Full) => refused += 1,
                Ok(false) => checked += 1,
                Ok(true) => panic!("a wrong password matched"),
            }
        }
        assert_eq!(
            checked,
            1 + QUEUED_PER_RUNNING,
            "one running, the rest waiting"
        );
        assert_eq!(refused, 4);
        assert_eq!(
            check.verify("s3cret".to_owned(), hash).await,
            Ok(true),
            "free again"
        );
    }
}
