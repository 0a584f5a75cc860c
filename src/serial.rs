//! PURE: RFC 1982 serial number arithmetic and the SOA serial policies.
//!
//! Every write bumps the zone's SOA serial. Secondaries compare serials with
//! RFC 1982 arithmetic (modulo 2^32), never as plain integers, so the
//! policies here do the same: each computes a *candidate* from the clock and
//! takes it only when it is ahead of the current serial in RFC 1982 terms;
//! otherwise the serial steps by one. That keeps the serial monotonic when a
//! day has more than 9999 changes, when an operator set it ahead by hand, and
//! past 2043-01-01, when YYMMDD × 10000 no longer fits in 32 bits and the
//! CalVer value wraps.
//!
//! The clock is an argument: nothing here reads the time.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};

/// A serial number in RFC 1982's sequence space (SERIAL_BITS = 32).
///
/// Deliberately has no `Add` or `Ord` (as in NLnet Labs' `domain`): the comparison is partial (§3.2) and
/// addition is limited (§3.1), so both are explicit methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Serial(pub u32);

/// RFC 1982 §3.1: "Serial numbers may be incremented by the addition of a
/// positive integer n, where n is taken from the range of integers
/// [0 .. (2^(SERIAL_BITS - 1) - 1)]."
pub const MAX_STEP: u32 = (1 << 31) - 1;

impl Serial {
    /// RFC 1982 §3.1: s' = (s + n) modulo (2 ^ SERIAL_BITS). `None` when
    /// `n` is outside the range addition is defined for.
    pub fn checked_add(self, n: u32) -> Option<Serial> {
        (n <= MAX_STEP).then(|| Serial(self.0.wrapping_add(n)))
    }

    /// RFC 1982 §3.2: "s1 is said to be less than s2 if, and only if, s1 is
    /// not equal to s2, and
    ///   (i1 < i2 and i2 - i1 < 2^(SERIAL_BITS - 1)) or
    ///   (i1 > i2 and i1 - i2 > 2^(SERIAL_BITS - 1))".
    /// `None` for the pairs exactly 2^31 apart, whose order is undefined.
    pub fn compare(self, other: Serial) -> Option<Ordering> {
        const HALF: u32 = 1 << 31;
        let (i1, i2) = (self.0, other.0);
        if i1 == i2 {
            return Some(Ordering::Equal);
        }
        let ahead = i2.wrapping_sub(i1);
        match ahead.cmp(&HALF) {
            Ordering::Less => Some(Ordering::Less),
            Ordering::Greater => Some(Ordering::Greater),
            Ordering::Equal => None,
        }
    }

    /// True when `self` is ahead of `other` (RFC 1982 "greater than").
    pub fn is_after(self, other: Serial) -> bool {
        self.compare(other) == Some(Ordering::Greater)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a zone's serial advances on each change (`[serial] policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// YYMMDDNNNN in UTC: YYMMDD × 10000 + NNNN, NNNN from 0001 each day.
    #[default]
    CalVer,
    /// YYYYMMDDNN in UTC, as BIND users know it (RFC 1912 §2.2).
    Date,
    /// Seconds since the Unix epoch.
    UnixTime,
    /// The current serial plus one.
    Increment,
}

/// An unknown policy name in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown serial policy {0:?} (expected calver, date, unixtime or increment)")]
pub struct UnknownPolicy(pub String);

impl FromStr for Policy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "calver" => Ok(Policy::CalVer),
            "date" => Ok(Policy::Date),
            "unixtime" => Ok(Policy::UnixTime),
            "increment" => Ok(Policy::Increment),
            _ => Err(UnknownPolicy(s.to_owned())),
        }
    }
}

impl Policy {
    /// The serial that follows `current` at time `now`.
    ///
    /// The candidate from the clock is taken when it is ahead of `current`
    /// in RFC 1982 terms (which also bounds the jump below 2^31, as §3.1
    /// requires); otherwise the serial steps by one. So a zone whose serial
    /// is far below the policy's value (more than 2^31, e.g. serial 1 under
    /// CalVer) also just increments: secondaries would read the jump as a
    /// decrease.
    pub fn next(self, current: u32, now: DateTime<Utc>) -> u32 {
        let current = Serial(current);
        let step = Serial(current.0.wrapping_add(1));
        let candidate = match self {
            Policy::CalVer => Some(day_base(now, 100, 10_000)),
            Policy::Date => Some(day_base(now, 10_000, 100)),
            // Truncation to 32 bits is the RFC 1982 wrap of the epoch count.
            Policy::UnixTime => Some(Serial(now.timestamp() as u32)),
            Policy::Increment => None,
        };
        match candidate {
            Some(c) if c.is_after(current) => c.0,
            _ => step.0,
        }
    }
}

/// The first serial of `now`'s UTC day, modulo 2^32:
/// `(year_part × 10000 + MMDD) × per_day + 1`. `year_mod` is 100 for
/// two-digit years (CalVer) and 10000 for four (date).
fn day_base(now: DateTime<Utc>, year_mod: i64, per_day: u64) -> Serial {
    let date = now.date_naive();
    let year = i64::from(date.year()).rem_euclid(year_mod) as u64;
    let ymd = year * 10_000 + u64::from(date.month()) * 100 + u64::from(date.day());
    let first = ymd * per_day + 1;
    // RFC 1982 §3.1 arithmetic is modulo 2^SERIAL_BITS.
    Serial((first % (1u64 << 32)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid test date")
    }

    #[test]
    fn rfc1982_3_2_comparison() {
        assert!(Serial(2).is_after(Serial(1)));
        assert!(!Serial(1).is_after(Serial(2)));
        // Wrap-around: 0 follows 2^32 - 1.
        assert!(Serial(0).is_after(Serial(u32::MAX)));
        assert!(Serial(5).is_after(Serial(u32::MAX - 5)));
        // Exactly 2^31 apart: undefined in both directions.
        assert_eq!(Serial(0).compare(Serial(1 << 31)), None);
        assert_eq!(Serial(1 << 31).compare(Serial(0)), None);
        assert_eq!(Serial(7).compare(Serial(7)), Some(Ordering::Equal));
    }

    #[test]
    fn rfc1982_3_1_addition_range() {
        assert_eq!(Serial(u32::MAX).checked_add(1), Some(Serial(0)));
        assert_eq!(Serial(0).checked_add(MAX_STEP), Some(Serial(MAX_STEP)));
        assert_eq!(Serial(0).checked_add(MAX_STEP + 1), None);
    }

    #[test]
    fn calver_first_change_of_the_day() {
        assert_eq!(
            Policy::CalVer.next(2611210007, at(2026, 11, 22, 3)),
            2611220001
        );
    }

    #[test]
    fn calver_counts_changes_within_a_day() {
        let now = at(2026, 11, 22, 23);
        assert_eq!(Policy::CalVer.next(2611220001, now), 2611220002);
        assert_eq!(Policy::CalVer.next(2611229998, now), 2611229999);
    }

    #[test]
    fn calver_past_9999_changes_keeps_incrementing() {
        // The 10000th change of the day runs into tomorrow's range; the
        // next day then continues from there instead of going backwards.
        let now = at(2026, 11, 22, 23);
        assert_eq!(Policy::CalVer.next(2611229999, now), 2611230000);
        assert_eq!(
            Policy::CalVer.next(2611230000, at(2026, 11, 23, 0)),
            2611230001
        );
    }

    #[test]
    fn calver_serial_ahead_of_policy_increments() {
        assert_eq!(
            Policy::CalVer.next(2999999999, at(2026, 11, 22, 3)),
            3000000000
        );
    }

    #[test]
    fn calver_from_a_small_serial_increments() {
        // 2611220001 is more than 2^31 past 1, so RFC 1982 orders it *before*
        // 1: a secondary would never take the jump. The serial steps by one;
        // an operator who wants CalVer serials sets one by hand once.
        assert_eq!(Policy::CalVer.next(1, at(2026, 11, 22, 3)), 2);
        // A date-style serial is close enough to jump.
        assert_eq!(
            Policy::CalVer.next(2024010101, at(2026, 11, 22, 3)),
            2611220001
        );
    }

    #[test]
    fn calver_across_the_2043_overflow() {
        // 430101 × 10000 > 2^32 - 1: the value wraps modulo 2^32 and RFC 1982
        // still orders it after the last serial of 2042.
        let last_2042 = 4212319999;
        let next = Policy::CalVer.next(last_2042, at(2043, 1, 1, 0));
        assert_eq!(u64::from(next), (430101u64 * 10_000 + 1) % (1 << 32));
        assert!(Serial(next).is_after(Serial(last_2042)));
        // ...and keeps counting within the day.
        assert_eq!(Policy::CalVer.next(next, at(2043, 1, 1, 5)), next + 1);
        // The next day is still ahead.
        let day2 = Policy::CalVer.next(next + 1, at(2043, 1, 2, 0));
        assert!(Serial(day2).is_after(Serial(next + 1)));
    }

    #[test]
    fn calver_strictly_increases_over_many_days() {
        let mut serial = 2611220001;
        let start = at(2026, 11, 22, 0);
        for day in 0..(365 * 30) {
            let now = start + chrono::Duration::days(day);
            for _ in 0..3 {
                let next = Policy::CalVer.next(serial, now);
                assert!(
                    Serial(next).is_after(Serial(serial)),
                    "{serial} -> {next} on {now}"
                );
                serial = next;
            }
        }
    }

    #[test]
    fn date_policy() {
        assert_eq!(
            Policy::Date.next(2026112101, at(2026, 11, 22, 3)),
            2026112201
        );
        assert_eq!(
            Policy::Date.next(2026112201, at(2026, 11, 22, 3)),
            2026112202
        );
        assert_eq!(
            Policy::Date.next(2026112299, at(2026, 11, 22, 3)),
            2026112300
        );
    }

    #[test]
    fn unixtime_policy() {
        let now = at(2026, 11, 22, 3);
        let ts = now.timestamp() as u32;
        assert_eq!(Policy::UnixTime.next(5, now), ts);
        assert_eq!(Policy::UnixTime.next(ts, now), ts + 1);
    }

    #[test]
    fn increment_policy_wraps() {
        let now = at(2026, 11, 22, 3);
        assert_eq!(Policy::Increment.next(41, now), 42);
        assert_eq!(Policy::Increment.next(u32::MAX, now), 0);
    }

    #[test]
    fn policy_names() {
        assert_eq!("CalVer".parse(), Ok(Policy::CalVer));
        assert_eq!("unixtime".parse(), Ok(Policy::UnixTime));
        let err = "weekly".parse::<Policy>().expect_err("unknown");
        assert!(err.to_string().contains("weekly"));
    }
}
