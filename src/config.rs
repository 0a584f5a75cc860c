//! Configuration: one TOML file -> one immutable [`Config`], or clear errors.
//!
//! # Design
//!
//! The file is deserialized in two steps. Serde (with `deny_unknown_fields`
//! everywhere) reads it into *raw* structs whose leaves are plain strings and
//! numbers wrapped in [`toml::Spanned`]; then [`Config::from_toml`] checks
//! every value itself (socket addresses, durations, CIDRs, zone names) and
//! turns it into typed fields. Doing the semantic checks ourselves, with the
//! span of each value at hand, is what lets every problem read like
//!
//! ```text
//! zonewright.toml:4: listen: invalid socket address "127.0.0.1"
//! ```
//!
//! instead of a serde/debug dump. Serde's own errors (syntax, unknown keys,
//! wrong types) are mapped into the same [`Problem`] shape: the line comes
//! from toml's span, the key from the text at that span. Semantic checks
//! collect *every* problem, so `zonewright check` can list them all.
//!
//! Relative paths resolve against the folder holding the config file.
//!
//! ```toml
//! listen = ["127.0.0.1:5353"]   # UDP and TCP on each address
//! zones_dir = "zones"           # every <zone>.zone file here is served
//!
//! [server]                      # all optional
//! udp_workers = 4               # default: number of cores
//! tcp_idle_timeout = "10s"
//! tcp_max_connections = 512
//! tcp_max_per_source = 64       # default: an eighth of tcp_max_connections
//! tcp_max_lifetime = "2m"       # closed after this, between two messages
//! reload_interval = "1s"        # stat fallback for file watching
//! max_udp_payload = 1232        # cap on the EDNS0 payload we answer with
//! max_zone_file_size = "256MiB" # a zone's text (its file and $INCLUDEs), at most
//! include_dirs = []             # where $INCLUDE may lead besides zones_dir
//!
//! [[zone]]                      # optional per-zone settings
//! name = "example.com"
//! file = "example.com.zone"     # optional; relative to zones_dir
//! allow_transfer = ["127.0.0.0/8", "key:xfr-key"]  # CIDRs and/or TSIG keys
//! notify = ["192.0.2.2", "ns2.example.net:5300", "[::1]:5302"]  # RFC 1996
//! notify_key = "xfr-key"        # optional: sign NOTIFYs with this [[key]]
//! ```
//!
//! The write side (`[tsig]`, `[serial]`, `[git]`, `[[key]]`) is checked in
//! [`keys`]; see there for its keys. `[acme]` (the stale-challenge sweep) is
//! checked in [`acme`]. Reading a config may read secret files
//! (`secret_file`, `token_file`) and environment variables
//! (`secret = "$VAR"`): one loader, `config/secret.rs`, does both for
//! `[[key]]` secrets and `[[rest.token]]` tokens.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::rr::Name;
use crate::serial;

pub mod acme;
pub mod keys;
pub mod rest;
mod secret;

pub use acme::{AcmeSettings, Expire};
pub use keys::{Acknowledge, GitSettings, KeyConfig, SyncSettings, hostname};
pub use rest::RestConfig;

/// Default listen address when the file names none.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5353";
/// Largest config file we read (untrusted input stays bounded). 16 MiB:
/// a grant per zone for 50,000 zones takes about 4 MiB.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The config file this came from (as given).
    pub path: PathBuf,
    /// Addresses to serve UDP and TCP on.
    pub listen: Vec<SocketAddr>,
    /// The zones directory, resolved against the config file's folder.
    pub zones_dir: PathBuf,
    pub server: ServerSettings,
    /// Explicit `[[zone]]` entries, in file order.
    pub zones: Vec<ZoneConfig>,
    /// `[[key]]`: TSIG keys, their rate limits and grants, in file order.
    pub keys: Vec<KeyConfig>,
    /// `[tsig] fudge`: the fudge we put in signed responses (RFC 8945 §4.2).
    pub tsig_fudge: u16,
    /// `[tsig] reject_limit`: rejected signed requests a source may send
    /// (burst, per period) before it is turned away unverified; `None` off.
    pub tsig_reject_limit: Option<(u32, Duration)>,
    /// `[serial] policy`: how a write advances the SOA serial.
    pub serial_policy: serial::Policy,
    /// `[serial] external = "raise"` (the default): an edit made outside
    /// zonewright whose serial is not above the served one gets the next.
    pub raise_external_serial: bool,
    /// `[git]`: committer identity and commit timeout.
    pub git: GitSettings,
    /// `[acme]`: the stale-challenge sweep.
    pub acme: AcmeSettings,
    /// `[rest]`: the REST API, when configured (see [`rest`]).
    pub rest: Option<RestConfig>,
    /// `[admin]`: the read-only admin listener (`/metrics`, `/health`,
    /// `/ready`, zone status), when configured.
    pub admin: Option<AdminConfig>,
    /// Problems that do not stop the server, as `file:line: key: message`
    /// (logged as WARN at start, printed by `zonewright check`).
    pub warnings: Vec<String>,
    /// Where each address to listen on was written, for the messages of
    /// a listener that cannot bind ([`Config::listen_place`]).
    pub listen_at: Vec<ListenAt>,
}

/// An address to listen on, the key that names it and the config line it
/// is on (`None`: a default, written nowhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenAt {
    pub key: &'static str,
    pub addr: SocketAddr,
    pub line: Option<usize>,
}

/// Default `[admin] listen`: loopback, Prometheus exporters' port range.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9153";

/// `[admin]`: the read-only HTTP listener for operators and monitoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

/// `[server]`: tuning knobs, all with defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// UDP worker threads, all reading each listen address's one socket.
    pub udp_workers: usize,
    /// RFC 7766 §6.2.3: close TCP connections idle this long.
    pub tcp_idle_timeout: Duration,
    /// Concurrent TCP connections, over all listeners.
    pub tcp_max_connections: usize,
    /// Concurrent TCP connections of one source (an IPv4 address or an
    /// IPv6 /64; see [`crate::edge::sources`]).
    pub tcp_max_per_source: usize,
    /// A TCP connection is closed once it is this old, when it next waits
    /// for a request (a response or transfer under way is finished first).
    pub tcp_max_lifetime: Duration,
    /// Period of the stat fallback that catches changes inotify misses.
    pub reload_interval: Duration,
    /// Largest UDP response we send, whatever larger EDNS0 payload a client
    /// offers (RFC 6891 §6.2.5; 1232 avoids IP fragmentation).
    pub max_udp_payload: u16,
    /// Most bytes read for one zone: its file and every `$INCLUDE`d file
    /// together. A file that would go over is refused, not truncated.
    pub max_zone_file_size: u64,
    /// Folders besides `zones_dir` that an `$INCLUDE` (or a zone file in
    /// `zones_dir` that is a symlink) may resolve into; resolved against
    /// the config file's folder.
    pub include_dirs: Vec<PathBuf>,
    /// `max_zone_records`, `max_rrset_records`: what one zone may hold, at
    /// load and after every write.
    pub limits: crate::zone::Limits,
    /// RFC 4892: the CH TXT answer to `id.server.` and `hostname.bind.`
    /// (`None`: REFUSED).
    pub identity: Option<String>,
    /// The CH TXT answer to `version.bind.` and `version.server.`
    /// (`None`: REFUSED).
    pub version: Option<String>,
}

/// Default of `[server] max_zone_file_size`: 256 MiB.
pub const DEFAULT_MAX_ZONE_FILE_SIZE: u64 = 256 << 20;

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            udp_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_max_connections: 512,
            tcp_max_per_source: default_per_source(512),
            tcp_max_lifetime: Duration::from_secs(120),
            reload_interval: Duration::from_secs(1),
            max_udp_payload: 1232,
            max_zone_file_size: DEFAULT_MAX_ZONE_FILE_SIZE,
            include_dirs: Vec::new(),
            limits: crate::zone::Limits::default(),
            identity: None,
            version: None,
        }
    }
}

/// The default per-source cap for `total` connections: an eighth of
/// them (at least one), so a single client stays well under a quarter.
pub fn default_per_source(total: usize) -> usize {
    (total / 8).max(1)
}

/// One `[[zone]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The zone's origin, absolute.
    pub name: Name,
    /// The zone file, resolved against `zones_dir`; `None` means
    /// `<zones_dir>/<name>.zone`.
    pub file: Option<PathBuf>,
    /// Who may AXFR/IXFR this zone by source address (RFC 5936 §5:
    /// transfers need consent).
    pub allow_transfer: Vec<IpNet>,
    /// `allow_transfer = ["key:NAME"]`: requests signed with one of these
    /// TSIG keys (names absolute, lower case) may transfer from anywhere.
    pub allow_transfer_keys: Vec<Name>,
    /// RFC 1996: secondaries to NOTIFY after each serial change.
    pub notify: Vec<crate::notify::Target>,
    /// The `[[key]]` to sign NOTIFYs with, if any.
    pub notify_key: Option<Name>,
    /// Propagation-confirmed writes: an UPDATE or REST write is answered
    /// once this many `notify` targets serve its serial (0: at once).
    pub confirm: usize,
    /// ... or once this long has passed, whichever comes first.
    pub confirm_timeout: Duration,
}

/// Default `[[zone]] confirm_timeout`.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `server.udp_workers` or `zone[2].name`.
    pub key: String,
    pub message: String,
}

/// Everything wrong with one config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as shown in messages.
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            if p.key.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": {}: {}", p.key, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<Vec<Spanned<String>>>>,
    zones_dir: Option<Spanned<String>>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    zone: Vec<Spanned<RawZone>>,
    #[serde(default)]
    tsig: keys::RawTsig,
    #[serde(default)]
    serial: keys::RawSerial,
    #[serde(default)]
    git: keys::RawGit,
    #[serde(default)]
    key: Vec<Spanned<keys::RawKey>>,
    #[serde(default)]
    acme: acme::RawAcme,
    rest: Option<Spanned<rest::RawRest>>,
    admin: Option<Spanned<RawAdmin>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    udp_workers: Option<Spanned<u64>>,
    tcp_idle_timeout: Option<Spanned<String>>,
    tcp_max_connections: Option<Spanned<u64>>,
    tcp_max_per_source: Option<Spanned<u64>>,
    tcp_max_lifetime: Option<Spanned<String>>,
    reload_interval: Option<Spanned<String>>,
    max_udp_payload: Option<Spanned<u64>>,
    max_zone_file_size: Option<Spanned<RawSize>>,
    include_dirs: Option<Vec<Spanned<String>>>,
    max_zone_records: Option<Spanned<u64>>,
    max_rrset_records: Option<Spanned<u64>>,
    identity: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
}

/// A size: a number of bytes, or a string such as `"256MiB"`.
enum RawSize {
    Bytes(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of bytes or a size such as \"256MiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawSize, E> {
                u64::try_from(v)
                    .map(RawSize::Bytes)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_owned()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: Spanned<String>,
    file: Option<Spanned<String>>,
    #[serde(default)]
    allow_transfer: Vec<Spanned<String>>,
    #[serde(default)]
    notify: Vec<Spanned<String>>,
    notify_key: Option<Spanned<String>>,
    confirm: Option<Spanned<u64>>,
    confirm_timeout: Option<Spanned<String>>,
}

/// Collects problems with their lines while checking raw values.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
    /// Things that work but should be fixed (a secret file others can read).
    warnings: Vec<Problem>,
    /// Every address to listen on, with its line.
    listens: Vec<ListenAt>,
}

impl Checker<'_> {
    /// Notes where `addr`, the value of `key`, was written.
    fn listen(&mut self, key: &'static str, addr: SocketAddr, span: Option<Range<usize>>) {
        let line = span.map(|s| line_of(self.text, s.start));
        self.listens.push(ListenAt { key, addr, line });
    }

    fn warn(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
            line: Some(line_of(self.text, span.start)),
            key: key.into(),
            message: message.into(),
        });
    }

    fn push(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            line: Some(line_of(self.text, span.start)),
            key: key.into(),
            message: message.into(),
        });
    }

    fn duration(
        &mut self,
        raw: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let Some(raw) = raw else { return default };
        match parse_duration(raw.get_ref()) {
            Some(d) => d,
            None => {
                let msg = format!(
                    "invalid duration {:?} (use e.g. \"500ms\", \"10s\", \"2m\")",
                    raw.get_ref()
                );
                self.push(raw.span(), key, msg);
                default
            }
        }
    }

    fn count(
        &mut self,
        raw: &Option<Spanned<u64>>,
        key: &str,
        range: Range<u64>,
        default: usize,
    ) -> usize {
        let Some(raw) = raw else { return default };
        let v = *raw.get_ref();
        if range.contains(&v) {
            usize::try_from(v).unwrap_or(default)
        } else {
            let msg = format!("{v} is out of range {}..={}", range.start, range.end - 1);
            self.push(raw.span(), key, msg);
            default
        }
    }
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let io_error = |message: String| ConfigError {
            file: file.clone(),
            problems: vec![Problem {
                line: None,
                key: String::new(),
                message,
            }],
        };
        let meta = std::fs::metadata(path).map_err(|e| io_error(format!("cannot read: {e}")))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(io_error(format!("larger than {MAX_CONFIG_BYTES} bytes")));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| io_error(format!("cannot read: {e}")))?;
        Config::from_toml(path, &text)
    }

    /// Validates `text` as the config file at `path` (which is used for
    /// messages and to resolve relative paths). Reads only what the text
    /// names: `secret_file`s and `$VAR` secrets from the environment.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_env(path, text, &|var| std::env::var(var).ok())
    }

    /// [`Config::from_toml`] with `$VAR` secrets looked up in `env`.
    pub fn from_toml_env(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![serde_problem(text, &e)],
        })?;
        let base = config_dir(path).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![Problem {
                line: None,
                key: String::new(),
                message: format!(
                    "cannot resolve the config file's folder, which relative paths are \
                     relative to ({e}); give --config as an absolute path"
                ),
            }],
        })?;
        let mut c = Checker {
            text,
            problems: Vec::new(),
            warnings: Vec::new(),
            listens: Vec::new(),
        };

        let listen = check_listen(&mut c, raw.listen.as_ref());
        let zones_dir = match &raw.zones_dir {
            Some(d) if d.get_ref().is_empty() => {
                c.push(d.span(), "zones_dir", "must not be empty");
                join_clean(&base, Path::new("zones"))
            }
            Some(d) => join_clean(&base, Path::new(d.get_ref())),
            None => join_clean(&base, Path::new("zones")),
        };
        let zones_dir = pinned(zones_dir);
        let server = check_server(&mut c, &raw.server, &base);
        let (zones, key_refs) = check_zones(&mut c, &raw.zone, &zones_dir);
        let (tsig_fudge, tsig_reject_limit) = keys::check_tsig(&mut c, &raw.tsig);
        let (serial_policy, raise_external_serial) = keys::check_serial(&mut c, &raw.serial);
        let git = keys::check_git(&mut c, &raw.git);
        let keys = keys::check_keys(&mut c, &raw.key, &base, env);
        check_key_refs(&mut c, &key_refs, &keys);
        let acme = acme::check_acme(&mut c, &raw.acme);
        let admin = raw.admin.as_ref().map(|a| check_admin(&mut c, a, &listen));
        let taken = Taken {
            dns: &listen,
            admin: admin.as_ref().map(|a| a.listen),
        };
        let rest = rest::check_rest(
            &mut c,
            raw.rest.as_ref(),
            &zones,
            &zones_dir,
            &base,
            env,
            taken,
        );

        if c.problems.is_empty() {
            Ok(Config {
                path: path.to_path_buf(),
                listen,
                zones_dir,
                server,
                zones,
                keys,
                tsig_fudge,
                tsig_reject_limit,
                serial_policy,
                raise_external_serial,
                git,
                acme,
                rest,
                admin,
                warnings: ConfigError {
                    file,
                    problems: c.warnings,
                }
                .to_string()
                .lines()
                .map(str::to_string)
                .collect(),
                listen_at: c.listens,
            })
        } else {
            Err(ConfigError {
                file,
                problems: c.problems,
            })
        }
    }

    /// A config with defaults, serving `zones_dir` on `listen`; for tests and
    /// embedding.
    pub fn new(zones_dir: PathBuf, listen: Vec<SocketAddr>) -> Config {
        Config {
            path: PathBuf::from("zonewright.toml"),
            listen,
            zones_dir,
            server: ServerSettings::default(),
            zones: Vec::new(),
            keys: Vec::new(),
            tsig_fudge: keys::DEFAULT_FUDGE,
            tsig_reject_limit: Some(keys::DEFAULT_REJECT_LIMIT),
            serial_policy: serial::Policy::default(),
            raise_external_serial: true,
            git: GitSettings::default(),
            acme: AcmeSettings::default(),
            rest: None,
            admin: None,
            warnings: Vec::new(),
            listen_at: Vec::new(),
        }
    }

    /// `file:line: key` for the listen address `addr` of `key` (`listen`,
    /// `rest.listen`, `admin.listen`), to begin a message about binding it;
    /// `file: key` for a default address.
    pub fn listen_place(&self, key: &str, addr: &SocketAddr) -> String {
        let file = self.path.display();
        match self
            .listen_at
            .iter()
            .find(|l| l.key == key && l.addr == *addr)
            .and_then(|l| l.line)
        {
            Some(line) => format!("{file}:{line}: {key}"),
            None => format!("{file}: {key}"),
        }
    }
}

/// The addresses listened on before `[rest]` is read, which its listener
/// must not clash with ([`clash`]).
#[derive(Clone, Copy)]
pub(crate) struct Taken<'a> {
    pub dns: &'a [SocketAddr],
    pub admin: Option<SocketAddr>,
}

/// `[admin]`: where the listener binds (loopback by default). It has no
/// token: anywhere but loopback is a warning.
fn check_admin(c: &mut Checker<'_>, raw: &Spanned<RawAdmin>, dns: &[SocketAddr]) -> AdminConfig {
    let default = SocketAddr::from(([127, 0, 0, 1], 9153));
    let Some(listen) = &raw.get_ref().listen else {
        c.listen("admin.listen", default, None);
        return AdminConfig { listen: default };
    };
    let addr = match SocketAddr::from_str(listen.get_ref()) {
        Ok(a) => a,
        Err(_) => {
            c.push(
                listen.span(),
                "admin.listen",
                format!(
                    "invalid socket address {:?} (expected IP:PORT, e.g. \"{DEFAULT_ADMIN_LISTEN}\")",
                    listen.get_ref()
                ),
            );
            default
        }
    };
    if let Some(msg) = unlistenable(&addr) {
        c.push(listen.span(), "admin.listen", msg);
        return AdminConfig { listen: default };
    }
    if let Some(other) = dns.iter().find(|d| clash(&addr, d)) {
        let msg = clash_message(&addr, "listen", other);
        c.push(listen.span(), "admin.listen", msg);
    }
    c.listen("admin.listen", addr, Some(listen.span()));
    if !addr.ip().is_loopback() {
        c.warn(
            listen.span(),
            "admin.listen",
            format!(
                "{addr} is not a loopback address: the admin listener has no token, and anyone \
                 who reaches it reads zone names, serials and secondaries (bind it to loopback \
                 or a management network behind a firewall)"
            ),
        );
    }
    AdminConfig { listen: addr }
}

/// `zones_dir` as it resolves when the config is read (a folder that is a
/// symbolic link, or is reached through one, by its real path): the
/// server works on that folder and its git repository until it restarts,
/// even when the link is pointed elsewhere meanwhile (a reload of the
/// config then says `zones_dir` changed and takes effect at the restart).
/// A folder that does not exist yet is left as written.
fn pinned(zones_dir: PathBuf) -> PathBuf {
    zones_dir.canonicalize().unwrap_or(zones_dir)
}

/// What SIGHUP puts in effect: `new` with every setting that needs a
/// restart kept as in `running`, and the names of those that differ (for a
/// WARN). Live: `[[key]]` (keys, grants, rate limits), `[[zone]]` (zones
/// added and removed, allow_transfer, notify, notify_key, confirm),
/// `[[rest.token]]`, `[rest]` rate limits, `[acme]`. Not live: `listen`,
/// `zones_dir`, `[server]`, `[tsig]`, `[serial]`, `[git]`, `[admin]`, and
/// the rest of `[rest]` (the listeners and the write path are built at
/// start).
pub fn live_part(running: &Config, new: Config) -> (Config, Vec<&'static str>) {
    let mut restart = Vec::new();
    let mut keep = |name: &'static str, differs: bool| {
        if differs {
            restart.push(name);
        }
    };
    keep("listen", running.listen != new.listen);
    keep("zones_dir", running.zones_dir != new.zones_dir);
    keep("[server]", running.server != new.server);
    keep(
        "[tsig]",
        (running.tsig_fudge, running.tsig_reject_limit) != (new.tsig_fudge, new.tsig_reject_limit),
    );
    keep(
        "[serial]",
        (running.serial_policy, running.raise_external_serial)
            != (new.serial_policy, new.raise_external_serial),
    );
    keep("[git]", running.git != new.git);
    keep("[admin]", running.admin != new.admin);
    let rest = match (&running.rest, new.rest) {
        (Some(old), Some(fresh)) => {
            // Live: the tokens and the write rate limits.
            let live = RestConfig {
                tokens: fresh.tokens.clone(),
                rate_limit: fresh.rate_limit,
                source_rate_limit: fresh.source_rate_limit,
                ..old.clone()
            };
            keep("[rest] (all but its tokens and rate limits)", live != fresh);
            Some(live)
        }
        (old, fresh) => {
            keep("[rest]", old.is_some() != fresh.is_some());
            old.clone()
        }
    };
    let effective = Config {
        path: running.path.clone(),
        listen: running.listen.clone(),
        zones_dir: running.zones_dir.clone(),
        server: running.server.clone(),
        zones: new.zones,
        keys: new.keys,
        tsig_fudge: running.tsig_fudge,
        tsig_reject_limit: running.tsig_reject_limit,
        serial_policy: running.serial_policy,
        raise_external_serial: running.raise_external_serial,
        git: running.git.clone(),
        acme: new.acme,
        rest,
        admin: running.admin.clone(),
        warnings: new.warnings,
        // The listeners are not bound again: where they were written.
        listen_at: running.listen_at.clone(),
    };
    (effective, restart)
}

/// Why `addr` cannot be listened on (`listen`, `[admin] listen`,
/// `[rest] listen`): an IPv4-mapped IPv6 address (the IPv6 sockets are
/// IPv6 only, IPV6_V6ONLY, so binding it fails with EINVAL), or an IPv6
/// link-local address without the interface it is on (EINVAL too: the
/// same fe80:: address may be on every interface).
pub(crate) fn unlistenable(addr: &SocketAddr) -> Option<String> {
    // A group or broadcast address is no server's (round 54: passed).
    let broadcast = matches!(addr, SocketAddr::V4(v4) if v4.ip().is_broadcast());
    if addr.ip().is_multicast() || broadcast {
        return Some(format!(
            "\"{addr}\" is a multicast or broadcast address, not one a server listens on"
        ));
    }
    let SocketAddr::V6(v6) = addr else {
        return None;
    };
    if let Some(v4) = v6.ip().to_ipv4_mapped() {
        return Some(format!(
            "\"{v6}\" is an IPv4-mapped IPv6 address, which cannot be listened on: write \"{}\"",
            SocketAddr::from((v4, v6.port()))
        ));
    }
    // fe80::/10 (RFC 4291 §2.5.6).
    let link_local = v6.ip().segments()[0] & 0xffc0 == 0xfe80;
    (link_local && v6.scope_id() == 0).then(|| {
        format!(
            "\"{v6}\" is a link-local address, which can be listened on only with its \
             interface's index: write \"[{}%INDEX]:{}\" (`ip link` lists the indexes)",
            v6.ip(),
            v6.port()
        )
    })
}

/// Whether `a` and `b` cannot both be listened on (TCP, or UDP without
/// SO_REUSEADDR): the same port of the same family, and the same address
/// or one of them the wildcard (`0.0.0.0`, `[::]`), which takes the port
/// on every address. Port 0 (any free port) never clashes.
pub(crate) fn clash(a: &SocketAddr, b: &SocketAddr) -> bool {
    // A link-local address on two interfaces is two addresses (round 50).
    let same = match (a, b) {
        (SocketAddr::V6(x), SocketAddr::V6(y)) => x.ip() == y.ip() && x.scope_id() == y.scope_id(),
        _ => a.ip() == b.ip(),
    };
    a.port() != 0
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (same || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The error for `addr` (of `key`) listed with `other` (of `other_key`),
/// which it clashes with ([`clash`]).
pub(crate) fn clash_message(addr: &SocketAddr, other_key: &str, other: &SocketAddr) -> String {
    let why = if addr.ip() == other.ip() {
        "the same address and port".to_string()
    } else {
        let wildcard = if addr.ip().is_unspecified() {
            addr
        } else {
            other
        };
        format!(
            "\"{wildcard}\" already takes port {} on every {} address",
            wildcard.port(),
            if wildcard.is_ipv4() { "IPv4" } else { "IPv6" }
        )
    };
    format!(
        "\"{addr}\" cannot be listened on beside {other_key} \"{other}\" ({why}): list one \
         of them, or use another port"
    )
}

fn check_listen(
    c: &mut Checker<'_>,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Vec<SocketAddr> {
    let Some(raw) = raw else {
        let out: Vec<SocketAddr> = SocketAddr::from_str(DEFAULT_LISTEN).into_iter().collect();
        for a in &out {
            c.listen("listen", *a, None);
        }
        return out;
    };
    if raw.get_ref().is_empty() {
        c.push(raw.span(), "listen", "needs at least one address");
    }
    let mut out = Vec::new();
    for a in raw.get_ref() {
        match SocketAddr::from_str(a.get_ref()) {
            Ok(addr) if out.contains(&addr) => {
                c.push(a.span(), "listen", format!("duplicate address \"{addr}\""));
            }
            Ok(addr) if unlistenable(&addr).is_some() => {
                c.push(a.span(), "listen", unlistenable(&addr).unwrap_or_default());
            }
            Ok(addr) if out.iter().any(|o| clash(&addr, o)) => {
                let other = out.iter().find(|o| clash(&addr, o)).unwrap_or(&addr);
                let msg = clash_message(&addr, "listen", other);
                c.push(a.span(), "listen", msg);
            }
            Ok(addr) => {
                c.listen("listen", addr, Some(a.span()));
                out.push(addr);
            }
            Err(_) => {
                let msg = format!(
                    "invalid socket address {:?} (expected IP:PORT, e.g. \"127.0.0.1:53\" or \"[::1]:53\")",
                    a.get_ref()
                );
                c.push(a.span(), "listen", msg);
            }
        }
    }
    out
}

fn check_server(c: &mut Checker<'_>, raw: &RawServer, base: &Path) -> ServerSettings {
    let d = ServerSettings::default();
    let mut include_dirs = Vec::new();
    for dir in raw.include_dirs.iter().flatten() {
        if dir.get_ref().is_empty() {
            c.push(dir.span(), "server.include_dirs", "must not be empty");
        } else {
            include_dirs.push(join_clean(base, Path::new(dir.get_ref())));
        }
    }
    let tcp_max_connections = c.count(
        &raw.tcp_max_connections,
        "server.tcp_max_connections",
        1..1_000_001,
        d.tcp_max_connections,
    );
    let tcp_max_per_source = c.count(
        &raw.tcp_max_per_source,
        "server.tcp_max_per_source",
        1..1_000_001,
        default_per_source(tcp_max_connections),
    );
    if let Some(raw) = &raw.tcp_max_per_source
        && tcp_max_per_source > tcp_max_connections
    {
        let msg = format!(
            "{tcp_max_per_source} is more than tcp_max_connections ({tcp_max_connections})"
        );
        c.push(raw.span(), "server.tcp_max_per_source", msg);
    }
    ServerSettings {
        udp_workers: c.count(
            &raw.udp_workers,
            "server.udp_workers",
            1..1025,
            d.udp_workers,
        ),
        tcp_idle_timeout: c.duration(
            &raw.tcp_idle_timeout,
            "server.tcp_idle_timeout",
            d.tcp_idle_timeout,
        ),
        tcp_max_connections,
        tcp_max_per_source,
        tcp_max_lifetime: c.duration(
            &raw.tcp_max_lifetime,
            "server.tcp_max_lifetime",
            d.tcp_max_lifetime,
        ),
        reload_interval: c.duration(
            &raw.reload_interval,
            "server.reload_interval",
            d.reload_interval,
        ),
        max_udp_payload: u16::try_from(c.count(
            &raw.max_udp_payload,
            "server.max_udp_payload",
            512..65536,
            usize::from(d.max_udp_payload),
        ))
        .unwrap_or(d.max_udp_payload),
        max_zone_file_size: check_size(
            c,
            &raw.max_zone_file_size,
            "server.max_zone_file_size",
            MIN_ZONE_FILE_SIZE..=MAX_ZONE_FILE_SIZE,
            d.max_zone_file_size,
        ),
        include_dirs,
        limits: crate::zone::Limits {
            max_zone_records: c.count(
                &raw.max_zone_records,
                "server.max_zone_records",
                1..1_000_000_001,
                d.limits.max_zone_records,
            ),
            max_rrset_records: c.count(
                &raw.max_rrset_records,
                "server.max_rrset_records",
                1..1_000_000_001,
                d.limits.max_rrset_records,
            ),
        },
        identity: txt_setting(c, &raw.identity, "server.identity"),
        version: txt_setting(c, &raw.version, "server.version"),
    }
}

/// A string served as one TXT character-string: 1 to 255 octets.
fn txt_setting(c: &mut Checker<'_>, raw: &Option<Spanned<String>>, key: &str) -> Option<String> {
    let raw = raw.as_ref()?;
    let len = raw.get_ref().len();
    if len == 0 || len > 255 {
        c.push(
            raw.span(),
            key,
            format!("must be 1 to 255 bytes (is {len})"),
        );
        return None;
    }
    Some(raw.get_ref().clone())
}

/// Bounds of `[server] max_zone_file_size`: 1 KiB to 64 GiB.
const MIN_ZONE_FILE_SIZE: u64 = 1 << 10;
const MAX_ZONE_FILE_SIZE: u64 = 64 << 30;

fn check_size(
    c: &mut Checker<'_>,
    raw: &Option<Spanned<RawSize>>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> u64 {
    let Some(raw) = raw else { return default };
    let value = match raw.get_ref() {
        RawSize::Bytes(n) => Some(*n),
        RawSize::Text(t) => parse_size(t),
    };
    match value {
        Some(n) if range.contains(&n) => n,
        Some(n) => {
            let msg = format!(
                "{n} bytes is out of range {}..={} bytes",
                range.start(),
                range.end()
            );
            c.push(raw.span(), key, msg);
            default
        }
        None => {
            let RawSize::Text(t) = raw.get_ref() else {
                return default;
            };
            let msg =
                format!("invalid size {t:?} (use bytes, or e.g. \"512KiB\", \"256MiB\", \"1GiB\")");
            c.push(raw.span(), key, msg);
            default
        }
    }
}

/// `"1024"`, `"1024B"`, `"512KiB"`, `"256MiB"`, `"1GiB"` (binary units,
/// as `ls -h` and most tools mean them; spaces allowed before the unit).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// A key named by a zone (`key:NAME`, `notify_key`), checked once the
/// `[[key]]`s are known: where, under which config key, and the name.
struct KeyRef {
    span: Range<usize>,
    key: String,
    name: Name,
}

fn check_key_refs(c: &mut Checker<'_>, refs: &[KeyRef], keys: &[KeyConfig]) {
    for r in refs {
        if !keys.iter().any(|k| k.key.name == r.name) {
            let msg = format!(
                "no [[key]] named {:?}",
                r.name.to_ascii().trim_end_matches('.')
            );
            c.push(r.span.clone(), r.key.clone(), msg);
        }
    }
}

/// `allow_transfer` entries: CIDRs or bare addresses, and `key:NAME`.
fn check_allow_transfer(
    c: &mut Checker<'_>,
    raw: &[Spanned<String>],
    key: &str,
    refs: &mut Vec<KeyRef>,
) -> (Vec<IpNet>, Vec<Name>) {
    let (mut nets, mut names) = (Vec::new(), Vec::new());
    for a in raw {
        if let Some(k) = a.get_ref().strip_prefix("key:") {
            match parse_zone_name(k) {
                Some(name) => {
                    refs.push(KeyRef {
                        span: a.span(),
                        key: key.to_string(),
                        name: name.clone(),
                    });
                    names.push(name);
                }
                None => c.push(a.span(), key, format!("invalid key name {k:?}")),
            }
            continue;
        }
        match parse_cidr(a.get_ref()) {
            Some(net) => nets.push(net),
            None => {
                let msg = format!(
                    "invalid address or CIDR {:?} (e.g. \"192.0.2.0/24\", \"::1\", \"key:NAME\")",
                    a.get_ref()
                );
                c.push(a.span(), key, msg);
            }
        }
    }
    (nets, names)
}

fn check_zones(
    c: &mut Checker<'_>,
    raw: &[Spanned<RawZone>],
    zones_dir: &Path,
) -> (Vec<ZoneConfig>, Vec<KeyRef>) {
    let mut out: Vec<ZoneConfig> = Vec::new();
    let mut refs = Vec::new();
    // The names taken, for a check in O(1) (tens of thousands of zones).
    let mut taken: std::collections::HashSet<Name> = Default::default();
    for (i, z) in raw.iter().enumerate() {
        let key = |k: &str| format!("zone[{}].{k}", i + 1);
        let z = z.get_ref();
        let Some(name) = parse_zone_name(z.name.get_ref()) else {
            let msg = format!("invalid zone name {:?}", z.name.get_ref());
            c.push(z.name.span(), key("name"), msg);
            continue;
        };
        if !taken.insert(name.clone()) {
            let msg = format!("zone {name} is listed twice");
            c.push(z.name.span(), key("name"), msg);
            continue;
        }
        let file = match &z.file {
            Some(f) if f.get_ref().is_empty() => {
                c.push(f.span(), key("file"), "must not be empty");
                None
            }
            Some(f) => Some(join_clean(zones_dir, Path::new(f.get_ref()))),
            None => None,
        };
        let (allow_transfer, allow_transfer_keys) =
            check_allow_transfer(c, &z.allow_transfer, &key("allow_transfer"), &mut refs);
        let mut notify: Vec<crate::notify::Target> = Vec::new();
        for t in &z.notify {
            match crate::notify::Target::parse(t.get_ref()) {
                Ok(target) if notify.contains(&target) => {
                    let msg =
                        format!("{target} is listed twice (it would count twice for confirm)");
                    c.push(t.span(), key("notify"), msg);
                }
                Ok(target) => notify.push(target),
                Err(e) => c.push(t.span(), key("notify"), e.to_string()),
            }
        }
        let notify_key = z.notify_key.as_ref().and_then(|k| {
            let name = parse_zone_name(k.get_ref());
            match &name {
                Some(n) => refs.push(KeyRef {
                    span: k.span(),
                    key: key("notify_key"),
                    name: n.clone(),
                }),
                None => c.push(
                    k.span(),
                    key("notify_key"),
                    format!("invalid key name {:?}", k.get_ref()),
                ),
            }
            name
        });
        let confirm = c.count(&z.confirm, &key("confirm"), 0..65_536, 0);
        if confirm > notify.len()
            && let Some(raw) = &z.confirm
        {
            let msg = format!(
                "confirm = {confirm} but the zone has {} notify target(s): writes would \
                 always wait for confirm_timeout",
                notify.len()
            );
            c.push(raw.span(), key("confirm"), msg);
        }
        let confirm_timeout = c.duration(
            &z.confirm_timeout,
            &key("confirm_timeout"),
            DEFAULT_CONFIRM_TIMEOUT,
        );
        if (confirm_timeout > Duration::from_secs(60) || confirm_timeout.is_zero())
            && let Some(raw) = &z.confirm_timeout
        {
            let msg = "must be above 0 and at most 60s (clients time out first)";
            c.push(raw.span(), key("confirm_timeout"), msg);
        }
        out.push(ZoneConfig {
            name,
            file,
            allow_transfer,
            allow_transfer_keys,
            notify,
            notify_key,
            confirm,
            confirm_timeout,
        });
    }
    (out, refs)
}

/// The folder the relative paths of the config file at `path` resolve
/// against: the file's own folder, made absolute against the working
/// directory once, here, so that no path in a [`Config`] depends on where
/// the server was started (git compares them with its absolute work tree;
/// `.` and `x/.` would not match `x/`). An error only when the working
/// directory itself cannot be read (it was deleted).
fn config_dir(path: &Path) -> std::io::Result<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(join_clean(&std::path::absolute(parent)?, Path::new("")))
}

/// `base/rel` without `.` components, so messages show `zones/a.zone`
/// rather than `zones/./a.zone`, and `zones_dir = "."` is the config's
/// folder itself. Every path in a [`Config`] is made by this function from
/// the absolute [`config_dir`], so all are absolute and written one way
/// (`..` is kept: only the file system knows where it leads through a
/// symbolic link).
fn join_clean(base: &Path, rel: &Path) -> PathBuf {
    let joined: PathBuf = base
        .join(rel)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if joined.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        joined
    }
}

/// A zone name as written in config or a file name: made absolute.
pub fn parse_zone_name(s: &str) -> Option<Name> {
    if s.is_empty() || s == "@" || s.contains(char::is_whitespace) {
        return None;
    }
    // The zone-file decoder of `\X` and `\DDD` (RFC 1035 §5.1): hickory's
    // own reads `\065b` as `5b` (a file `a\065b.test.zone` was served as
    // zone `a5b.test.`).
    let mut name = crate::rdata::name_from_text(s, &Name::root())
        .ok()?
        .to_lowercase();
    name.set_fqdn(true);
    Some(name)
}

/// `192.0.2.0/24`, or a bare address meaning that host only.
fn parse_cidr(s: &str) -> Option<IpNet> {
    let net = IpNet::from_str(s)
        .ok()
        .or_else(|| std::net::IpAddr::from_str(s).ok().map(IpNet::from))?;
    Some(unmapped(net))
}

/// An IPv4-mapped IPv6 network (`::ffff:127.0.0.0/104`) as the IPv4 one it
/// means (`127.0.0.0/8`): the IPv6 sockets are IPv6 only, so IPv4 clients
/// arrive with IPv4 addresses and a mapped network never matched them
/// (round 47 LOW: `allow_transfer` and `[rest] allow` refused them).
fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .addr()
            .to_ipv4_mapped()
            .and_then(|v4| ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(net, |n| IpNet::V4(n.trunc())),
        _ => net,
    }
}

/// `500ms`, `10s`, `2m`, `1h`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Maps a toml/serde error to a [`Problem`]: line from the span, key from
/// the text there (for unknown keys serde's message already names it).
fn serde_problem(text: &str, e: &toml::de::Error) -> Problem {
    let message = e.message().trim().replace('\n', "; ");
    let Some(span) = e.span() else {
        return Problem {
            line: None,
            key: String::new(),
            message,
        };
    };
    let line = line_of(text, span.start);
    let key = key_at(text, span.start).unwrap_or_default();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next());
    let (key, message) = match (unknown_field(&message), missing) {
        (Some(field), _) => (key, format!("unknown key `{field}`")),
        (None, Some(field)) if key.is_empty() => (field.to_string(), "is required".to_string()),
        (None, Some(field)) => (format!("{key}.{field}"), "is required".to_string()),
        (None, None) => (key, message),
    };
    Problem {
        line: Some(line),
        key,
        message,
    }
}

/// `unknown field `foo`, expected ...` -> `foo`.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The dotted key whose value sits at byte `at`: the table header above
/// the line plus the bare key before `=` on the line (best effort).
fn key_at(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[line_start..line_end];
    let key = match line.split_once('=') {
        Some((k, _)) if line_start + k.len() <= at || !line.trim_start().starts_with('[') => {
            k.trim().trim_matches('"').to_string()
        }
        _ => String::new(),
    };
    // A header line itself (a table's span starts there: a key missing
    // from it) names its own table.
    let above = if line.trim_start().starts_with('[') {
        &text[..line_end]
    } else {
        &text[..line_start]
    };
    let table = above
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|header| {
            let name = header.trim_matches(|c| c == '[' || c == ']').trim();
            if header.starts_with("[[") {
                // Array of tables: number the entry as the checks do.
                let n = above.lines().filter(|l| l.trim() == header).count();
                format!("{name}[{n}]")
            } else {
                name.to_string()
            }
        });
    match (table, key.is_empty()) {
        (Some(t), false) => Some(format!("{t}.{key}")),
        (Some(t), true) => Some(t),
        (None, false) => Some(key),
        (None, true) => None,
    }
}

/// A file type in words, for messages.
pub fn file_kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a plain file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zone names (file names, `[[zone]] name`, grants) take the zone
    /// file's escapes (RFC 1035 §5.1), lower-cased; `@` is no zone.
    #[test]
    fn zone_names_decode_escapes_as_zone_files_do() {
        let name = |s: &str| parse_zone_name(s).map(|n| n.to_ascii());
        assert_eq!(name("a\\065b.test"), Some("aab.test.".into()));
        assert_eq!(name("Example.COM"), Some("example.com.".into()));
        assert_eq!(name("example.com."), Some("example.com.".into()));
        let dotted = parse_zone_name("x\\.y.test").expect("escaped dot");
        assert_eq!(dotted.num_labels(), 2, "x.y is one label");
        assert_eq!(name("@"), None);
        assert_eq!(name("a b"), None);
        assert_eq!(name("a\\256.test"), None);
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(Path::new("/etc/zw/zonewright.toml"), text)
    }

    #[test]
    fn reload_takes_keys_and_zones_and_keeps_what_needs_a_restart() {
        let key = |name: &str| {
            format!(
                "[[key]]\nname = \"{name}\"\nalgorithm = \"hmac-sha256\"\n\
                 secret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n"
            )
        };
        let running = parse(&format!(
            "listen = [\"127.0.0.1:53\"]\nzones_dir = \"z\"\n{}",
            key("old")
        ))
        .unwrap();
        let new = parse(&format!(
            "listen = [\"127.0.0.1:54\"]\nzones_dir = \"z\"\n[git]\nname = \"x\"\n\
             [[zone]]\nname = \"example.com\"\nnotify = [\"192.0.2.1\"]\n{}",
            key("new")
        ))
        .unwrap();
        let (live, restart) = live_part(&running, new);
        assert_eq!(restart, vec!["listen", "[git]"]);
        assert_eq!(live.listen, running.listen);
        assert_eq!(live.git, running.git);
        assert_eq!(live.keys.len(), 1);
        assert_eq!(live.keys[0].key.name.to_ascii(), "new.");
        assert_eq!(live.zones.len(), 1);
        let (same, restart) = live_part(&running, running.clone());
        assert!(restart.is_empty());
        assert_eq!(same, running);
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("should fail").to_string()
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse("").expect("ok");
        assert_eq!(c.listen, vec![SocketAddr::from(([127, 0, 0, 1], 5353))]);
        assert_eq!(c.zones_dir, PathBuf::from("/etc/zw/zones"));
        assert_eq!(c.server.tcp_idle_timeout, Duration::from_secs(10));
        assert_eq!(c.server.tcp_max_connections, 512);
        assert_eq!(c.server.tcp_max_per_source, 64);
        assert_eq!(c.server.tcp_max_lifetime, Duration::from_secs(120));
        assert_eq!(c.server.reload_interval, Duration::from_secs(1));
        assert!(c.server.udp_workers >= 1);
    }

    #[test]
    fn per_source_cap_follows_the_total_and_stays_below_it() {
        let c = parse("[server]\ntcp_max_connections = 40\n").expect("ok");
        assert_eq!(c.server.tcp_max_per_source, 5);
        let c = parse("[server]\ntcp_max_connections = 2\n").expect("ok");
        assert_eq!(c.server.tcp_max_per_source, 1);
        let c =
            parse("[server]\ntcp_max_per_source = 3\ntcp_max_lifetime = \"30s\"\n").expect("ok");
        assert_eq!(c.server.tcp_max_per_source, 3);
        assert_eq!(c.server.tcp_max_lifetime, Duration::from_secs(30));
        let e = err("[server]\ntcp_max_connections = 4\ntcp_max_per_source = 5\n");
        assert!(
            e.contains(":3: server.tcp_max_per_source: 5 is more than tcp_max_connections (4)"),
            "{e}"
        );
    }

    #[test]
    fn full_config() {
        let c = parse(
            r#"
listen = ["127.0.0.1:5353", "[::1]:5353"]
zones_dir = "z"
[server]
udp_workers = 3
tcp_idle_timeout = "500ms"
[[zone]]
name = "example.com"
file = "ex.zone"
allow_transfer = ["127.0.0.0/8", "::1"]
"#,
        )
        .expect("ok");
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.server.udp_workers, 3);
        assert_eq!(c.server.tcp_idle_timeout, Duration::from_millis(500));
        assert_eq!(
            c.zones[0].name,
            Name::from_ascii("example.com.").expect("n")
        );
        assert_eq!(c.zones[0].file, Some(PathBuf::from("/etc/zw/z/ex.zone")));
        assert_eq!(c.zones[0].allow_transfer.len(), 2);
    }

    #[test]
    fn zone_file_size_and_include_dirs() {
        let c = parse("").expect("ok");
        assert_eq!(c.server.max_zone_file_size, 256 << 20);
        assert!(c.server.include_dirs.is_empty());
        let c = parse(
            "[server]\nmax_zone_file_size = \"64MiB\"\ninclude_dirs = [\"shared\", \"/srv/inc\"]\n",
        )
        .expect("ok");
        assert_eq!(c.server.max_zone_file_size, 64 << 20);
        assert_eq!(
            c.server.include_dirs,
            [PathBuf::from("/etc/zw/shared"), PathBuf::from("/srv/inc")]
        );
        let c = parse("[server]\nmax_zone_file_size = 4096\n").expect("ok");
        assert_eq!(c.server.max_zone_file_size, 4096);
        for (size, want) in [
            ("1024", 1024),
            ("2 KiB", 2048),
            ("1GiB", 1 << 30),
            ("7B", 7),
        ] {
            assert_eq!(parse_size(size), Some(want), "{size}");
        }
        for bad in ["", "MiB", "1MB", "1.5GiB", "-1", "99999999999999999999GiB"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        let e = err("[server]\nmax_zone_file_size = \"lots\"\n");
        assert!(
            e.starts_with(
                "/etc/zw/zonewright.toml:2: server.max_zone_file_size: invalid size \"lots\""
            ),
            "{e}"
        );
        let e = err("[server]\nmax_zone_file_size = 12\n");
        assert!(e.contains("out of range"), "{e}");
        let e = err("[server]\nmax_zone_file_size = true\n");
        assert!(
            e.contains("server.max_zone_file_size: ") && e.contains("256MiB"),
            "{e}"
        );
        let e = err("[server]\ninclude_dirs = [\"\"]\n");
        assert!(e.contains("server.include_dirs: must not be empty"), "{e}");
    }

    #[test]
    fn dot_paths_are_cleaned() {
        let cwd = std::env::current_dir().expect("cwd");
        let c = Config::from_toml(Path::new("zonewright.toml"), "zones_dir = \".\"\n").expect("ok");
        assert_eq!(c.zones_dir, cwd);
        let c = Config::from_toml(Path::new("ex/zonewright.toml"), "zones_dir = \"./z\"\n")
            .expect("ok");
        assert_eq!(c.zones_dir, cwd.join("ex/z"));
        let c = Config::from_toml(Path::new("./ex/./zonewright.toml"), "zones_dir = \".\"\n")
            .expect("ok");
        assert_eq!(c.zones_dir, cwd.join("ex"));
    }

    /// Every path a relative config names is absolute, resolved against the
    /// config file's folder (never the working directory at use), and
    /// written without `.` components.
    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let cwd = std::env::current_dir().expect("cwd");
        let text = "zones_dir = \".\"\n[server]\ninclude_dirs = [\"./inc\", \"/abs\"]\n\
                    [[zone]]\nname = \"ex\"\nfile = \"./sub/ex.zone\"\n";
        let c = Config::from_toml(Path::new("cfg/zonewright.toml"), text).expect("ok");
        assert_eq!(c.zones_dir, cwd.join("cfg"));
        assert_eq!(
            c.server.include_dirs,
            [cwd.join("cfg/inc"), PathBuf::from("/abs")]
        );
        assert_eq!(c.zones[0].file, Some(cwd.join("cfg/sub/ex.zone")));
        let c = Config::from_toml(Path::new("/etc/zw/zonewright.toml"), text).expect("ok");
        assert_eq!(c.zones_dir, PathBuf::from("/etc/zw"));
    }

    /// Round 46 LOW: a mapped IPv4 address passed `check` and failed at
    /// `serve` (EINVAL on an IPv6-only socket).
    #[test]
    fn a_mapped_ipv4_listen_address_is_refused_with_the_plain_one_to_write() {
        let e = err("listen = [\"127.0.0.1:53\", \"[::ffff:127.0.0.1]:5300\"]\n");
        assert!(
            e.contains(
                ":1: listen: \"[::ffff:127.0.0.1]:5300\" is an IPv4-mapped IPv6 address, which \
                 cannot be listened on: write \"127.0.0.1:5300\""
            ),
            "{e}"
        );
    }

    /// Round 54 LOW: a multicast or broadcast address passed `check`.
    #[test]
    fn a_multicast_or_broadcast_listen_address_is_refused() {
        for (text, want) in [
            (
                "listen = [\"224.0.0.1:53\"]\n",
                ":1: listen: \"224.0.0.1:53\" is a multicast",
            ),
            (
                "listen = [\"255.255.255.255:53\"]\n",
                ":1: listen: \"255.255.255.255:53\" is a",
            ),
            (
                "listen = [\"[ff02::1]:53\"]\n",
                ":1: listen: \"[ff02::1]:53\" is a multicast",
            ),
            (
                "[admin]\nlisten = \"239.1.1.1:9153\"\n",
                "admin.listen: \"239.1.1.1:9153\" is a",
            ),
        ] {
            let e = err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    /// Round 47 LOW: the same for `[admin] listen` and `[rest] listen`.
    #[test]
    fn a_mapped_admin_or_rest_listen_address_is_refused() {
        let e = err("[admin]\nlisten = \"[::ffff:127.0.0.1]:9153\"\n");
        assert!(
            e.contains("admin.listen: \"[::ffff:127.0.0.1]:9153\" is an IPv4-mapped"),
            "{e}"
        );
        let e = err("[rest]\nlisten = \"[::ffff:127.0.0.1]:8080\"\nzones = [\"service.local\"]\n");
        assert!(
            e.contains("rest.listen: \"[::ffff:127.0.0.1]:8080\" is an IPv4-mapped"),
            "{e}"
        );
    }

    /// Round 47 LOW: listen sets `serve` cannot bind passed `check`: a
    /// wildcard beside an address of its family on the same port, and a
    /// link-local address without its interface. Each is now an error
    /// naming both addresses; the families apart (`[::]` is IPv6 only),
    /// other ports and port 0 are fine.
    #[test]
    fn listen_addresses_that_cannot_all_be_bound_are_refused() {
        let e = err("listen = [\"0.0.0.0:5300\", \"127.0.0.1:5300\"]\n");
        assert!(
            e.contains(
                ":1: listen: \"127.0.0.1:5300\" cannot be listened on beside listen \
                 \"0.0.0.0:5300\" (\"0.0.0.0:5300\" already takes port 5300 on every IPv4 \
                 address)"
            ),
            "{e}"
        );
        let e = err("listen = [\"[::1]:53\", \"[::]:53\"]\n");
        assert!(
            e.contains("\"[::]:53\" cannot be listened on beside listen \"[::1]:53\""),
            "{e}"
        );
        let e = err("listen = [\"[fe80::1]:53\"]\n");
        assert!(
            e.contains(
                ":1: listen: \"[fe80::1]:53\" is a link-local address, which can be listened \
                 on only with its interface's index: write \"[fe80::1%INDEX]:53\""
            ),
            "{e}"
        );
        let e = err("listen = [\"127.0.0.1:53\"]\n[admin]\nlisten = \"0.0.0.0:53\"\n");
        assert!(
            e.contains("admin.listen: \"0.0.0.0:53\" cannot be listened on beside listen"),
            "{e}"
        );
        let e = err(
            "listen = [\"127.0.0.1:53\"]\n[admin]\nlisten = \"127.0.0.1:8080\"\n\
                     [rest]\nlisten = \"127.0.0.1:8080\"\nzones = [\"service.local\"]\n",
        );
        assert!(
            e.contains(
                "rest.listen: \"127.0.0.1:8080\" cannot be listened on beside admin.listen \
                 \"127.0.0.1:8080\" (the same address and port)"
            ),
            "{e}"
        );
        for fine in [
            "listen = [\"0.0.0.0:53\", \"[::]:53\"]\n",
            "listen = [\"0.0.0.0:53\", \"127.0.0.1:54\"]\n",
            "listen = [\"127.0.0.1:53\", \"127.0.0.2:53\"]\n",
            "listen = [\"[fe80::1%1]:53\"]\n",
            "listen = [\"[fe80::1%1]:53\", \"[fe80::1%2]:53\"]\n",
            "listen = [\"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        ] {
            assert!(parse(fine).is_ok(), "{fine}: {:?}", parse(fine).err());
        }
    }

    #[test]
    fn a_mapped_ipv4_network_in_an_allow_list_means_the_ipv4_one() {
        assert_eq!(
            parse_cidr("::ffff:127.0.0.0/104"),
            IpNet::from_str("127.0.0.0/8").ok()
        );
        assert_eq!(
            parse_cidr("::ffff:192.0.2.7"),
            IpNet::from_str("192.0.2.7/32").ok()
        );
        assert_eq!(parse_cidr("::1"), IpNet::from_str("::1/128").ok());
        assert_eq!(parse_cidr("::/0"), IpNet::from_str("::/0").ok());
    }

    #[test]
    fn bad_listen_names_file_line_and_key() {
        let e = err("zones_dir = \"z\"\n\n\nlisten = [\"127.0.0.1\"]\n");
        assert!(
            e.starts_with(
                "/etc/zw/zonewright.toml:4: listen: invalid socket address \"127.0.0.1\""
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err("listen = [\"127.0.0.1:53\"]\nlisen = 1\n");
        assert_eq!(e, "/etc/zw/zonewright.toml:2: lisen: unknown key `lisen`");
        let e = err("[server]\nudp_worker = 2\n");
        assert_eq!(
            e,
            "/etc/zw/zonewright.toml:2: server.udp_worker: unknown key `udp_worker`"
        );
    }

    #[test]
    fn wrong_type_names_key() {
        let e = err("[server]\ntcp_max_connections = \"many\"\n");
        assert!(
            e.starts_with("/etc/zw/zonewright.toml:2: server.tcp_max_connections: "),
            "{e}"
        );
        assert!(!e.contains("Spanned"), "{e}");
    }

    #[test]
    fn syntax_error_has_line() {
        let e = err("listen = [\n\"a\"\nzones_dir = \n");
        assert!(e.starts_with("/etc/zw/zonewright.toml:"), "{e}");
    }

    #[test]
    fn every_semantic_problem_is_listed() {
        let e = err(
            "listen = [\"x\"]\n[server]\ntcp_idle_timeout = \"soon\"\n[[zone]]\nname = \"a..b\"\n[[zone]]\nname = \"ok.\"\nallow_transfer = [\"10.0.0.0/33\"]\n",
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(lines[0].contains(":1: listen:"), "{e}");
        assert!(
            lines[1].contains(":3: server.tcp_idle_timeout: invalid duration"),
            "{e}"
        );
        assert!(
            lines[2].contains(":5: zone[1].name: invalid zone name"),
            "{e}"
        );
        assert!(lines[3].contains(":8: zone[2].allow_transfer:"), "{e}");
    }

    #[test]
    fn duplicate_zone_is_an_error() {
        let e = err("[[zone]]\nname = \"a.\"\n[[zone]]\nname = \"A\"\n");
        assert!(
            e.contains(":4: zone[2].name: zone a. is listed twice"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1d"), None);
    }

    #[test]
    fn out_of_range_counts() {
        let e = err("[server]\nudp_workers = 0\n");
        assert!(
            e.contains(":2: server.udp_workers: 0 is out of range"),
            "{e}"
        );
    }
}
