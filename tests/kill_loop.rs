//! Issue 12 item 2: crash leftovers are cleaned up, and nothing answered is
//! lost or relabelled, over 30 kills.
//!
//! # Design
//!
//! The binary runs as a child process (`common::update::Proc`) over a
//! zones directory that is not yet a git repository. Each of [`KILLS`]
//! rounds:
//!
//! 1. the first write after the (re)start: one signed UPDATE over TCP,
//!    which must be answered NOERROR; then no `*.lock` file may be left
//!    under `.git` (a lock a killed git left behind would fail every
//!    commit) and `git status` must be clean for the zone file;
//! 2. every value answered NOERROR so far, in every round, is in the zone
//!    file, served, in HEAD's version of the file, and listed in a commit
//!    of HEAD's history authored by the key that sent it, not swept into
//!    an `external change` commit at start-up;
//! 3. two writers (one over UDP, one over TCP, the four keys in turn) send
//!    signed TXT adds back to back, and after a random 20-400 ms the
//!    server is killed with SIGKILL (by its PID); every value answered
//!    NOERROR is then in the file on disk; the server is started again on
//!    the same directory.
//!
//! The checks run once more after the last restart. A refusal (SERVFAIL
//! when a commit fails) counts as a problem too: after a restart, writes
//! must be committed. All rounds run and the test fails at the end with
//! every problem found (`KILL_LOOP_KEEP=1` keeps a copy of the directory,
//! server logs included). The kill delays come from a seed printed at the
//! start (`KILL_LOOP_SEED=<n>` replays them; where in a write each kill
//! lands still varies with timing). Every wait is bounded; the whole test
//! stops at [`TEST_LIMIT`].

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::storm::{self, Answer, NoAnswer};
use common::update::*;

const KILLS: usize = 30;
/// A liveness bound on the whole test, far above its usual duration.
const TEST_LIMIT: Duration = Duration::from_secs(300);
/// How long a writer waits for one answer.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// xorshift64*: the test's only randomness, from a printed seed.
struct Rng(u64);

impl Rng {
    fn seeded() -> (Rng, u64) {
        let seed = std::env::var("KILL_LOOP_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        (Rng(seed | 1), seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn owner(round: usize) -> String {
    format!("_acme-challenge.k{round}.example.com.")
}

/// What the writers of one round saw.
#[derive(Default)]
struct Seen {
    /// Value -> key, for every answer NOERROR.
    acked: BTreeMap<String, &'static str>,
    /// Answers other than NOERROR (there should be none).
    refused: Vec<(String, Answer)>,
    /// Requests with no answer (expected only around the kill).
    lost: usize,
}

/// One writer: signed adds back to back until `stop`, over UDP or TCP.
fn writer(
    addr: SocketAddr,
    round: usize,
    tcp: bool,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let keys = storm::keys();
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let transport = if tcp { "tcp" } else { "udp" };
    // Bounded by `stop` (set right after the kill) and ANSWER_WAIT per request.
    for i in 0usize.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (name, key) = &keys[i % keys.len()];
        let value = format!("k{round}-{transport}-{i}");
        let id = i as u16;
        let msg = storm::signed_add(id, &owner(round), &value, key);
        let answer: Result<Answer, NoAnswer> = if tcp {
            storm::tcp_exchange(addr, &msg, ANSWER_WAIT)
        } else {
            storm::udp_exchange(&sock, addr, &msg, id, ANSWER_WAIT).0
        };
        let mut seen = seen.lock().unwrap();
        match answer {
            Ok(a) if a.rcode == 0 && a.signed => {
                seen.acked.insert(value, name);
            }
            Ok(a) => seen.refused.push((value, a)),
            Err(_) => {
                seen.lost += 1;
                drop(seen);
                // The server is gone (or going): do not spin on refusals.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// What went wrong, round by round (all rounds run; the test fails at the
/// end listing them, so one run shows every kind of failure).
#[derive(Default)]
struct Problems {
    found: Vec<String>,
    /// Values already reported as not recorded (each is reported once).
    values: BTreeSet<String>,
}

impl Problems {
    fn add(&mut self, round: usize, what: String) {
        self.found.push(format!("round {round}: {what}"));
    }

    /// The first 60 problems, and how many more there are.
    fn summary(&self) -> String {
        let mut out = self
            .found
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        if self.found.len() > 60 {
            out.push_str(&format!("\n... and {} more", self.found.len() - 60));
        }
        out
    }
}

/// Steps 1 and 2 of the module doc on a freshly (re)started server.
/// Returns the first write's value when it was answered NOERROR.
fn check_after_start(
    p: &Proc,
    round: usize,
    acked: &BTreeMap<String, &'static str>,
    problems: &mut Problems,
    logged: bool,
) -> Option<String> {
    let zones = p.dir.join("zones");
    let keys = storm::keys();
    let (name, key) = &keys[0];
    let value = format!("first-after-start-{round}");
    let msg = storm::signed_add(7, &owner(round), &value, key);
    let a = storm::tcp_exchange(p.addr, &msg, Duration::from_secs(10));
    let ok = matches!(
        a,
        Ok(Answer {
            rcode: 0,
            signed: true,
            ..
        })
    );
    if !ok {
        problems.add(round, format!("the first write after the start: {a:?}"));
    }
    // Answered from the write log, the write is committed right after the
    // answer: give that commit (bounded) time before looking.
    if logged {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && !(storm::git_locks(&zones).is_empty()
                && file_status(&zones, ZONE_FILE).is_empty()
                && git(&zones, &["log", "-1", "--format=%B"]).contains(&value))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let locks = storm::git_locks(&zones);
    if !locks.is_empty() {
        problems.add(
            round,
            format!("lock files left after the first write: {locks:?}"),
        );
    }
    // The committer writes the index before it answers the last write.
    let status = file_status(&zones, ZONE_FILE);
    if !status.is_empty() {
        problems.add(
            round,
            format!("git status after the first write: {status:?}"),
        );
    }
    let mut all = acked.clone();
    if ok {
        all.insert(value.clone(), name);
    }
    check_recorded(p, round, &all, problems);
    ok.then_some(value)
}

/// Every acknowledged value is in the file, served, in HEAD's file, and
/// listed in a commit authored by its key.
fn check_recorded(
    p: &Proc,
    round: usize,
    acked: &BTreeMap<String, &'static str>,
    problems: &mut Problems,
) {
    let zones = p.dir.join("zones");
    let file_values = txt_values_in(&zone_text(&zones));
    let head_values = txt_values_in(&git(&zones, &["show", &format!("HEAD:{ZONE_FILE}")]));
    let history = storm::log(&zones);
    let added = storm::added_by(&history);
    let mut served: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (value, key) in acked {
        let r = value_round(value).unwrap_or(round);
        let at = served
            .entry(r)
            .or_insert_with(|| served_txt(p.addr, &owner(r)).into_iter().collect());
        let commits = added.get(value).cloned().unwrap_or_default();
        let missing: Vec<&str> = [
            (!file_values.contains(value)).then_some("the file"),
            (!head_values.contains(value)).then_some("HEAD's file"),
            (!at.contains(value)).then_some("the answers"),
            (!commits.iter().any(|(author, _)| author == key)).then_some("a commit of its key"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !missing.is_empty() && problems.values.insert(value.clone()) {
            let external = history
                .iter()
                .filter(|c| c.message.contains("Via: external"))
                .count();
            problems.add(
                round,
                format!(
                    "{value}, answered NOERROR to {key}, is not in {missing:?} \
                     (listed in {commits:?}; {external} external-change commits in HEAD)"
                ),
            );
        }
    }
}

/// The round a value was written in (`k<round>-...` or `first-after-start-<round>`).
fn value_round(value: &str) -> Option<usize> {
    if let Some(r) = value.strip_prefix("first-after-start-") {
        return r.parse().ok();
    }
    value.strip_prefix('k')?.split('-').next()?.parse().ok()
}

/// Every TXT value (first string) in a zone file's text.
fn txt_values_in(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split_once(" TXT \""))
        .map(|(_, v)| v.trim_end_matches('"').to_owned())
        .collect()
}

fn check_no_time_left(t0: Instant, round: usize) {
    assert!(
        t0.elapsed() < TEST_LIMIT,
        "round {round}: over {TEST_LIMIT:?}; stopped"
    );
}

#[test]
fn thirty_kill_9_during_updates_lose_and_relabel_nothing() {
    kill_loop("");
}

/// The same with `[git] acknowledge = "log"`: answers come before the
/// commits, so kills land between them, and start-up must commit every
/// answered write from the write log under the key that sent it.
#[test]
fn thirty_kill_9_with_the_write_log_lose_and_relabel_nothing() {
    kill_loop("acknowledge = \"log\"\n");
}

/// The rounds of the module docs, with `git` lines in the `[git]` table.
fn kill_loop(git: &str) {
    let logged = git.contains("log");
    let (mut rng, seed) = Rng::seeded();
    eprintln!("kill_loop: seed {seed} (KILL_LOOP_SEED={seed} replays it)");
    let t0 = Instant::now();
    let dir = scratch();
    let zones = dir.path().join("zones");
    let mut acked: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut problems = Problems::default();
    let (mut lost, mut killed_after) = (0, Vec::new());
    let mut p = Proc::start_with(dir.path(), git);
    wait_committed(&zones, ZONE_FILE);
    for round in 0..KILLS {
        check_no_time_left(t0, round);
        if let Some(v) = check_after_start(&p, round, &acked, &mut problems, logged) {
            acked.insert(v, storm::keys()[0].0);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let writers: Vec<_> = [false, true]
            .into_iter()
            .map(|tcp| {
                let (stop, seen, addr) = (stop.clone(), seen.clone(), p.addr);
                std::thread::spawn(move || writer(addr, round, tcp, stop, seen))
            })
            .collect();
        let delay = Duration::from_millis(20 + rng.below(380));
        std::thread::sleep(delay);
        p.kill9();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.join().unwrap();
        }
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        if !seen.refused.is_empty() {
            problems.add(
                round,
                format!("answers other than NOERROR: {:?}", seen.refused),
            );
        }
        // Durable before the answer: in the file right after the kill.
        let on_disk = txt_values_in(&zone_text(&zones));
        let not_on_disk: Vec<&String> = seen
            .acked
            .keys()
            .filter(|v| !on_disk.contains(*v))
            .collect();
        if !not_on_disk.is_empty() {
            problems.add(
                round,
                format!("answered NOERROR, not in the file after kill -9: {not_on_disk:?}"),
            );
        }
        killed_after.push((delay.as_millis(), seen.acked.len()));
        lost += seen.lost;
        acked.extend(seen.acked);
        p = Proc::start_with(dir.path(), git);
    }
    check_no_time_left(t0, KILLS);
    if let Some(v) = check_after_start(&p, KILLS, &acked, &mut problems, logged) {
        acked.insert(v, storm::keys()[0].0);
    }
    let fsck = git_try(&zones, &["fsck", "--no-progress"]);
    if !fsck.status.success() {
        problems.add(KILLS, format!("git fsck: {}", text(&fsck)));
    }
    let during: usize = killed_after.iter().map(|(_, n)| n).sum();
    eprintln!(
        "kill_loop: {KILLS} kills in {:.1} s; {} writes acknowledged ({during} by the \
         writers, the rest first writes after a start), {lost} unanswered around the kills; \
         per kill (ms after start, acknowledged): {killed_after:?}",
        t0.elapsed().as_secs_f64(),
        acked.len()
    );
    assert!(
        during > KILLS,
        "the writers hardly wrote: {killed_after:?} (ms, acknowledged)"
    );
    if !problems.found.is_empty() && std::env::var_os("KILL_LOOP_KEEP").is_some() {
        let keep = std::env::temp_dir().join(format!("kill-loop-{seed}"));
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(dir.path())
            .arg(&keep)
            .status();
        eprintln!("kill_loop: the directory is kept in {keep:?} ({copied:?})");
    }
    assert!(
        problems.found.is_empty(),
        "seed {seed}: {} problems:\n{}\nlast server log:\n{}",
        problems.found.len(),
        problems.summary(),
        p.log_text()
    );
}
