//! `[acme] expire_after`: the sweep removes ACME challenge TXT records that
//! a key or token wrote through a dynamic writer (RFC 2136 UPDATE, REST)
//! within its grants, once git says their line is older than that, through
//! the store, as one commit per zone (`Via: expiry`). Records a person
//! wrote are never swept, and a key cannot point the sweep at records
//! outside its grants (issue 11 item 3, design invariant 6).
//!
//! The history is made as users make it: zone files committed by hand, then
//! real UPDATEs (ISC nsupdate, TSIG-signed) through the running server.
//! The server is then stopped, every commit is back-dated two days
//! (`git filter-branch`), and the server starts again: its start-up sweep
//! has never seen these records being added, as after a restart.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestServer;
use common::update::{
    SECRET_SHA256, commit, git, nsupdate, run_bounded, served_txt, tcp_at, text, update_script,
    wait_committed,
};
use hickory_proto::rr::RecordType;

const DAY: i64 = 86_400;

const EXAMPLE_FILE: &str = "example.com.zone";
const EXAMPLE: &str = "$ORIGIN example.com.\n$TTL 300\n\
@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n\
@ IN NS ns1\n\
@ IN TXT \"google-site-verification=by-hand\"\n\
ns1 IN A 192.0.2.1\n\
; a challenge someone wrote by hand and never removed\n\
_acme-challenge.old 60 IN TXT \"hand-written\"\n\
; a challenge TXT by hand, whose TTL a key's add at the same name rewrites\n\
_acme-challenge.mixed 300 IN TXT \"hand-mixed\"\n\
; the operator's delegation of shop's challenges (lego follows it)\n\
_acme-challenge.shop 60 IN CNAME shop.acme.example.net.\n\
info IN TXT \"old, but not a challenge\"\n";

const AUTH_FILE: &str = "auth.example.com.zone";
const AUTH: &str = "$ORIGIN auth.example.com.\n$TTL 300\n\
@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n\
@ IN NS ns1\n\
ns1 IN A 192.0.2.2\n";

const DELEGATE_FILE: &str = "acme.example.net.zone";
const DELEGATE: &str = "$ORIGIN acme.example.net.\n$TTL 300\n\
@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n\
@ IN NS ns1\n\
ns1 IN A 192.0.2.3\n\
other 60 IN TXT \"by hand, not delegated\"\n";

/// The keys, each with what it may write:
/// - `acme-key`: TXT at example.com's challenge names (certbot's setup);
/// - `auth-key`: anything in auth.example.com, and nothing else (the
///   attacker of issue 11 item 3);
/// - `site-key`: TXT at example.com's apex (SPF);
/// - `lego-key`: the delegation CNAME at `_acme-challenge.www.example.com`
///   and TXT in acme.example.net (lego following the CNAME).
const KEYS: [(&str, &str, &str); 4] = [
    (
        "acme-key",
        SECRET_SHA256,
        r#"[ { zone = "example.com", names = ["_acme-challenge", "_acme-challenge.**"], types = ["TXT"] } ]"#,
    ),
    (
        "auth-key",
        "YXV0aC1rZXktc2VjcmV0LWZvci10aGUtc3dlZXAtdGU=",
        r#"[ { zone = "auth.example.com", names = ["@", "**"], types = ["*"] } ]"#,
    ),
    (
        "site-key",
        "c2l0ZS1rZXktc2VjcmV0LWZvci10aGUtc3dlZXAtdGU=",
        r#"[ { zone = "example.com", names = ["@"], types = ["TXT"] } ]"#,
    ),
    (
        "lego-key",
        "bGVnby1rZXktc2VjcmV0LWZvci10aGUtc3dlZXAtdGU=",
        r#"[ { zone = "example.com", names = ["_acme-challenge.www"], types = ["CNAME"] },
    { zone = "acme.example.net", names = ["**"], types = ["TXT"] } ]"#,
    ),
];

/// The config, with `acme` as the `[acme]` table's body.
fn config(acme: &str) -> String {
    let mut c =
        format!("[git]\nname = \"zonewright\"\nemail = \"zonewright@test\"\n[acme]\n{acme}");
    for (name, secret, grant) in KEYS {
        c.push_str(&format!(
            "[[key]]\nname = \"{name}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n\
             rate_limit = \"off\"\ngrant = {grant}\n"
        ));
    }
    c
}

/// Commits everything in `dir` as a person would, dated `when` (Unix time).
fn commit_at(dir: &Path, message: &str, when: i64) {
    git(dir, &["add", "-A"]);
    let date = format!("@{when} +0000");
    let o = run_bounded(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=alice", "-c", "user.email=alice@test"])
            .args(["commit", "-q", "-m", message])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date),
        "",
        Duration::from_secs(20),
    );
    assert!(o.status.success(), "git commit: {}", text(&o));
}

/// Dates every commit of `dir` (author and committer) at `when`.
fn back_date(dir: &Path, when: i64) {
    let filter =
        format!("export GIT_AUTHOR_DATE='@{when} +0000' GIT_COMMITTER_DATE='@{when} +0000'");
    let o = run_bounded(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "filter-branch",
                "-f",
                "--env-filter",
                &filter,
                "--",
                "--all",
            ])
            .env("FILTER_BRANCH_SQUELCH_WARNING", "1"),
        "",
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "git filter-branch: {}", text(&o));
}

/// One UPDATE to `zone` signed with `key`, which must be answered NOERROR.
fn update(s: &TestServer, key: &str, zone: &str, lines: &[&str]) {
    let (_, secret, _) = KEYS
        .iter()
        .find(|(k, _, _)| *k == key)
        .expect("a key of KEYS");
    let y = format!("hmac-sha256:{key}:{secret}");
    let o = nsupdate(
        &["-y", &y],
        false,
        &update_script(s.addr.port(), Some(zone), lines),
    );
    assert!(o.status.success(), "nsupdate as {key}: {}", text(&o));
}

/// Waits (bounded) until `name` serves exactly `want`.
fn wait_txt(s: &TestServer, name: &str, want: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = served_txt(s.addr, name);
        if got == want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `name` has a CNAME answer.
fn has_cname(s: &TestServer, name: &str) -> bool {
    let resp = tcp_at(s.addr, &common::query(name, RecordType::CNAME)).expect("TCP answer");
    resp.answers
        .iter()
        .any(|r| r.record_type() == RecordType::CNAME)
}

/// The scenario of every test here, as a user's zones would have it two
/// days later, with the server restarted over it (its start-up sweep run
/// or running). Returns the server and the example.com zone file as it was
/// before the restart.
fn two_days_later(acme: &str) -> (TestServer, String) {
    let s = TestServer::start_prepared(
        &[
            (EXAMPLE_FILE, EXAMPLE),
            (AUTH_FILE, AUTH),
            (DELEGATE_FILE, DELEGATE),
        ],
        &config(acme),
        |zones| {
            git(zones, &["init", "-q"]);
            commit_at(zones, "zones as they were", chrono::Utc::now().timestamp());
        },
    );
    // site-key publishes the SPF record at the apex.
    update(
        &s,
        "site-key",
        "example.com",
        &["update add example.com. 300 TXT \"v=spf1 -all\""],
    );
    // Issue 11 item 3: a key granted only auth.example.com points a
    // challenge CNAME at example.com's apex.
    update(
        &s,
        "auth-key",
        "auth.example.com",
        &["update add _acme-challenge.evil.auth.example.com. 60 CNAME example.com."],
    );
    // A client that crashed before cleaning up its challenge.
    update(
        &s,
        "acme-key",
        "example.com",
        &["update add _acme-challenge.example.com. 60 TXT \"left-by-acme-key\""],
    );
    // A key's token beside the hand-written one: one TTL per RRset (RFC
    // 2181 §5.2), so this commit rewrites the hand line's TTL to 60 too.
    update(
        &s,
        "acme-key",
        "example.com",
        &["update add _acme-challenge.mixed.example.com. 60 TXT \"left-by-acme-key-mixed\""],
    );
    // lego: the delegation CNAME, then the token at its target.
    update(
        &s,
        "lego-key",
        "example.com",
        &["update add _acme-challenge.www.example.com. 60 CNAME www.acme.example.net."],
    );
    update(
        &s,
        "lego-key",
        "acme.example.net",
        &["update add www.acme.example.net. 60 TXT \"left-by-lego-key\""],
    );
    // lego through the CNAME the operator wrote by hand.
    update(
        &s,
        "lego-key",
        "acme.example.net",
        &["update add shop.acme.example.net. 60 TXT \"left-through-hand-cname\""],
    );
    let zones = s.zones_dir();
    for f in [EXAMPLE_FILE, AUTH_FILE, DELEGATE_FILE] {
        wait_committed(&zones, f);
    }
    assert!(has_cname(&s, "_acme-challenge.evil.auth.example.com."));
    let before = std::fs::read_to_string(zones.join(EXAMPLE_FILE)).expect("zone");
    let when = chrono::Utc::now().timestamp() - 2 * DAY;
    let s = s.restart_prepared(|zones| back_date(zones, when));
    (s, before)
}

/// The server after its start-up sweep has removed the two records that
/// are its to remove (the same sweep, one commit per zone, would have
/// removed anything else it meant to).
fn swept() -> (TestServer, String) {
    let (s, before) = two_days_later("expire_after = \"24h\"\n");
    assert_eq!(
        wait_txt(&s, "_acme-challenge.example.com.", &[]),
        [] as [&str; 0],
        "acme-key's stale challenge is swept"
    );
    assert_eq!(
        wait_txt(&s, "_acme-challenge.mixed.example.com.", &["hand-mixed"]),
        ["hand-mixed"],
        "acme-key's token is swept; the hand-written one its write re-TTLed is kept"
    );
    assert_eq!(
        wait_txt(&s, "www.acme.example.net.", &[]),
        [] as [&str; 0],
        "lego-key's stale delegated challenge is swept"
    );
    assert_eq!(
        wait_txt(&s, "shop.acme.example.net.", &[]),
        [] as [&str; 0],
        "a stale challenge at the target of the operator's CNAME is swept"
    );
    (s, before)
}

#[test]
fn a_key_cannot_point_the_sweep_at_records_outside_its_grants() {
    let (s, _) = swept();
    // example.com's apex TXT stays, whoever wrote it: auth-key may write
    // nothing in example.com, so its CNAME designates nothing there.
    assert_eq!(
        served_txt(s.addr, "example.com."),
        ["google-site-verification=by-hand", "v=spf1 -all"]
    );
    // The sweep never removes the CNAME itself either.
    assert!(has_cname(&s, "_acme-challenge.evil.auth.example.com."));
}

#[test]
fn a_hand_written_stale_challenge_is_kept() {
    let (s, _) = swept();
    assert_eq!(
        served_txt(s.addr, "_acme-challenge.old.example.com."),
        ["hand-written"]
    );
    assert_eq!(
        served_txt(s.addr, "info.example.com."),
        ["old, but not a challenge"]
    );
    assert_eq!(
        served_txt(s.addr, "other.acme.example.net."),
        ["by hand, not delegated"]
    );
}

#[test]
fn challenges_keys_wrote_by_update_are_swept_by_their_age_in_git() {
    let (s, before) = swept();
    let zones = s.zones_dir();
    // The delegated pattern: lego-key wrote the CNAME and its target's TXT;
    // the TXT went, the CNAME (not a challenge token) stays.
    assert!(has_cname(&s, "_acme-challenge.www.example.com."));

    // One commit per zone that had something to sweep, saying why, by the
    // sweep, with no client; none for auth.example.com.
    let sweeps = |file: &str| -> Vec<String> {
        git(&zones, &["log", "--format=%s", "--", file])
            .lines()
            .filter(|l| l.contains("expire stale ACME challenges"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        sweeps(EXAMPLE_FILE),
        [format!(
            "example.com: expire stale ACME challenges: -2 TXT _acme-challenge.mixed.example.com \
             _acme-challenge.example.com, serial {}",
            soa_serial(&zones.join(EXAMPLE_FILE))
        )]
    );
    assert_eq!(sweeps(DELEGATE_FILE).len(), 1);
    assert!(sweeps(AUTH_FILE).is_empty());
    let c = commit(&zones, "HEAD");
    assert_eq!(c.author_name, "acme-expiry");
    assert_eq!(c.trailer("Via").as_deref(), Some("expiry"));
    assert_eq!(c.trailer("Client"), None);

    // Only the removed line and the serial changed.
    let now = std::fs::read_to_string(zones.join(EXAMPLE_FILE)).expect("zone");
    let kept: Vec<&str> = before
        .lines()
        .filter(|l| !l.contains("left-by-acme-key") && !l.contains("SOA"))
        .collect();
    let after: Vec<&str> = now.lines().filter(|l| !l.contains("SOA")).collect();
    assert_eq!(after, kept);
}

/// The serial in a zone file's one-line SOA.
fn soa_serial(file: &Path) -> u32 {
    let text = std::fs::read_to_string(file).expect("zone");
    let soa = text
        .lines()
        .find(|l| l.contains(" SOA "))
        .expect("SOA line");
    soa.split_whitespace()
        .nth(5)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no serial in {soa:?}"))
}

#[test]
fn nothing_to_expire_commits_nothing() {
    // The same history, but the limit is longer than the oldest record's
    // age: several sweeps run (one per second); none may write.
    let (s, _) = two_days_later("expire_after = \"72h\"\nsweep_interval = \"1s\"\n");
    let zones = s.zones_dir();
    let head = git(&zones, &["rev-parse", "HEAD"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(git(&zones, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        served_txt(s.addr, "_acme-challenge.example.com."),
        ["left-by-acme-key"]
    );
    assert_eq!(
        served_txt(s.addr, "www.acme.example.net."),
        ["left-by-lego-key"]
    );
    assert_eq!(
        served_txt(s.addr, "shop.acme.example.net."),
        ["left-through-hand-cname"]
    );
}
