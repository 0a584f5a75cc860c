//! Failed-authentication throttle (PURE: the clock is an argument).
//!
//! # Design
//!
//! Tokens are long random strings, so guessing one online is hopeless;
//! what a flood of wrong tokens costs is CPU (a constant-time compare with
//! every token per request) and log lines. So each source (an IPv4 address
//! or IPv6 /64, [`Source`]) gets `[rest] auth_failures` failed
//! authentications per fixed one-minute window; once they are used, its
//! requests are answered 429 with Retry-After (the rest of the window)
//! *without looking at the token*, so a right guess would not even be
//! noticed until the window ends. Other sources are not affected.
//!
//! Memory is bounded: at most [`MAX_SOURCES`] windows are kept; when full,
//! expired windows are dropped, and if every one is still live the new
//! source is not tracked (it is not throttled, but nobody is unblocked).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::edge::sources::Source;

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most sources tracked at once.
pub const MAX_SOURCES: usize = 65_536;

/// Failed authentications per source and window.
#[derive(Debug)]
pub struct AuthThrottle {
    per_window: u32,
    windows: Mutex<HashMap<Source, Window>>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    failures: u32,
}

impl AuthThrottle {
    /// `per_window` failures allowed per source and [`WINDOW`] (at least 1).
    pub fn new(per_window: u32) -> AuthThrottle {
        AuthThrottle {
            per_window: per_window.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// How long `source` must wait, when it has used its failures in the
    /// current window; `None` when its token may be checked.
    pub fn blocked(&self, source: Source, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = windows.get(&source)?;
        let end = w.start + WINDOW;
        (w.failures >= self.per_window && now < end).then(|| end - now)
    }

    /// Records a failed authentication of `source`.
    pub fn failed(&self, source: Source, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !windows.contains_key(&source) && windows.len() >= MAX_SOURCES {
            windows.retain(|_, w| now < w.start + WINDOW);
            if windows.len() >= MAX_SOURCES {
                return;
            }
        }
        let w = windows.entry(source).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now >= w.start + WINDOW {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(last: u8) -> Source {
        Source::of(std::net::IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn blocks_after_the_allowed_failures_until_the_window_ends() {
        let t = AuthThrottle::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(t.blocked(src(1), t0), None, "failure {i}");
            t.failed(src(1), t0);
        }
        let wait = t.blocked(src(1), t0 + Duration::from_secs(10));
        assert_eq!(wait, Some(Duration::from_secs(50)));
        assert_eq!(t.blocked(src(2), t0), None, "another source");
        assert_eq!(t.blocked(src(1), t0 + WINDOW), None, "a new window");
        t.failed(src(1), t0 + WINDOW);
        assert_eq!(t.blocked(src(1), t0 + WINDOW), None, "counted afresh");
    }

    #[test]
    fn memory_stays_bounded() {
        let t = AuthThrottle::new(1);
        let t0 = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let ip = std::net::IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            t.failed(Source::of(ip), t0);
        }
        let n = t.windows.lock().map(|w| w.len()).unwrap_or(0);
        assert_eq!(n, MAX_SOURCES);
        // Once the windows expire, new sources are tracked again.
        let later = t0 + WINDOW;
        t.failed(src(9), later);
        assert_eq!(t.blocked(src(9), later), Some(WINDOW));
    }
}
