//! The one place logi reads the time, and the one place it waits.
//!
//! Protocol code never asks the operating system for the time: it takes `now` (Unix seconds) as
//! an argument, and the HTTP layer reads it from the [`Clock`] in the application state. In
//! production that clock is the system clock; tests use a [`Clock::manual`] one and move it
//! forward instead of sleeping until codes, sessions and device codes expire.
//!
//! `clippy.toml` forbids `SystemTime::now`, `Instant::now` and the sleeps everywhere else in
//! `src/` (as kanidm does), so a new feature cannot quietly read the time behind the clock's back.
#![allow(clippy::disallowed_methods)]

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Where "now" comes from. Cheap to clone; clones share the same time.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    System,
    /// Unix seconds, moved only by [`Clock::advance`] and [`Clock::set`].
    Manual(AtomicI64),
}

impl Clock {
    /// The operating system's clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that stands still at `start` until it is moved (tests).
    pub fn manual(start: i64) -> Clock {
        Clock(Arc::new(Source::Manual(AtomicI64::new(start))))
    }

    /// Unix time in seconds.
    pub fn now(&self) -> i64 {
        match &*self.0 {
            Source::System => system_now(),
            Source::Manual(t) => t.load(Ordering::Acquire),
        }
    }

    /// Moves a manual clock forward by `seconds`; `false` (and no effect) on the system clock.
    pub fn advance(&self, seconds: i64) -> bool {
        match &*self.0 {
            Source::System => false,
            Source::Manual(t) => {
                t.fetch_add(seconds, Ordering::AcqRel);
                true
            }
        }
    }

    /// Sets a manual clock; `false` (and no effect) on the system clock.
    pub fn set(&self, unix_seconds: i64) -> bool {
        match &*self.0 {
            Source::System => false,
            Source::Manual(t) => {
                t.store(unix_seconds, Ordering::Release);
                true
            }
        }
    }
}

/// The operating system's Unix time in seconds: for the command line, which has no state, and
/// as the starting point of a manual clock.
pub fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Measures elapsed wall time (request latency metrics): not a source of "now".
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Waits in real time: for background loops that retry after a failure.
pub async fn pause(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// A point `after` from now on the monotonic timer: for connection deadlines (header read, idle,
/// shutdown), never a source of "now" for the protocol.
pub fn deadline(after: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + after
}

/// Resolves at `deadline` (see [`deadline`]).
pub fn sleep_until(deadline: tokio::time::Instant) -> tokio::time::Sleep {
    tokio::time::sleep_until(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = Clock::manual(1_000);
        let other = clock.clone();
        assert_eq!(clock.now(), 1_000);
        assert!(clock.advance(61));
        assert_eq!(other.now(), 1_061);
        assert!(other.set(5));
        assert_eq!(clock.now(), 5);
    }

    #[test]
    fn the_system_clock_cannot_be_moved() {
        let clock = Clock::system();
        let before = clock.now();
        assert!(!clock.advance(3600));
        assert!(!clock.set(0));
        assert!(clock.now() - before < 5);
        assert!(before > 1_700_000_000);
    }
}
