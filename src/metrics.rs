//! The counters the admin listener's `/metrics` serves (Prometheus text
//! format, through the `prometheus-client` crate).
//!
//! # Design
//!
//! ```text
//!  edges and the store ──count/observe (lock-free read path)──► Metrics
//!                          (one per server, held by served::State)
//!  GET /metrics ──► Metrics::encode(gauges read now: zone serials,
//!                   secondaries, git health) ──► text
//! ```
//!
//! Names follow CoreDNS's and knot_exporter's style
//! (`zonewright_dns_requests_total{zone,type,proto}`). Every label set is
//! bounded by the configuration, never by what a client sends: `zone` is a
//! served zone or `""`, `key` a configured key or `"unknown"`, `type` a
//! known RR type mnemonic or `"other"`, `target` a configured `notify`
//! entry; no client addresses.
//!
//! One instance per server (not a global) so that tests running several
//! servers in one process read each server's own counts.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod hot;
use hot::AnswerTimes;

/// How a DNS request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn label(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// A step of the write path, for `zonewright_write_duration_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the zone's turn (queued behind other writes).
    Queue,
    /// Reading the zone as it is and computing the change.
    Compute,
    /// Editing the document and checking the result.
    Edit,
    /// Writing the new file beside the old one, fsync included.
    Write,
    /// Rename over the zone file, directory fsync, publish.
    Install,
    /// From the hand-over to the committer until git has the commit.
    Commit,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Queue => "queue",
            Phase::Compute => "compute",
            Phase::Edit => "edit",
            Phase::Write => "write",
            Phase::Install => "install",
            Phase::Commit => "commit",
        }
    }
}

/// What happened to one NOTIFY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyEvent {
    Sent,
    Acknowledged,
    Failed,
}

/// A label value shared rather than copied (a zone's name, per query).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Shared(Arc<str>);

impl EncodeLabelValue for Shared {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    zone: Shared,
    r#type: &'static str,
    proto: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RcodeLabels {
    zone: Shared,
    rcode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtoLabels {
    proto: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpdateLabels {
    zone: String,
    key: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    zone: String,
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    zone: String,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RestLabels {
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    zone: String,
}

type Timings<L> = Family<L, Histogram, fn() -> Histogram>;

fn answer_buckets() -> AnswerTimes {
    // 25 µs .. ~0.8 s
    AnswerTimes::new(exponential_buckets(0.000_025, 2.0, 16))
}

fn write_buckets() -> Histogram {
    // 50 µs .. ~3.3 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

/// The gauges read at scrape time, from whoever holds the values.
#[derive(Default)]
pub struct Gauges {
    /// (zone, serial) of every served zone.
    pub zones: Vec<(String, u32)>,
    /// (zone, target, serial it serves if known, lag in seconds).
    pub secondaries: Vec<(String, String, Option<u32>, f64)>,
    /// Commits made and commits git refused, since start.
    pub commits: (u64, u64),
    /// Whether git takes commits now.
    pub git_usable: bool,
}

/// Every counter of one server. Cheap to share (`Arc`); counting takes no
/// lock but the family map's read lock.
pub struct Metrics {
    registry: Registry,
    dns_requests: Family<QueryLabels, Counter>,
    dns_responses: Family<RcodeLabels, Counter>,
    dns_duration: Family<ProtoLabels, AnswerTimes, fn() -> AnswerTimes>,
    /// `dns_duration`'s two histograms, made on first use (so a transport
    /// never used is not listed).
    answer_times: [std::sync::OnceLock<AnswerTimes>; 2],
    /// Tells this instance's entries apart in the per-thread query
    /// counter caches (see `hot`).
    id: u64,
    updates: Family<UpdateLabels, Counter>,
    write_duration: Timings<PhaseLabels>,
    reloads: Family<ResultLabels, Counter>,
    transfers: Family<TransferLabels, Counter>,
    notify_sent: Family<TargetLabels, Counter>,
    notify_acknowledged: Family<TargetLabels, Counter>,
    notify_failed: Family<TargetLabels, Counter>,
    confirm_timeouts: Family<ZoneLabels, Counter>,
    config_reloads: Family<ResultLabels, Counter>,
    rest_requests: Family<RestLabels, Counter>,
    /// Set from [`Gauges`] at each scrape (so zones that went away vanish).
    zone_serial: Family<ZoneLabels, Gauge>,
    secondary_serial: Family<TargetLabels, Gauge>,
    secondary_lag: Family<TargetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    git_commits: Counter,
    git_failures: Counter,
    git_usable: Gauge,
    git_pulls: Family<ResultLabels, Counter>,
    git_pushes: Family<ResultLabels, Counter>,
    git_unpushed: Gauge,
    git_unpushed_age: Gauge,
    /// One scrape at a time (the gauges are rebuilt for each).
    scrape: Mutex<()>,
    /// The `zone` label of queries outside every served zone: "".
    no_zone: Arc<str>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("zonewright"),
            dns_requests: Family::default(),
            dns_responses: Family::default(),
            dns_duration: Family::new_with_constructor(answer_buckets),
            answer_times: Default::default(),
            id: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            updates: Family::default(),
            write_duration: Family::new_with_constructor(write_buckets),
            reloads: Family::default(),
            transfers: Family::default(),
            notify_sent: Family::default(),
            notify_acknowledged: Family::default(),
            notify_failed: Family::default(),
            confirm_timeouts: Family::default(),
            config_reloads: Family::default(),
            rest_requests: Family::default(),
            zone_serial: Family::default(),
            secondary_serial: Family::default(),
            secondary_lag: Family::default(),
            git_commits: Counter::default(),
            git_failures: Counter::default(),
            git_usable: Gauge::default(),
            git_pulls: Family::default(),
            git_pushes: Family::default(),
            git_unpushed: Gauge::default(),
            git_unpushed_age: Gauge::default(),
            scrape: Mutex::new(()),
            no_zone: Arc::from(""),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "dns_requests",
            "DNS requests answered (every opcode but UPDATE), by zone (\"\" when none of ours), query type and transport",
            self.dns_requests.clone(),
        );
        r.register(
            "dns_responses",
            "DNS answers to those requests, by zone and RCODE",
            self.dns_responses.clone(),
        );
        r.register(
            "dns_request_duration_seconds",
            "Time from a request's arrival to its answer (the requests dns_requests counts), by transport",
            self.dns_duration.clone(),
        );
        r.register(
            "dns_updates",
            "RFC 2136 UPDATEs by zone (\"\" when not served or not read), key (\"unknown\" when \
             not configured) and result (an RCODE, or the TSIG error that rejected it)",
            self.updates.clone(),
        );
        r.register(
            "write_duration_seconds",
            "Time each phase of a write takes (UPDATE, REST, expiry)",
            self.write_duration.clone(),
        );
        r.register(
            "reloads",
            "Passes over the zone files, by result (ok, or failed when a zone did not load)",
            self.reloads.clone(),
        );
        r.register(
            "transfers",
            "AXFR and IXFR requests by zone, kind (axfr, ixfr) and result (full, incremental, \
             soa, refused)",
            self.transfers.clone(),
        );
        r.register(
            "notify_sent",
            "NOTIFY messages sent, retransmissions included, by zone and target",
            self.notify_sent.clone(),
        );
        r.register(
            "notify_acknowledged",
            "Serials a NOTIFY target acknowledged, by zone and target",
            self.notify_acknowledged.clone(),
        );
        r.register(
            "notify_failed",
            "Serials a NOTIFY target never acknowledged, by zone and target",
            self.notify_failed.clone(),
        );
        r.register(
            "confirm_timeouts",
            "Writes answered after confirm_timeout without enough secondaries serving them",
            self.confirm_timeouts.clone(),
        );
        r.register(
            "config_reloads",
            "Config reloads (SIGHUP) by result: ok, or refused (the file had problems)",
            self.config_reloads.clone(),
        );
        r.register(
            "rest_requests",
            "REST API requests by route and HTTP status",
            self.rest_requests.clone(),
        );
        r.register(
            "zone_serial",
            "The SOA serial each zone is served with",
            self.zone_serial.clone(),
        );
        r.register(
            "secondary_serial",
            "The serial each NOTIFY target last answered for the zone's SOA",
            self.secondary_serial.clone(),
        );
        r.register(
            "secondary_lag_seconds",
            "How long the target has lacked the zone's current serial (0 when it serves it)",
            self.secondary_lag.clone(),
        );
        r.register(
            "git_commits",
            "Commits the server made",
            self.git_commits.clone(),
        );
        r.register(
            "git_commit_failures",
            "Commits git refused",
            self.git_failures.clone(),
        );
        r.register(
            "git_usable",
            "1 while git takes commits, 0 while the repository refuses them",
            self.git_usable.clone(),
        );
        r.register(
            "git_pulls",
            "Pulls from [git] remote, by result: merged, up_to_date, not_merged (a zone or file \
             the remote broke; retried), failed (fetch or git error)",
            self.git_pulls.clone(),
        );
        r.register(
            "git_pushes",
            "Pushes to [git] remote, by result: pushed, failed",
            self.git_pushes.clone(),
        );
        r.register(
            "git_unpushed_commits",
            "Commits not on [git] remote's branch yet, as of the last push attempt",
            self.git_unpushed.clone(),
        );
        r.register(
            "git_unpushed_age_seconds",
            "Age of the oldest commit not on [git] remote's branch, as of the last push attempt",
            self.git_unpushed_age.clone(),
        );
    }

    /// A pull's result (a fixed set of labels).
    pub fn git_pull(&self, result: &'static str) {
        self.git_pulls.get_or_create(&ResultLabels { result }).inc();
    }

    /// A push's result, and what was left unpushed (commits, oldest age).
    pub fn git_push(&self, result: &'static str, unpushed: (u64, u64)) {
        if !result.is_empty() {
            self.git_pushes
                .get_or_create(&ResultLabels { result })
                .inc();
        }
        self.git_unpushed
            .set(i64::try_from(unpushed.0).unwrap_or(i64::MAX));
        self.git_unpushed_age
            .set(i64::try_from(unpushed.1).unwrap_or(i64::MAX));
    }

    /// One query answered: `zone` is the served zone it fell in ("" for
    /// none), `qtype` its type. Lock-free once this thread has counted the
    /// same labels before (see `hot`).
    pub fn query(&self, zone: Option<&Arc<str>>, qtype: u16, proto: Proto, rcode: u16) {
        let zone = zone.unwrap_or(&self.no_zone);
        let key = (
            self.id,
            Arc::as_ptr(zone).cast::<u8>() as usize,
            qtype,
            proto as u8,
            rcode,
        );
        hot::count_query(key, zone, || {
            let requests = self
                .dns_requests
                .get_or_create(&QueryLabels {
                    zone: Shared(zone.clone()),
                    r#type: type_label(qtype),
                    proto: proto.label(),
                })
                .clone();
            let responses = self
                .dns_responses
                .get_or_create(&RcodeLabels {
                    zone: Shared(zone.clone()),
                    rcode: rcode_label(rcode),
                })
                .clone();
            (requests, responses)
        });
    }

    /// How long a request took, arrival to answer.
    pub fn answered(&self, proto: Proto, took: Duration) {
        let Some(slot) = self.answer_times.get(proto as usize) else {
            return;
        };
        slot.get_or_init(|| {
            self.dns_duration
                .get_or_create(&ProtoLabels {
                    proto: proto.label(),
                })
                .clone()
        })
        .observe(took);
    }

    /// One UPDATE's outcome. `result` is a label from [`rcode_label`] or a
    /// TSIG error name; the caller makes sure `zone` is served and `key`
    /// configured (else "" / "unknown").
    pub fn update(&self, zone: &str, key: &str, result: &'static str) {
        self.updates
            .get_or_create(&UpdateLabels {
                zone: zone.to_owned(),
                key: key.to_owned(),
                result,
            })
            .inc();
    }

    pub fn write_phase(&self, phase: Phase, took: Duration) {
        self.write_duration
            .get_or_create(&PhaseLabels {
                phase: phase.label(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// `kind`: "axfr" or "ixfr"; `result`: "full", "incremental", "soa" or
    /// "refused". `zone` must be served ("" otherwise).
    pub fn transfer(&self, zone: &str, kind: &'static str, result: &'static str) {
        self.transfers
            .get_or_create(&TransferLabels {
                zone: zone.to_owned(),
                kind,
                result,
            })
            .inc();
    }

    pub fn notify(&self, zone: &str, target: &str, event: NotifyEvent) {
        let labels = TargetLabels {
            zone: zone.to_owned(),
            target: target.to_owned(),
        };
        let family = match event {
            NotifyEvent::Sent => &self.notify_sent,
            NotifyEvent::Acknowledged => &self.notify_acknowledged,
            NotifyEvent::Failed => &self.notify_failed,
        };
        family.get_or_create(&labels).inc();
    }

    /// A config reload: applied, or refused for the file's problems.
    pub fn config_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.config_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// A write answered after `confirm_timeout` without enough secondaries.
    pub fn confirm_timeout(&self, zone: &str) {
        self.confirm_timeouts
            .get_or_create(&ZoneLabels {
                zone: zone.to_owned(),
            })
            .inc();
    }

    /// One REST request: `route` is the route's pattern (never the path
    /// asked for), `status` the HTTP status code.
    pub fn rest(&self, route: &str, status: u16) {
        self.rest_requests
            .get_or_create(&RestLabels {
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
    }

    /// The text `/metrics` serves, with `gauges` read now.
    pub fn encode(&self, gauges: &Gauges) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.zone_serial.clear();
        for (zone, serial) in &gauges.zones {
            self.zone_serial
                .get_or_create(&ZoneLabels { zone: zone.clone() })
                .set(i64::from(*serial));
        }
        self.secondary_serial.clear();
        self.secondary_lag.clear();
        for (zone, target, serial, lag) in &gauges.secondaries {
            let labels = TargetLabels {
                zone: zone.clone(),
                target: target.clone(),
            };
            if let Some(s) = serial {
                self.secondary_serial
                    .get_or_create(&labels)
                    .set(i64::from(*s));
            }
            self.secondary_lag.get_or_create(&labels).set(*lag);
        }
        let (made, failed) = gauges.commits;
        // Counters only go up: bring them to the committer's totals.
        let had = self.git_commits.get();
        self.git_commits.inc_by(made.saturating_sub(had));
        let had = self.git_failures.get();
        self.git_failures.inc_by(failed.saturating_sub(had));
        self.git_usable.set(i64::from(gauges.git_usable));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            let _ = writeln!(out, "# encoding failed");
        }
        out
    }
}

/// The `type` label: the mnemonic of a common type, else "other" (a client
/// choosing the type must not grow the label set).
pub fn type_label(qtype: u16) -> &'static str {
    match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        43 => "DS",
        44 => "SSHFP",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => "other",
    }
}

/// The `rcode` label: RFC 6895 mnemonics (extended RCODEs included).
pub fn rcode_label(rcode: u16) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_appear_once_counted_and_labels_stay_bounded() {
        let m = Metrics::new();
        m.query(Some(&Arc::from("example.com.")), 1, Proto::Udp, 0);
        m.query(None, 65_000, Proto::Tcp, 5);
        m.update("example.com.", "acme-key", "NOERROR");
        m.notify("example.com.", "127.0.0.1:5300", NotifyEvent::Sent);
        let text = m.encode(&Gauges {
            zones: vec![("example.com.".into(), 2026120501)],
            secondaries: vec![(
                "example.com.".into(),
                "127.0.0.1:5300".into(),
                Some(2026120500),
                3.5,
            )],
            commits: (4, 1),
            git_usable: true,
        });
        for line in [
            r#"zonewright_dns_requests_total{zone="example.com.",type="A",proto="udp"} 1"#,
            r#"zonewright_dns_requests_total{zone="",type="other",proto="tcp"} 1"#,
            r#"zonewright_dns_responses_total{zone="",rcode="REFUSED"} 1"#,
            r#"zonewright_dns_updates_total{zone="example.com.",key="acme-key",result="NOERROR"} 1"#,
            r#"zonewright_notify_sent_total{zone="example.com.",target="127.0.0.1:5300"} 1"#,
            r#"zonewright_zone_serial{zone="example.com."} 2026120501"#,
            r#"zonewright_secondary_serial{zone="example.com.",target="127.0.0.1:5300"} 2026120500"#,
            r#"zonewright_secondary_lag_seconds{zone="example.com.",target="127.0.0.1:5300"} 3.5"#,
            "zonewright_git_commits_total 4",
            "zonewright_git_commit_failures_total 1",
            "zonewright_git_usable 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // Counted again through this thread's cache: each once more, and
        // another server's metrics in the same thread count apart.
        let zone: Arc<str> = Arc::from("example.com.");
        let other = Metrics::new();
        for _ in 0..3 {
            m.query(Some(&zone), 1, Proto::Udp, 0);
        }
        other.query(Some(&zone), 1, Proto::Udp, 0);
        m.answered(Proto::Udp, Duration::from_micros(30));
        let text = m.encode(&Gauges::default());
        for line in [
            r#"zonewright_dns_requests_total{zone="example.com.",type="A",proto="udp"} 4"#,
            r#"zonewright_dns_responses_total{zone="example.com.",rcode="NOERROR"} 4"#,
            r#"zonewright_dns_request_duration_seconds_count{proto="udp"} 1"#,
            r#"zonewright_dns_request_duration_seconds_bucket{le="0.00005",proto="udp"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        let text = other.encode(&Gauges::default());
        assert!(
            text.contains(
                r#"zonewright_dns_requests_total{zone="example.com.",type="A",proto="udp"} 1"#
            ),
            "{text}"
        );
        // A zone gone from the gauges is gone from the next scrape.
        let text = m.encode(&Gauges::default());
        assert!(!text.contains("zonewright_zone_serial{"), "{text}");
        assert!(text.contains("zonewright_git_commits_total 4"), "{text}");
    }
}
