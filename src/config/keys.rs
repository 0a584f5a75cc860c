//! `[tsig]`, `[serial]`, `[git]` and `[[key]]`: the write-side settings.
//!
//! ```toml
//! [tsig]
//! fudge = 300                    # seconds we put in signed responses
//!
//! [serial]
//! policy = "calver"              # calver | date | unixtime | increment
//! external = "raise"             # raise | keep: the serial of an edit made outside
//!
//! [git]
//! name = "zonewright"            # committer identity
//! email = "zonewright@HOST"      # default zonewright@<hostname>
//! commit_timeout = "10s"
//! commit_external = true         # commit files edited outside zonewright on reload
//! rebase_window = "15m"          # writes an edit saved on an older version gets back
//! acknowledge = "commit"         # commit | log: answer a write after its git commit,
//!                                # or after its fsynced write-log record (commit follows)
//! remote = "origin"              # optional: sync with this remote of the zones repository
//! branch = "main"                # its branch (default: the branch checked out)
//! pull_interval = "30s"          # or "off": only on SIGUSR1 / POST /v1/git/sync
//! push = true                    # push the server's commits to the branch
//! push_interval = "2s"           # at most one push this often
//! sync_timeout = "60s"           # most time one git fetch or push may take
//!
//! [[key]]
//! name = "acme-key"
//! algorithm = "hmac-sha256"
//! secret = "BASE64"              # or "$ENV_VAR", or secret_file = "path"
//! rate_limit = "100/60s"         # or "off"
//! grant = [ { zone = "example.com", names = ["_acme-challenge", "_acme-challenge.**"], types = ["TXT"] } ]
//! ```
//!
//! A secret never appears in a message: problems name the key and the
//! field, never the value (`key[1].secret: not valid base64`).

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use toml::Spanned;

use super::secret::{self, Env};
use super::{Checker, parse_duration, parse_zone_name};
use crate::policy::{Grant, Grants};
use crate::serial::Policy;
use crate::tsig::{Algorithm, Key};

/// Default fudge (RFC 8945 §10 recommends 300 seconds).
pub const DEFAULT_FUDGE: u16 = 300;
/// Default per-key UPDATE rate: 100 requests per 60 seconds.
pub const DEFAULT_RATE_LIMIT: (u32, Duration) = (100, Duration::from_secs(60));
/// Default per-source budget of rejected signed requests (`[tsig] reject_limit`).
pub const DEFAULT_REJECT_LIMIT: (u32, Duration) = (20, Duration::from_secs(60));
/// Shortest secret accepted: 128 bits. RFC 8945 §6 leaves key length to
/// RFC 2104, which wants at least the hash's output length ("keys shorter
/// than L are strongly discouraged"); `zonewright keygen` makes the full
/// length, and anything under 16 octets can be searched offline from one
/// captured request.
pub const MIN_SECRET_LEN: usize = 16;
/// The `secret` / `secret_file` pair of a `[[key]]`.
const SECRET_FIELDS: secret::Kind = secret::Kind {
    inline: "secret",
    file: "secret_file",
    forms: "base64, or \"$ENV_VAR\"",
};

/// One `[[key]]`: a TSIG key, its rate limit and what it may change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyConfig {
    /// Name (absolute, lower case), algorithm and secret. `Debug` redacts it.
    pub key: Key,
    /// `(requests, per)`, or `None` for `"off"`.
    pub rate_limit: Option<(u32, Duration)>,
    pub grants: Grants,
}

/// `[git]`: who commits, and how long a commit may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitSettings {
    pub name: String,
    pub email: String,
    pub commit_timeout: Duration,
    /// Commit zone files changed outside zonewright when they are reloaded,
    /// as `external change`, so they become IXFR-able.
    pub commit_external: bool,
    /// How long the store remembers its writes, to re-apply those an edit
    /// saved over the file lacks (`"off"`: never).
    pub rebase_window: Duration,
    /// When a write is answered (design invariant 1 either way).
    pub acknowledge: Acknowledge,
    /// `remote`, `branch`, ...: the git remote the repository syncs with.
    pub sync: Option<SyncSettings>,
}

/// `[git] remote` and the keys beside it: pull from and push to a branch
/// of a remote of the zones repository (see `store::remote`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncSettings {
    /// The remote's name, as `git remote` lists it.
    pub remote: String,
    /// The branch; `None`: the branch HEAD is on at start-up.
    pub branch: Option<String>,
    /// How often to pull; `None` (`"off"`): only when asked.
    pub pull_interval: Option<Duration>,
    pub push: bool,
    /// At most one push per this interval.
    pub push_interval: Duration,
    /// Most time one `git fetch` or `git push` may take.
    pub timeout: Duration,
}

/// `[git] acknowledge`: what a write's success answer waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Acknowledge {
    /// Its git commit (under its writer), made before the answer.
    #[default]
    Commit,
    /// Its record in the fsynced write log (`.git/zonewright/writes.log`);
    /// the commit is made right after, off the answer's path, and from the
    /// record at the next start if a crash comes first.
    Log,
}

impl Default for GitSettings {
    fn default() -> Self {
        GitSettings {
            name: "zonewright".to_string(),
            email: format!("zonewright@{}", hostname()),
            commit_timeout: Duration::from_secs(10),
            commit_external: true,
            rebase_window: Duration::from_secs(15 * 60),
            acknowledge: Acknowledge::Commit,
            sync: None,
        }
    }
}

/// The machine's host name, for commit addresses (`zonewright@HOST`).
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".to_string())
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTsig {
    fudge: Option<Spanned<u64>>,
    reject_limit: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSerial {
    policy: Option<Spanned<String>>,
    external: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGit {
    name: Option<Spanned<String>>,
    email: Option<Spanned<String>>,
    commit_timeout: Option<Spanned<String>>,
    commit_external: Option<Spanned<bool>>,
    rebase_window: Option<Spanned<String>>,
    acknowledge: Option<Spanned<String>>,
    remote: Option<Spanned<String>>,
    branch: Option<Spanned<String>>,
    pull_interval: Option<Spanned<String>>,
    push: Option<Spanned<bool>>,
    push_interval: Option<Spanned<String>>,
    sync_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    name: Spanned<String>,
    algorithm: Spanned<String>,
    /// A `Value`, not a `String`: serde's "invalid type" message would
    /// quote a non-string secret.
    secret: Option<Spanned<toml::Value>>,
    secret_file: Option<Spanned<String>>,
    rate_limit: Option<Spanned<String>>,
    allow_truncated_mac: Option<Spanned<bool>>,
    #[serde(default)]
    grant: Vec<Spanned<RawGrant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    zone: Spanned<String>,
    names: Vec<Spanned<String>>,
    types: Vec<Spanned<String>>,
}

/// `[tsig]`: the fudge, and the per-source budget of rejections.
pub(super) fn check_tsig(c: &mut Checker<'_>, raw: &RawTsig) -> (u16, Option<(u32, Duration)>) {
    let fudge = c.count(
        &raw.fudge,
        "tsig.fudge",
        1..65536,
        usize::from(DEFAULT_FUDGE),
    );
    let reject_limit = check_rate_limit(
        c,
        raw.reject_limit.as_ref(),
        "tsig.reject_limit",
        DEFAULT_REJECT_LIMIT,
    );
    (u16::try_from(fudge).unwrap_or(DEFAULT_FUDGE), reject_limit)
}

/// `[serial]`: the policy, and whether an edit made outside zonewright
/// whose serial is not above the one served gets the next one (`raise`,
/// the default) or is served as saved (`keep`).
pub(super) fn check_serial(c: &mut Checker<'_>, raw: &RawSerial) -> (Policy, bool) {
    let raise = match &raw.external {
        None => true,
        Some(e) => match e.get_ref().as_str() {
            "raise" => true,
            "keep" => false,
            other => {
                c.push(
                    e.span(),
                    "serial.external",
                    format!("unknown value {other:?}; expected \"raise\" or \"keep\""),
                );
                true
            }
        },
    };
    let Some(p) = &raw.policy else {
        return (Policy::default(), raise);
    };
    let policy = p.get_ref().parse().unwrap_or_else(|e| {
        c.push(p.span(), "serial.policy", format!("{e}"));
        Policy::default()
    });
    (policy, raise)
}

pub(super) fn check_git(c: &mut Checker<'_>, raw: &RawGit) -> GitSettings {
    let d = GitSettings::default();
    let mut text = |v: &Option<Spanned<String>>, key: &str, default: String| match v {
        Some(s) if s.get_ref().trim().is_empty() || s.get_ref().contains(['<', '>', '\n']) => {
            c.push(
                s.span(),
                key,
                "must be non-empty, without '<', '>' or newlines",
            );
            default
        }
        Some(s) => s.get_ref().trim().to_string(),
        None => default,
    };
    let name = text(&raw.name, "git.name", d.name);
    let email = text(&raw.email, "git.email", d.email);
    GitSettings {
        name,
        email,
        commit_timeout: c.duration(&raw.commit_timeout, "git.commit_timeout", d.commit_timeout),
        commit_external: raw
            .commit_external
            .as_ref()
            .map_or(d.commit_external, |b| *b.get_ref()),
        rebase_window: match &raw.rebase_window {
            Some(w) if w.get_ref() == "off" => Duration::ZERO,
            w => c.duration(w, "git.rebase_window", d.rebase_window),
        },
        acknowledge: match &raw.acknowledge {
            None => d.acknowledge,
            Some(a) => match a.get_ref().as_str() {
                "commit" => Acknowledge::Commit,
                "log" => Acknowledge::Log,
                other => {
                    c.push(
                        a.span(),
                        "git.acknowledge",
                        format!("unknown value \"{other}\"; use \"commit\" or \"log\""),
                    );
                    d.acknowledge
                }
            },
        },
        sync: check_sync(c, raw),
    }
}

/// A remote or branch name git would take as given: no option look-alike,
/// no spaces, control characters or ref-syntax characters.
fn git_name_ok(s: &str) -> bool {
    // Per path component as `git check-ref-format` has it; a full ref
    // (`refs/heads/main`) or `HEAD` is not a branch or remote name.
    let parts_ok = s
        .split('/')
        .all(|p| !p.is_empty() && !p.starts_with('.') && !p.ends_with(".lock"));
    parts_ok
        && s != "HEAD"
        && !s.starts_with("refs/")
        && !s.is_empty()
        && !s.starts_with(['-', '.', '/'])
        && !s.ends_with(['.', '/'])
        && !s.contains("..")
        && !s.contains("//")
        && !s.ends_with(".lock")
        && s.chars()
            .all(|ch| !ch.is_control() && !" ~^:?*[\\@{}".contains(ch))
}

/// The `[git]` keys of a remote to sync with; keys set without `remote`
/// are an error (they would do nothing).
fn check_sync(c: &mut Checker<'_>, raw: &RawGit) -> Option<SyncSettings> {
    let Some(remote) = &raw.remote else {
        let stray = [
            ("git.branch", raw.branch.as_ref().map(|v| v.span())),
            (
                "git.pull_interval",
                raw.pull_interval.as_ref().map(|v| v.span()),
            ),
            ("git.push", raw.push.as_ref().map(|v| v.span())),
            (
                "git.push_interval",
                raw.push_interval.as_ref().map(|v| v.span()),
            ),
            (
                "git.sync_timeout",
                raw.sync_timeout.as_ref().map(|v| v.span()),
            ),
        ];
        for (key, span) in stray {
            if let Some(span) = span {
                c.push(span, key, "has no effect without git.remote");
            }
        }
        return None;
    };
    let mut name = |v: &Spanned<String>, key: &str, what: &str| {
        let s = v.get_ref().trim();
        if git_name_ok(s) {
            Some(s.to_owned())
        } else {
            c.push(v.span(), key, format!("{s:?} is not a valid {what} name"));
            None
        }
    };
    let remote_name = name(remote, "git.remote", "git remote")?;
    let branch = match &raw.branch {
        Some(b) => Some(name(b, "git.branch", "branch")?),
        None => None,
    };
    let pull_interval = match &raw.pull_interval {
        Some(w) if w.get_ref() == "off" => None,
        w => Some(c.duration(w, "git.pull_interval", Duration::from_secs(30))),
    };
    Some(SyncSettings {
        remote: remote_name,
        branch,
        pull_interval,
        push: raw.push.as_ref().is_none_or(|b| *b.get_ref()),
        push_interval: c.duration(
            &raw.push_interval,
            "git.push_interval",
            Duration::from_secs(2),
        ),
        timeout: c.duration(
            &raw.sync_timeout,
            "git.sync_timeout",
            Duration::from_secs(60),
        ),
    })
}

pub(super) fn check_keys(
    c: &mut Checker<'_>,
    raw: &[Spanned<RawKey>],
    base: &Path,
    env: Env<'_>,
) -> Vec<KeyConfig> {
    let mut out: Vec<KeyConfig> = Vec::new();
    // The names taken, for a check in O(1) (tens of thousands of keys).
    let mut taken: std::collections::HashSet<crate::rr::Name> = Default::default();
    for (i, k) in raw.iter().enumerate() {
        let key = |f: &str| format!("key[{}].{f}", i + 1);
        let span = k.span();
        let k = k.get_ref();
        let name = match parse_zone_name(k.name.get_ref()) {
            Some(n) if !taken.insert(n.clone()) => {
                let msg = format!("key {n} is listed twice");
                c.push(k.name.span(), key("name"), msg);
                None
            }
            Some(n) => Some(n),
            None => {
                let msg = format!("invalid key name {:?}", k.name.get_ref());
                c.push(k.name.span(), key("name"), msg);
                None
            }
        };
        let algorithm = Algorithm::from_name(k.algorithm.get_ref());
        if algorithm.is_none() {
            let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.config_name()).collect();
            let msg = format!(
                "unknown algorithm {:?} (expected one of {})",
                k.algorithm.get_ref(),
                names.join(", ")
            );
            c.push(k.algorithm.span(), key("algorithm"), msg);
        }
        let secret = check_secret(c, k, span, &key, base, env);
        let rate_limit = check_rate_limit(
            c,
            k.rate_limit.as_ref(),
            &key("rate_limit"),
            DEFAULT_RATE_LIMIT,
        );
        let grants = check_grants(c, &k.grant, i + 1);
        let truncation = k.allow_truncated_mac.as_ref().is_some_and(|b| *b.get_ref());
        if let (Some(name), Some(algorithm), Some(secret)) = (name, algorithm, secret) {
            out.push(KeyConfig {
                key: Key::new(name, algorithm, secret).with_truncation(truncation),
                rate_limit,
                grants,
            });
        }
    }
    out
}

/// The secret: exactly one of `secret` (base64, or `$ENV_VAR`) and
/// `secret_file`, loaded by [`secret::load`], then decoded. Messages never
/// quote the secret.
fn check_secret(
    c: &mut Checker<'_>,
    k: &RawKey,
    span: Range<usize>,
    key: &dyn Fn(&str) -> String,
    base: &Path,
    env: Env<'_>,
) -> Option<Vec<u8>> {
    let raw = secret::Raw {
        inline: k.secret.as_ref(),
        file: k.secret_file.as_ref(),
        table: span,
    };
    let secret::Loaded {
        text: encoded,
        at,
        field,
    } = secret::load(c, &SECRET_FIELDS, raw, key, base, env)?;
    let encoded = encoded.trim();
    let engine = base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
    match engine.decode(encoded) {
        Ok(bytes) if bytes.len() >= MIN_SECRET_LEN => Some(bytes),
        Ok(bytes) if bytes.is_empty() => {
            c.push(at, key(field), "the secret is empty");
            None
        }
        Ok(bytes) => {
            let msg = format!(
                "the secret is {} octets; at least {MIN_SECRET_LEN} are needed \
                 (`zonewright keygen NAME` makes a full-length one)",
                bytes.len()
            );
            c.push(at, key(field), msg);
            None
        }
        Err(_) => {
            c.push(at, key(field), "the secret is not valid base64");
            None
        }
    }
}

/// `"100/60s"` -> `Some((100, 60s))`; `"off"` -> `None`.
fn check_rate_limit(
    c: &mut Checker<'_>,
    raw: Option<&Spanned<String>>,
    key: &str,
    default: (u32, Duration),
) -> Option<(u32, Duration)> {
    let Some(raw) = raw else {
        return Some(default);
    };
    let text = raw.get_ref().trim();
    if text.eq_ignore_ascii_case("off") {
        return None;
    }
    match parse_rate(text) {
        Some(rate) => Some(rate),
        None => {
            let msg = format!(
                "invalid rate limit {:?} (use e.g. \"100/60s\", or \"off\")",
                raw.get_ref()
            );
            c.push(raw.span(), key, msg);
            Some(default)
        }
    }
}

fn parse_rate(text: &str) -> Option<(u32, Duration)> {
    let (n, per) = text.split_once('/')?;
    let n: u32 = n.trim().parse().ok().filter(|&n| n > 0)?;
    Some((n, parse_duration(per)?))
}

fn check_grants(c: &mut Checker<'_>, raw: &[Spanned<RawGrant>], key_no: usize) -> Grants {
    let mut grants = Vec::new();
    for (j, g) in raw.iter().enumerate() {
        let span = g.span();
        let g = g.get_ref();
        let strings = |v: &[Spanned<String>]| -> Vec<String> {
            v.iter().map(|s| s.get_ref().clone()).collect()
        };
        match Grant::parse(g.zone.get_ref(), &strings(&g.names), &strings(&g.types)) {
            Ok(grant) => grants.push(grant),
            Err(e) => {
                let at = match e.field {
                    "zone" => g.zone.span(),
                    "names" => g.names.first().map_or(span.clone(), Spanned::span),
                    "types" => g.types.first().map_or(span.clone(), Spanned::span),
                    _ => span,
                };
                let k = format!("key[{key_no}].grant[{}].{}", j + 1, e.field);
                c.push(at, k, e.message);
            }
        }
    }
    Grants::from(grants)
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use super::*;
    use crate::rr::{Name, RecordType};

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";

    fn env(var: &str) -> Option<String> {
        (var == "ZW_TEST_SECRET").then(|| SECRET.to_string())
    }

    fn parse_in(dir: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_env(&dir.join("zonewright.toml"), text, &env)
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_in(Path::new("/etc/zw"), text)
    }

    fn err(text: &str) -> String {
        let e = parse(text).expect_err("should fail").to_string();
        assert!(!e.contains(SECRET), "secret leaked: {e}");
        assert!(!e.contains("not-base64!"), "secret leaked: {e}");
        e
    }

    fn key_toml(extra: &str) -> String {
        format!("[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\n{extra}")
    }

    #[test]
    fn defaults_without_write_settings() {
        let c = parse("").expect("ok");
        assert!(c.keys.is_empty());
        assert_eq!(c.tsig_fudge, 300);
        assert_eq!(c.serial_policy, Policy::CalVer);
        assert_eq!(c.git.name, "zonewright");
        assert!(c.git.email.starts_with("zonewright@"), "{}", c.git.email);
        assert_eq!(c.git.commit_timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_git_remote_with_its_defaults_and_bad_names_refused() {
        assert_eq!(parse("").expect("ok").git.sync, None);
        let c = parse("[git]\nremote = \"origin\"\n").expect("ok");
        let sync = c.git.sync.expect("sync");
        assert_eq!(sync.remote, "origin");
        assert_eq!(sync.branch, None);
        assert_eq!(sync.pull_interval, Some(Duration::from_secs(30)));
        assert!(sync.push);
        assert_eq!(sync.push_interval, Duration::from_secs(2));
        assert_eq!(sync.timeout, Duration::from_secs(60));
        let c = parse(
            "[git]\nremote = \"up\"\nbranch = \"zones/prod\"\npull_interval = \"off\"\npush = false\n",
        )
        .expect("ok");
        let sync = c.git.sync.expect("sync");
        assert_eq!(sync.branch.as_deref(), Some("zones/prod"));
        assert_eq!(sync.pull_interval, None);
        assert!(!sync.push);
        // An option look-alike or ref syntax never reaches the git command.
        for bad in [
            "-x",
            "--upload-pack=evil",
            "a b",
            "a..b",
            "x.lock",
            "a:b",
            "",
            "HEAD",
            "refs/heads/main",
            "a/.b",
            "a/b.lock/c",
        ] {
            let e = err(&format!("[git]\nremote = {bad:?}\n"));
            assert!(e.contains("git.remote"), "{bad}: {e}");
            let e = err(&format!("[git]\nremote = \"origin\"\nbranch = {bad:?}\n"));
            assert!(e.contains("git.branch"), "{bad}: {e}");
        }
        // Keys that would do nothing without a remote are named.
        let e = err("[git]\npush = false\n");
        assert!(
            e.contains("git.push") && e.contains("without git.remote"),
            "{e}"
        );
    }

    #[test]
    fn acknowledge_is_commit_or_log_and_anything_else_is_named() {
        let c = parse("").expect("ok");
        assert_eq!(c.git.acknowledge, Acknowledge::Commit);
        let c = parse("[git]\nacknowledge = \"log\"\n").expect("ok");
        assert_eq!(c.git.acknowledge, Acknowledge::Log);
        let e = err("[git]\nacknowledge = \"fsync\"\n");
        assert!(
            e.contains(":2: git.acknowledge: unknown value \"fsync\"; use \"commit\" or \"log\""),
            "{e}"
        );
    }

    #[test]
    fn full_write_settings() {
        let text = format!(
            "[tsig]\nfudge = 60\n[serial]\npolicy = \"Date\"\n[git]\nname = \"DNS bot\"\n\
             email = \"dns@example.com\"\ncommit_timeout = \"3s\"\n{}",
            key_toml(&format!(
                "secret = \"{SECRET}\"\nrate_limit = \"5/10s\"\n\
                 grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\", \"_acme-challenge.**\"], types = [\"TXT\"] }} ]\n"
            ))
        );
        let c = parse(&text).expect("ok");
        assert_eq!(c.tsig_fudge, 60);
        assert_eq!(c.serial_policy, Policy::Date);
        assert_eq!(c.git.name, "DNS bot");
        assert_eq!(c.git.email, "dns@example.com");
        assert_eq!(c.git.commit_timeout, Duration::from_secs(3));
        let k = &c.keys[0];
        assert_eq!(k.key.name, Name::from_ascii("acme-key.").expect("n"));
        assert_eq!(k.key.algorithm, Algorithm::HmacSha256);
        assert_eq!(k.rate_limit, Some((5, Duration::from_secs(10))));
        let zone = Name::from_ascii("example.com.").expect("n");
        let owner = Name::from_ascii("_acme-challenge.www.example.com.").expect("n");
        assert!(k.grants.allows(&zone, &owner, RecordType::TXT));
        assert!(!k.grants.allows(&zone, &owner, RecordType::A));
        // Debug (used by `{:?}` in logs) redacts the secret.
        assert!(!format!("{c:?}").contains("secret-secret"));
    }

    /// Issue 14: how an edit made outside zonewright is taken in.
    #[test]
    fn serial_external_and_rebase_window() {
        let c = parse("").expect("ok");
        assert!(c.raise_external_serial);
        assert_eq!(c.git.rebase_window, Duration::from_secs(900));
        let c =
            parse("[serial]\nexternal = \"keep\"\n[git]\nrebase_window = \"off\"\n").expect("ok");
        assert!(!c.raise_external_serial);
        assert_eq!(c.git.rebase_window, Duration::ZERO);
        let e = parse("[serial]\nexternal = \"bump\"\n[git]\nrebase_window = \"soon\"\n")
            .expect_err("bad values")
            .to_string();
        assert!(
            e.contains("serial.external") && e.contains("\"raise\" or \"keep\""),
            "{e}"
        );
        assert!(e.contains("git.rebase_window"), "{e}");
    }

    #[test]
    fn key_defaults_and_name_forms() {
        let text = format!(
            "[[key]]\nname = \"ACME-Key.\"\nalgorithm = \"HMAC-SHA512.\"\nsecret = \"{SECRET}\"\n"
        );
        let c = parse(&text).expect("ok");
        let k = &c.keys[0];
        assert_eq!(k.key.name, Name::from_ascii("acme-key.").expect("n"));
        assert_eq!(k.key.algorithm, Algorithm::HmacSha512);
        assert_eq!(k.rate_limit, Some(DEFAULT_RATE_LIMIT));
        assert!(k.grants.list().is_empty());
        let off = parse(&key_toml(&format!(
            "secret = \"{SECRET}\"\nrate_limit = \"off\"\n"
        )))
        .expect("ok");
        assert_eq!(off.keys[0].rate_limit, None);
    }

    #[test]
    fn secret_from_env_var() {
        let c = parse(&key_toml("secret = \"$ZW_TEST_SECRET\"\n")).expect("ok");
        let direct = parse(&key_toml(&format!("secret = \"{SECRET}\"\n"))).expect("ok");
        assert_eq!(c.keys[0].key, direct.keys[0].key);
        let e = err(&key_toml("secret = \"$ZW_UNSET_VAR\"\n"));
        assert!(
            e.contains(":4: key[1].secret: environment variable \"ZW_UNSET_VAR\" is not set"),
            "{e}"
        );
        // The older `{env.VAR}` form of tokens reads the same variable
        // (one loader for secrets and tokens).
        let braced = parse(&key_toml("secret = \"{env.ZW_TEST_SECRET}\"\n")).expect("ok");
        assert_eq!(braced.keys[0].key, direct.keys[0].key);
    }

    #[test]
    fn secret_from_file_relative_to_config() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("acme.key"), format!("  {SECRET}\n\n")).expect("w");
        let c = parse_in(dir.path(), &key_toml("secret_file = \"acme.key\"\n")).expect("ok");
        let direct = parse(&key_toml(&format!("secret = \"{SECRET}\"\n"))).expect("ok");
        assert_eq!(c.keys[0].key, direct.keys[0].key);
        let e = parse_in(dir.path(), &key_toml("secret_file = \"missing.key\"\n"))
            .expect_err("missing")
            .to_string();
        assert!(e.contains(":4: key[1].secret_file: cannot read "), "{e}");
        std::fs::write(dir.path().join("bad.key"), "not-base64!").expect("w");
        let e = parse_in(dir.path(), &key_toml("secret_file = \"bad.key\"\n"))
            .expect_err("bad")
            .to_string();
        assert!(
            e.contains("key[1].secret_file: the secret is not valid base64"),
            "{e}"
        );
        assert!(!e.contains("not-base64!"), "{e}");
    }

    #[test]
    fn a_secret_shorter_than_16_octets_is_refused() {
        // base64 of 15 octets, and of 1.
        for short in ["MDEyMzQ1Njc4OWFiY2Rl", "eA=="] {
            let e = err(&key_toml(&format!("secret = \"{short}\"\n")));
            assert!(
                e.contains(":4: key[1].secret: the secret is ") && e.contains("at least 16"),
                "{e}"
            );
            assert!(!e.contains(short), "secret leaked: {e}");
        }
        // 16 octets are enough.
        parse(&key_toml("secret = \"MDEyMzQ1Njc4OWFiY2RlZg==\"\n")).expect("16 octets");
    }

    #[test]
    fn a_secret_file_others_can_read_is_a_warning_and_a_fifo_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("acme.key");
        std::fs::write(&path, SECRET).expect("w");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let c = parse_in(dir.path(), &key_toml("secret_file = \"acme.key\"\n")).expect("ok");
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains(":4: key[1].secret_file: ")
                && c.warnings[0].contains("readable by group or others (mode 644)"),
            "{:?}",
            c.warnings
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let c = parse_in(dir.path(), &key_toml("secret_file = \"acme.key\"\n")).expect("ok");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // A FIFO would block the read for ever: refused at once.
        let fifo = dir.path().join("fifo.key");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = parse_in(dir.path(), &key_toml("secret_file = \"fifo.key\"\n"))
                .expect_err("fifo")
                .to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn a_secret_file_over_64_kib_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let text = format!("{SECRET}\n{}", " ".repeat(64 * 1024));
        std::fs::write(dir.path().join("big.key"), text).expect("w");
        let e = parse_in(dir.path(), &key_toml("secret_file = \"big.key\"\n"))
            .expect_err("too big")
            .to_string();
        assert!(
            e.contains(":4: key[1].secret_file: cannot read ") && e.contains("big.key"),
            "{e}"
        );
        assert!(e.contains("larger than 65536 bytes"), "{e}");
        assert!(!e.contains(SECRET), "{e}");
    }

    #[test]
    fn allow_truncated_mac_is_off_unless_set() {
        let c = parse(&key_toml(&format!("secret = \"{SECRET}\"\n"))).expect("ok");
        assert!(!c.keys[0].key.allow_truncated);
        let c = parse(&key_toml(&format!(
            "secret = \"{SECRET}\"\nallow_truncated_mac = true\n"
        )))
        .expect("ok");
        assert!(c.keys[0].key.allow_truncated);
    }

    #[test]
    fn tsig_reject_limit_defaults_and_off() {
        let c = parse("").expect("ok");
        assert_eq!(c.tsig_reject_limit, Some(DEFAULT_REJECT_LIMIT));
        let c = parse("[tsig]\nreject_limit = \"off\"\n").expect("ok");
        assert_eq!(c.tsig_reject_limit, None);
        let e = err("[tsig]\nreject_limit = \"lots\"\n");
        assert!(
            e.contains(":2: tsig.reject_limit: invalid rate limit"),
            "{e}"
        );
    }

    #[test]
    fn every_key_problem_is_named_without_the_secret() {
        let e = err(&key_toml("secret = \"not-base64!\"\n"));
        assert!(
            e.contains(":4: key[1].secret: the secret is not valid base64"),
            "{e}"
        );
        let e = err(&key_toml("secret = 12345\n"));
        assert!(e.contains(":4: key[1].secret: must be a string"), "{e}");
        assert!(!e.contains("12345"), "{e}");
        let e = err(&key_toml(""));
        assert!(e.contains("key[1].secret: missing"), "{e}");
        let e = err(&key_toml(&format!(
            "secret = \"{SECRET}\"\nsecret_file = \"x\"\n"
        )));
        assert!(e.contains(":5: key[1].secret_file: give either"), "{e}");
        let e = err(&format!(
            "[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha3\"\nsecret = \"{SECRET}\"\n"
        ));
        assert!(
            e.contains(":3: key[1].algorithm: unknown algorithm \"hmac-sha3\""),
            "{e}"
        );
        let e = err(&key_toml(&format!(
            "secret = \"{SECRET}\"\nrate_limit = \"fast\"\n"
        )));
        assert!(
            e.contains(":5: key[1].rate_limit: invalid rate limit"),
            "{e}"
        );
        let e = err(&key_toml(&format!("secret = \"{SECRET}\"\nsecrte = 1\n")));
        assert!(e.contains("unknown key `secrte`"), "{e}");
    }

    #[test]
    fn duplicate_key_names() {
        let one =
            format!("[[key]]\nname = \"k\"\nalgorithm = \"hmac-sha1\"\nsecret = \"{SECRET}\"\n");
        let two =
            format!("[[key]]\nname = \"K.\"\nalgorithm = \"hmac-sha1\"\nsecret = \"{SECRET}\"\n");
        let e = err(&format!("{one}{two}"));
        assert!(e.contains(":6: key[2].name: key k. is listed twice"), "{e}");
    }

    #[test]
    fn bad_grants_name_the_field() {
        let e = err(&key_toml(&format!(
            "secret = \"{SECRET}\"\ngrant = [\n {{ zone = \"example.com\", names = [\"ok\"], types = [\"TXT\"] }},\n {{ zone = \"example.com\", names = [\"a..b\"], types = [\"TXT\"] }},\n {{ zone = \"example.com\", names = [\"x\"], types = [\"SOA\"] }},\n]\n"
        )));
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(lines[0].contains(":7: key[1].grant[2].names: "), "{e}");
        assert!(lines[1].contains(":8: key[1].grant[3].types: "), "{e}");
        let e = err(&key_toml(&format!(
            "secret = \"{SECRET}\"\ngrant = [ {{ zone = \"example.com\", names = [\"x\"], types = [\"TXT\"], extra = 1 }} ]\n"
        )));
        assert!(e.contains("unknown key `extra`"), "{e}");
    }

    #[test]
    fn fixture_with_keys_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/config/keys/zonewright.toml");
        let c = Config::load(&path).expect("fixture loads");
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys[0].key.algorithm, Algorithm::HmacSha256);
        assert_eq!(c.keys[1].key.name, Name::from_ascii("ops.").expect("n"));
        assert_eq!(c.keys[1].rate_limit, None);
        assert_eq!(c.git.email, "zonewright@ns1.example.com");
        let zone = Name::from_ascii("example.com.").expect("n");
        assert!(c.keys[1].grants.allows(&zone, &zone, RecordType::MX));
        assert!(!c.keys[1].grants.allows(&zone, &zone, RecordType::SOA));
    }

    #[test]
    fn bad_write_settings() {
        let e = err(
            "[tsig]\nfudge = 0\n[serial]\npolicy = \"weekly\"\n[git]\ncommit_timeout = \"soon\"\n",
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(
            lines[0].contains(":2: tsig.fudge: 0 is out of range"),
            "{e}"
        );
        assert!(
            lines[1].contains(":4: serial.policy: unknown serial policy"),
            "{e}"
        );
        assert!(
            lines[2].contains(":6: git.commit_timeout: invalid duration"),
            "{e}"
        );
    }
}
