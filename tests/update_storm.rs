//! Issue 12 item 1 over real sockets: 4 keys x 1,500 rounds of UPDATEs to
//! one zone at the same instant.
//!
//! # Design
//!
//! The server runs as the harness starts it (tests/common: in-process, the
//! same `serve::run` as the binary, on 127.0.0.1) over the hand-written
//! example.com, with the four keys of `update_config` (hmac-sha256,
//! -sha512, -sha1 and -md5; no rate limit). Four client threads, one per
//! key. In each round they meet at a barrier and each sends one signed
//! UPDATE adding `_acme-challenge.r<round> 60 TXT "r<round>-<key>"`: four
//! writers of one zone at once. Each client keeps one UDP socket for the
//! whole run; in one round of 4 one of the keys (in turn) sends over a new
//! TCP connection instead. Each waits at most [`ANSWER_WAIT`] for its
//! answer. Once all four are answered, one of them asks (over TCP) for the
//! SOA serial and the round's TXT RRset before the next round starts.
//!
//! Asserted, for every request: exactly one answer (none missing; no UDP
//! socket receives a datagram but the one answer per request, checked
//! again by draining each socket at the end), NOERROR and TSIG-signed.
//! After each round: its four values are served (none applied late) and
//! the SOA serial is above the previous round's. At the end: every value
//! is served and in the zone file once; git's history lists each value in
//! exactly one commit, authored by the key that sent it, whose serial
//! range lies between the SOA serials seen before and after its round (no
//! write recorded in a later round); the commits' serials chain strictly
//! upwards. The run's duration and the slowest answer are printed (figures
//! for the lead, not assertions).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use common::storm::{self, Answer, NoAnswer};
use common::update::*;
use common::*;

const ROUNDS: usize = 1_500;
/// The longest a client waits for one answer (a liveness bound).
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// The whole run stops early past this (a liveness bound, far above the
/// expected duration; see the printed figures).
const RUN_LIMIT: Duration = Duration::from_secs(600);
const NOERROR: u8 = 0;

/// One request as a client saw it.
#[derive(Debug)]
struct Sent {
    round: usize,
    key: &'static str,
    tcp: bool,
    answer: Result<Answer, NoAnswer>,
    /// UDP answers with another request's id, seen while waiting.
    strays: Vec<Answer>,
    took: Duration,
}

/// What the server served right after a round was answered.
#[derive(Debug, Default, Clone)]
struct RoundView {
    serial: Option<u32>,
    txt: Vec<String>,
}

fn owner(round: usize) -> String {
    format!("_acme-challenge.r{round}.example.com.")
}

fn value(round: usize, key: &str) -> String {
    format!("r{round}-{key}")
}

/// The SOA serial and the TXT values at `name`, over TCP (`None` serial:
/// no answer).
fn view(addr: SocketAddr, name: &str) -> RoundView {
    let serial = tcp_at(addr, &query("example.com.", RecordType::SOA)).and_then(|m| soa_serial(&m));
    let txt = tcp_at(addr, &query(name, RecordType::TXT))
        .map(|m| txt_values(&m))
        .unwrap_or_default();
    RoundView { serial, txt }
}

/// What the clients saw: every request, each round's view, the strays
/// drained from the sockets at the end, and the rounds run.
struct Run {
    sent: Vec<Sent>,
    views: Vec<RoundView>,
    drained: Vec<Option<Answer>>,
    rounds: usize,
    elapsed: Duration,
}

fn storm(addr: SocketAddr) -> Run {
    let keys = storm::keys();
    let n = keys.len();
    let start = Arc::new(Barrier::new(n));
    let answered = Arc::new(Barrier::new(n));
    let views = Arc::new(Mutex::new(vec![RoundView::default(); ROUNDS]));
    // Set by the leader of a round's second barrier; read by all after the
    // next round's first: every client stops at the same round.
    let stop = Arc::new(Mutex::new(None::<usize>));
    let t0 = Instant::now();
    let threads: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(k, (name, key))| {
            let (start, answered) = (start.clone(), answered.clone());
            let (views, stop) = (views.clone(), stop.clone());
            std::thread::spawn(move || {
                let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
                let mut sent = Vec::with_capacity(ROUNDS);
                let mut missing = false;
                for round in 0..ROUNDS {
                    start.wait();
                    if stop.lock().unwrap().is_some() {
                        break;
                    }
                    let msg =
                        storm::signed_add(round as u16, &owner(round), &value(round, name), &key);
                    let tcp = round % 4 == 0 && k == (round / 4) % n;
                    let t = Instant::now();
                    let (answer, strays) = if tcp {
                        (storm::tcp_exchange(addr, &msg, ANSWER_WAIT), Vec::new())
                    } else {
                        storm::udp_exchange(&sock, addr, &msg, round as u16, ANSWER_WAIT)
                    };
                    missing |= answer.is_err();
                    sent.push(Sent {
                        round,
                        key: name,
                        tcp,
                        answer,
                        strays,
                        took: t.elapsed(),
                    });
                    if answered.wait().is_leader() {
                        views.lock().unwrap()[round] = view(addr, &owner(round));
                    }
                    // Any client's missing answer or the time limit ends
                    // the run after this round (seen by all at the next).
                    if missing || t0.elapsed() > RUN_LIMIT {
                        stop.lock().unwrap().get_or_insert(round + 1);
                    }
                }
                let drained = storm::udp_drain(&sock, Duration::from_millis(300));
                (sent, drained)
            })
        })
        .collect();
    let mut run = Run {
        sent: Vec::new(),
        views: Vec::new(),
        drained: Vec::new(),
        rounds: 0,
        elapsed: Duration::ZERO,
    };
    for t in threads {
        let (sent, drained) = t.join().unwrap();
        run.sent.extend(sent);
        run.drained.extend(drained);
    }
    run.elapsed = t0.elapsed();
    run.rounds = stop.lock().unwrap().unwrap_or(ROUNDS);
    run.views = views.lock().unwrap().clone();
    run.views.truncate(run.rounds);
    run
}

#[test]
fn four_keys_1500_rounds_all_answered_once_applied_in_order() {
    let s = start();
    let zones = s.zones_dir();
    let before = served_serial(s.addr);
    let run = storm(s.addr);
    let checks = Instant::now();

    let slowest = run.sent.iter().map(|r| r.took).max().unwrap_or_default();
    let over_tcp = run.sent.iter().filter(|r| r.tcp).count();
    eprintln!(
        "update_storm: {} rounds x 4 keys ({} requests, {over_tcp} over TCP) in {:.1} s; \
         slowest answer {slowest:?}",
        run.rounds,
        run.sent.len(),
        run.elapsed.as_secs_f64()
    );

    // Every request answered, once, NOERROR, signed.
    let unanswered: Vec<&Sent> = run.sent.iter().filter(|r| r.answer.is_err()).collect();
    assert!(
        unanswered.is_empty(),
        "{} unanswered, first {:?}",
        unanswered.len(),
        unanswered.first()
    );
    assert_eq!(run.rounds, ROUNDS, "stopped early at the time limit");
    assert_eq!(run.sent.len(), 4 * ROUNDS);
    let strays: Vec<&Sent> = run.sent.iter().filter(|r| !r.strays.is_empty()).collect();
    assert!(strays.is_empty(), "duplicate or late answers: {strays:?}");
    assert!(
        run.drained.is_empty(),
        "datagrams after the run: {:?}",
        run.drained
    );
    for r in &run.sent {
        let a = r.answer.as_ref().unwrap();
        assert!(a.rcode == NOERROR && a.signed, "{r:?}");
    }

    // After each round: its four values served, the serial up.
    let mut prev = before;
    for (round, v) in run.views.iter().enumerate() {
        let want: Vec<String> = {
            let mut w: Vec<String> = storm::keys().iter().map(|(k, _)| value(round, k)).collect();
            w.sort();
            w
        };
        assert_eq!(v.txt, want, "round {round}: served after its answers");
        let serial = v.serial.unwrap_or_else(|| panic!("round {round}: no SOA"));
        assert!(serial > prev, "round {round}: serial {serial} after {prev}");
        prev = serial;
    }

    // At the end: in the file once, served.
    let mut in_file: BTreeMap<String, usize> = BTreeMap::new();
    for line in zone_text(&zones).lines() {
        if let Some((_, v)) = line.split_once(" TXT \"") {
            *in_file
                .entry(v.trim_end_matches('"').to_owned())
                .or_default() += 1;
        }
    }
    for r in &run.sent {
        let v = value(r.round, r.key);
        assert_eq!(in_file.get(&v), Some(&1), "{v} in the file");
    }
    for round in (0..ROUNDS).step_by(7) {
        let served: BTreeSet<String> = served_txt(s.addr, &owner(round)).into_iter().collect();
        assert_eq!(served.len(), 4, "round {round}: {served:?}");
    }

    // git: each value once, under its key, in its round's serial range.
    wait_committed(&zones, ZONE_FILE);
    let history = storm::log(&zones);
    let added = storm::added_by(&history);
    let by_id: HashMap<&str, &storm::Logged> = history.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut chain = OLD_SERIAL;
    let mut recorded = 0;
    for c in &history {
        let Some((old, new)) = c.serials() else {
            continue;
        };
        assert!(old == chain && new > old, "{c:?} after serial {chain}");
        chain = new;
        recorded += 1;
    }
    assert_eq!(chain, prev, "HEAD's last serial is the one served");
    for r in &run.sent {
        let v = value(r.round, r.key);
        let commits = added.get(&v).cloned().unwrap_or_default();
        let [(author, id)] = &commits[..] else {
            panic!("{v} is listed in {} commits: {commits:?}", commits.len());
        };
        assert_eq!(author, r.key, "{v} recorded in {id}");
        let c = by_id[id.as_str()];
        let (old, new) = c.serials().unwrap();
        let low = if r.round == 0 {
            before
        } else {
            run.views[r.round - 1].serial.unwrap()
        };
        let high = run.views[r.round].serial.unwrap();
        assert!(
            low <= old && new <= high,
            "{v} recorded in {id} as serial {old} -> {new}, outside its round's {low} -> {high}"
        );
    }
    let values: usize = added.values().map(Vec::len).sum();
    assert_eq!(values, 4 * ROUNDS, "values listed in the history");
    eprintln!(
        "update_storm: {recorded} commits for {} requests; checks took {:.1} s",
        run.sent.len(),
        checks.elapsed().as_secs_f64()
    );
}
