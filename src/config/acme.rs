//! `[acme]`: housekeeping for ACME DNS-01 challenge records.
//!
//! ```toml
//! [acme]
//! expire_after = "24h"    # off when absent: remove _acme-challenge TXT
//!                         # records whose line is older than this in git
//! sweep_interval = "15m"  # optional; default expire_after / 4, at most 1h
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Checker;

/// The longest default pause between two sweeps.
const MAX_DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// The shortest pause between two sweeps (each runs `git blame`).
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The checked `[acme]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcmeSettings {
    /// Stale-challenge sweep; `None` (the default) disables it.
    pub expire: Option<Expire>,
}

/// When challenge records count as stale and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expire {
    /// Age (from the git history of the record's line) past which a
    /// challenge TXT record is removed.
    pub after: Duration,
    /// Pause between sweeps; the first runs at start-up.
    pub interval: Duration,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAcme {
    expire_after: Option<Spanned<String>>,
    sweep_interval: Option<Spanned<String>>,
}

pub(super) fn check_acme(c: &mut Checker<'_>, raw: &RawAcme) -> AcmeSettings {
    let Some(after_raw) = &raw.expire_after else {
        if let Some(i) = &raw.sweep_interval {
            c.push(
                i.span(),
                "acme.sweep_interval",
                "has no effect without acme.expire_after",
            );
        }
        return AcmeSettings::default();
    };
    let after = c.duration(&raw.expire_after, "acme.expire_after", Duration::ZERO);
    if after.is_zero() {
        return AcmeSettings::default();
    }
    if after < Duration::from_secs(60) {
        c.push(
            after_raw.span(),
            "acme.expire_after",
            "must be at least 1m: a shorter age would remove challenges an ACME CA is still validating",
        );
        return AcmeSettings::default();
    }
    let default_interval = (after / 4).clamp(MIN_INTERVAL, MAX_DEFAULT_INTERVAL);
    let interval = c
        .duration(&raw.sweep_interval, "acme.sweep_interval", default_interval)
        .max(MIN_INTERVAL);
    AcmeSettings {
        expire: Some(Expire { after, interval }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    fn acme(text: &str) -> Result<AcmeSettings, String> {
        Config::from_toml(Path::new("/etc/zw/zonewright.toml"), text)
            .map(|c| c.acme)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn off_unless_expire_after_is_set() {
        assert_eq!(acme(""), Ok(AcmeSettings::default()));
        assert_eq!(acme("[acme]\n"), Ok(AcmeSettings::default()));
    }

    #[test]
    fn the_interval_defaults_to_a_quarter_of_the_age_at_most_an_hour() {
        let e = |t: &str| acme(t).expect("valid").expire.expect("on");
        let day = e("[acme]\nexpire_after = \"24h\"\n");
        assert_eq!(day.after, Duration::from_secs(86_400));
        assert_eq!(day.interval, Duration::from_secs(3600));
        let short = e("[acme]\nexpire_after = \"2m\"\n");
        assert_eq!(short.interval, Duration::from_secs(30));
        let set = e("[acme]\nexpire_after = \"1h\"\nsweep_interval = \"5m\"\n");
        assert_eq!(set.interval, Duration::from_secs(300));
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        assert_eq!(
            acme("[acme]\nexpire_after = \"soon\"\n"),
            Err(
                "/etc/zw/zonewright.toml:2: acme.expire_after: invalid duration \"soon\" \
                 (use e.g. \"500ms\", \"10s\", \"2m\")"
                    .into()
            )
        );
        let short = acme("[acme]\nexpire_after = \"30s\"\n").expect_err("too short");
        assert!(
            short.starts_with("/etc/zw/zonewright.toml:2: acme.expire_after: must be at least 1m"),
            "{short}"
        );
        let alone = acme("[acme]\n\nsweep_interval = \"1m\"\n").expect_err("alone");
        assert!(
            alone.contains(":3: acme.sweep_interval: has no effect"),
            "{alone}"
        );
        let unknown = acme("[acme]\nexpire = \"1h\"\n").expect_err("unknown");
        assert!(unknown.contains("expire"), "{unknown}");
    }
}
