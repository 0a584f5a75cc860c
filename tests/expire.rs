//! `[acme] expire_after`: the sweep removes ACME challenge TXT records whose
//! line git says is older than that, through the store, as one commit per
//! zone (`Via: expiry`). Ages come from the repository, so the history is
//! written before the server starts: the server has never seen these
//! records being added, as after a restart.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestServer;
use common::update::{commit, git, run_bounded, served_txt, text};

const DAY: i64 = 86_400;

const EXAMPLE: &str = "$ORIGIN example.com.\n$TTL 300\n\
@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n\
@ IN NS ns1\n\
ns1 IN A 192.0.2.1\n\
; challenges a crashed client left behind\n\
_acme-challenge 60 IN TXT \"old-1\"\n\
_acme-challenge 60 IN TXT \"old-2\"\n\
_acme-challenge.www 60 IN TXT \"old-www\"\n\
info IN TXT \"old, but not a challenge\"\n\
_acme-challenge.shop IN CNAME shop.auth.example.net.\n";

const AUTH: &str = "$ORIGIN auth.example.net.\n$TTL 300\n\
@ IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n\
@ IN NS ns1\n\
ns1 IN A 192.0.2.2\n\
shop 60 IN TXT \"old-delegated\"\n\
other 60 IN TXT \"old, not delegated\"\n";

/// The fresh challenge, added after the old history.
const FRESH: &str = "_acme-challenge 60 IN TXT \"fresh\"\n";

/// Commits everything in `dir` as the fixture, dated `when` (Unix time).
fn commit_at(dir: &Path, message: &str, when: i64) {
    git(dir, &["add", "-A"]);
    let date = format!("@{when} +0000");
    let o = run_bounded(
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=fixture", "-c", "user.email=fixture@test"])
            .args(["commit", "-q", "-m", message])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date),
        "",
        Duration::from_secs(20),
    );
    assert!(o.status.success(), "git commit: {}", text(&o));
}

/// Two days of history: the zones as they were, then one fresh challenge
/// committed a minute ago.
fn history(zones: &Path) {
    git(zones, &["init", "-q"]);
    let now = chrono::Utc::now().timestamp();
    commit_at(zones, "zones as they were", now - 2 * DAY);
    let path = zones.join("example.com.zone");
    let mut text = std::fs::read_to_string(&path).expect("zone");
    text.push_str(FRESH);
    std::fs::write(&path, text).expect("write");
    commit_at(zones, "a challenge in progress", now - 60);
}

fn start() -> TestServer {
    TestServer::start_prepared(
        &[
            ("example.com.zone", EXAMPLE),
            ("auth.example.net.zone", AUTH),
        ],
        "[acme]\nexpire_after = \"24h\"\n",
        history,
    )
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

#[test]
fn stale_challenges_are_removed_by_their_age_in_git() {
    let s = start();
    let zones = s.zones_dir();

    assert_eq!(
        wait_txt(&s, "_acme-challenge.example.com.", &["fresh"]),
        ["fresh"]
    );
    assert_eq!(
        wait_txt(&s, "_acme-challenge.www.example.com.", &[]),
        [] as [&str; 0]
    );
    // The delegated pattern: the target of an _acme-challenge CNAME.
    assert_eq!(wait_txt(&s, "shop.auth.example.net.", &[]), [] as [&str; 0]);
    // Old TXT records that are not challenges stay.
    assert_eq!(
        served_txt(s.addr, "info.example.com."),
        ["old, but not a challenge"]
    );
    assert_eq!(
        served_txt(s.addr, "other.auth.example.net."),
        ["old, not delegated"]
    );

    // One commit per zone, saying why, by the sweep, with no client.
    let log = git(&zones, &["log", "--format=%s", "--", "example.com.zone"]);
    let sweeps: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("expire stale ACME challenges"))
        .collect();
    assert_eq!(sweeps.len(), 1, "one sweep commit for example.com:\n{log}");
    assert!(
        sweeps[0].starts_with("example.com: expire stale ACME challenges: -3 TXT"),
        "{}",
        sweeps[0]
    );
    let c = commit(&zones, "HEAD");
    let both = git(&zones, &["log", "-2", "--format=%s%n%b%n%an"]);
    assert!(
        both.matches("expire stale ACME challenges").count() == 2,
        "the last two commits are the two zones' sweeps:\n{both}"
    );
    assert_eq!(c.author_name, "acme-expiry");
    assert_eq!(c.trailer("Via").as_deref(), Some("expiry"));
    assert_eq!(c.trailer("Client"), None);

    // Only the removed lines and the serial changed.
    let now = std::fs::read_to_string(zones.join("example.com.zone")).expect("zone");
    let before = format!("{EXAMPLE}{FRESH}");
    let kept: Vec<&str> = before
        .lines()
        .filter(|l| !l.contains("\"old-") && !l.contains("SOA"))
        .collect();
    let after: Vec<&str> = now.lines().filter(|l| !l.contains("SOA")).collect();
    assert_eq!(after, kept);
}

#[test]
fn nothing_to_expire_commits_nothing() {
    // Same history, but the limit is longer than the oldest record's age.
    let s = TestServer::start_prepared(
        &[
            ("example.com.zone", EXAMPLE),
            ("auth.example.net.zone", AUTH),
        ],
        "[acme]\nexpire_after = \"72h\"\nsweep_interval = \"1s\"\n",
        history,
    );
    let zones = s.zones_dir();
    let head = git(&zones, &["rev-parse", "HEAD"]);
    // Several sweeps run (one per second); none may write.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(git(&zones, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        served_txt(s.addr, "_acme-challenge.example.com."),
        ["fresh", "old-1", "old-2"]
    );
}
