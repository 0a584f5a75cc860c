//! Issue 12 item 1, in-process: random interleavings of writers through the
//! real [`Store`] over a temp directory (real zone files, a real git
//! repository, the real committer thread).
//!
//! # Design
//!
//! A case is a set of clients. Each client belongs to one of 4 actors (the
//! git author: a TSIG key or a REST token) and issues its writes one after
//! another: it waits a random 0-3 ms (or not at all), sends, and waits for
//! the answer before its next write. Each write goes through the RFC 2136 path
//! (`update::evaluate` on a decoded UPDATE, as `server::updater` builds it)
//! or the REST path (`rest::service::add_records` / `remove_records`, as
//! `rest::http` builds it), on one of 2 zones and one of 3 names. All
//! clients run at once on a multi-thread runtime, so writes of different
//! actors and writers queue for one zone in every order, and the two zones
//! share the one committer. In half the cases the clients go in lockstep:
//! write k of every client starts together once every write k-1 is
//! answered, so a write left queued with nobody to write it (one that
//! would be applied late, when some later write came) stays unanswered.
//!
//! Every value is unique and only the client that added a value deletes it,
//! so what each write must answer and what the zones must hold in the end
//! is known whatever the interleaving:
//!
//! - every write is answered exactly once, within [`ANSWER_LIMIT`], with
//!   the outcome the model gives: a fresh add or the delete of an owned
//!   value is written, a re-add of a present value changes nothing, a
//!   failed prerequisite (RFC 2136 §3.2.1 "RRset exists") is NXRRSET and a
//!   REST delete of an absent service is NXDOMAIN (404), changing nothing;
//! - every written change is in the final zone file and served, and listed
//!   exactly once in git HEAD's history, in a commit authored by its actor,
//!   with its writer in `Via:`, whose `Serial:` range holds the write's
//!   serial, and which is the commit the write was answered with;
//! - no commit lists a change no write made, nor another actor's;
//! - per zone, writes answered with one serial are one batch: one actor,
//!   one writer;
//! - a write answered before another was issued has the smaller serial
//!   (so each client's writes get increasing serials, in its order);
//! - per zone the commits' `Serial:` trailers chain, and HEAD holds the
//!   file exactly as it is on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use zonewright::config::Config;
use zonewright::git::Identity;
use zonewright::rcode::Rcode;
use zonewright::rest::service;
use zonewright::rr::{Name, Rdata, RecordType};
use zonewright::served::State;
use zonewright::store::{Compute, Settings, Store, WriteError, WriteOutcome, WriteRequest};
use zonewright::update::{self, CLASS_ANY, CLASS_IN, CLASS_NONE, UpdateRequest, UpdateRr};
use zonewright::zone::Zone;

const ZONES: [&str; 2] = ["example.com", "example.org"];
const NAMES: usize = 3;
const ACTORS: usize = 4;
/// The serial in both zone files before the first write.
const FIRST_SERIAL: u32 = 2611210007;
/// Far above any real write on this machine: a write not answered within
/// it counts as unanswered.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);

fn zone_text(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 3600\n\
         @ IN SOA ns1 hostmaster ( {FIRST_SERIAL} 7200 3600 1209600 300 )\n\
         \x20 IN NS ns1\n\
         ns1 IN A 192.0.2.1\n"
    )
}

fn zone_file(z: usize) -> String {
    format!("{}.zone", ZONES[z])
}

fn origin(z: usize) -> Name {
    Name::from_ascii(format!("{}.", ZONES[z])).expect("origin")
}

fn owner(z: usize, n: usize) -> Name {
    Name::from_ascii(format!("n{n}._acme-challenge.{}.", ZONES[z])).expect("owner")
}

fn actor_name(a: usize) -> String {
    format!("key-{a}")
}

fn txt(value: &str) -> Rdata {
    let mut w = vec![value.len() as u8];
    w.extend_from_slice(value.as_bytes());
    Rdata::new(w)
}

/// The fixed clock: serials are CalVer for 2026-11-22, 2611220001 upwards.
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0)
        .single()
        .expect("fixed time")
}

// ------------------------------------------------------------- the cases

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Add a fresh value.
    Add,
    /// Delete one of this client's present values (an add if it has none).
    Delete,
    /// Add one of this client's present values again (an add if none).
    ReAdd,
    /// A write that must be refused: RFC 2136 with a prerequisite that
    /// fails, or a REST delete of a service that does not exist.
    Refused,
}

#[derive(Clone, Debug)]
struct OpSpec {
    zone: usize,
    name: usize,
    kind: Kind,
    /// Through REST, else RFC 2136.
    rest: bool,
    /// Waited before the write is issued (0 for most: at once).
    delay_us: u64,
    /// Which present value a Delete or ReAdd takes.
    pick: usize,
}

#[derive(Clone, Debug)]
struct ClientSpec {
    actor: usize,
    ops: Vec<OpSpec>,
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let kind = prop_oneof![
        6 => Just(Kind::Add),
        3 => Just(Kind::Delete),
        1 => Just(Kind::ReAdd),
        1 => Just(Kind::Refused),
    ];
    (
        0..ZONES.len(),
        0..NAMES,
        kind,
        any::<bool>(),
        prop_oneof![3 => Just(0u64), 2 => 1u64..3000],
        0usize..8,
    )
        .prop_map(|(zone, name, kind, rest, delay_us, pick)| OpSpec {
            zone,
            name,
            kind,
            rest,
            delay_us,
            pick,
        })
}

fn client_spec() -> impl Strategy<Value = ClientSpec> {
    (0..ACTORS, proptest::collection::vec(op_spec(), 1..=6))
        .prop_map(|(actor, ops)| ClientSpec { actor, ops })
}

// ------------------------------------------------------------- the model

/// One RR a write adds (`'+'`) or removes (`'-'`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Change {
    zone: usize,
    sign: char,
    name: usize,
    value: String,
}

/// What the model says a write must answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Written,
    Unchanged,
    Rejected(Rcode),
}

/// One write as issued and answered.
#[derive(Debug)]
struct Done {
    client: usize,
    actor: usize,
    seq: usize,
    zone: usize,
    via: &'static str,
    change: Option<Change>,
    expect: Expect,
    /// `None`: not answered within [`ANSWER_LIMIT`].
    answer: Option<Result<WriteOutcome, WriteError>>,
    issued: Instant,
    answered: Instant,
}

impl Done {
    fn serial(&self) -> Option<u32> {
        match &self.answer {
            Some(Ok(WriteOutcome::Written { new_serial, .. })) => Some(*new_serial),
            _ => None,
        }
    }

    fn commit(&self) -> Option<&str> {
        match &self.answer {
            Some(Ok(WriteOutcome::Written { commit, .. })) => commit.as_deref(),
            _ => None,
        }
    }

    fn matches(&self) -> bool {
        match (&self.expect, &self.answer) {
            (Expect::Written, Some(Ok(WriteOutcome::Written { .. }))) => true,
            (Expect::Unchanged, Some(Ok(WriteOutcome::Unchanged))) => true,
            (Expect::Rejected(want), Some(Err(WriteError::Rejected(got)))) => want == got,
            _ => false,
        }
    }

    fn who(&self) -> String {
        format!(
            "client {} ({}) write #{} via {}",
            self.client,
            actor_name(self.actor),
            self.seq,
            self.via
        )
    }
}

/// The RFC 2136 writer's compute: `update::evaluate` on the UPDATE.
fn rfc2136(z: usize, prerequisites: Vec<UpdateRr>, updates: Vec<UpdateRr>) -> Compute {
    let req = UpdateRequest {
        id: 0,
        zone: origin(z),
        zone_class: CLASS_IN,
        prerequisites,
        updates,
    };
    Box::new(move |zone: &Zone| update::evaluate(zone, &req))
}

fn update_rr(name: Name, class: u16, ttl: u32, rdata: Rdata) -> UpdateRr {
    UpdateRr {
        name,
        rtype: RecordType::TXT,
        class,
        ttl,
        rdata,
    }
}

/// The compute of one planned write, through either writer.
fn compute(change: &Change, rest: bool) -> Compute {
    let (z, name, rdata) = (
        change.zone,
        owner(change.zone, change.name),
        txt(&change.value),
    );
    match (change.sign, rest) {
        // RFC 2136 §2.5.1: add to an RRset.
        ('+', false) => rfc2136(z, vec![], vec![update_rr(name, CLASS_IN, 60, rdata)]),
        // RFC 2136 §2.5.4: delete an RR from an RRset (class NONE, TTL 0).
        (_, false) => rfc2136(z, vec![], vec![update_rr(name, CLASS_NONE, 0, rdata)]),
        ('+', true) => Box::new(move |zone: &Zone| {
            service::add_records(
                zone,
                &name,
                RecordType::TXT,
                std::slice::from_ref(&rdata),
                Some(60),
                60,
            )
            .map_err(|e| e.rcode())
        }),
        (_, true) => Box::new(move |zone: &Zone| {
            service::remove_records(zone, &name, RecordType::TXT, std::slice::from_ref(&rdata))
                .map(|(cs, _)| cs)
                .map_err(|e| e.rcode())
        }),
    }
}

/// The write `op` turns into for a client whose present values are
/// `present`: the zone, the request's compute, the change it makes, and
/// what it must answer.
fn plan(op: &OpSpec, fresh: String, present: &[Change]) -> Planned {
    let kind = match op.kind {
        Kind::Delete | Kind::ReAdd if present.is_empty() => Kind::Add,
        k => k,
    };
    let add = Change {
        zone: op.zone,
        sign: '+',
        name: op.name,
        value: fresh,
    };
    match kind {
        Kind::Add => (op.zone, compute(&add, op.rest), Some(add), Expect::Written),
        Kind::Delete => {
            let mut c = present[op.pick % present.len()].clone();
            c.sign = '-';
            (c.zone, compute(&c, op.rest), Some(c), Expect::Written)
        }
        Kind::ReAdd => {
            let c = present[op.pick % present.len()].clone();
            (c.zone, compute(&c, op.rest), None, Expect::Unchanged)
        }
        Kind::Refused if op.rest => {
            // No service there: 404 (NXDOMAIN to the store).
            let name = Name::from_ascii(format!("absent.{}.", ZONES[op.zone])).expect("name");
            let rdata = txt(&add.value);
            let c: Compute = Box::new(move |zone: &Zone| {
                service::remove_records(zone, &name, RecordType::TXT, std::slice::from_ref(&rdata))
                    .map(|(cs, _)| cs)
                    .map_err(|e| e.rcode())
            });
            (op.zone, c, None, Expect::Rejected(Rcode::NxDomain))
        }
        Kind::Refused => {
            // RFC 2136 §2.4.1 "RRset exists (value independent)" at a name
            // that never has one, with an add that must not happen.
            let absent = Name::from_ascii(format!("absent.{}.", ZONES[op.zone])).expect("name");
            let prereq = update_rr(absent, CLASS_ANY, 0, Rdata::new(Vec::new()));
            let name = owner(add.zone, add.name);
            let c = rfc2136(
                op.zone,
                vec![prereq],
                vec![update_rr(name, CLASS_IN, 60, txt(&add.value))],
            );
            (op.zone, c, None, Expect::Rejected(Rcode::NxRrset))
        }
    }
}

/// A planned write: its zone, compute, change and expected answer.
type Planned = (usize, Compute, Option<Change>, Expect);

/// How the clients' writes line up.
#[derive(Clone)]
enum Pace {
    /// Each client goes at its own pace from a common start.
    Free(Arc<tokio::sync::Barrier>),
    /// Write k of every client starts together, once every write k-1 is
    /// answered: `waves` rounds. Nothing arrives after the last write of a
    /// round, so a write left queued with nobody to write it (applied
    /// late, when some later write comes) is never answered.
    Lockstep {
        barrier: Arc<tokio::sync::Barrier>,
        waves: usize,
    },
}

/// One client: its writes in order, each waiting for the one before.
async fn run_client(store: Arc<Store>, pace: Pace, client: usize, spec: ClientSpec) -> Vec<Done> {
    let mut present: Vec<Change> = Vec::new();
    let mut done = Vec::new();
    let via_addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 40000 + client as u16));
    let (barrier, waves) = match &pace {
        Pace::Free(b) => (b, spec.ops.len()),
        Pace::Lockstep { barrier, waves } => (barrier, *waves),
    };
    barrier.wait().await;
    let mut stopped = false;
    for seq in 0..waves {
        if seq > 0 && matches!(pace, Pace::Lockstep { .. }) {
            barrier.wait().await;
        }
        let Some(op) = spec.ops.get(seq).filter(|_| !stopped) else {
            continue;
        };
        if op.delay_us > 0 {
            tokio::time::sleep(Duration::from_micros(op.delay_us)).await;
        }
        let fresh = format!("a{}-c{client}-w{seq}", spec.actor);
        let (zone, compute, change, expect) = plan(op, fresh, &present);
        let via = if op.rest { "rest" } else { "rfc2136" };
        let req = WriteRequest {
            zone: origin(zone),
            actor: actor_name(spec.actor),
            client: via_addr,
            via,
            compute,
        };
        let issued = Instant::now();
        let answer = tokio::time::timeout(ANSWER_LIMIT, store.write(req))
            .await
            .ok();
        let answered = Instant::now();
        let d = Done {
            client,
            actor: spec.actor,
            seq,
            zone,
            via,
            change,
            expect,
            answer,
            issued,
            answered,
        };
        if d.matches()
            && let Some(c) = &d.change
        {
            match c.sign {
                '+' => present.push(c.clone()),
                _ => present.retain(|p| p.value != c.value),
            }
        }
        // An unanswered write ends the client (it keeps to the rounds).
        stopped = d.answer.is_none();
        done.push(d);
    }
    done
}

// ------------------------------------------------------------ the checks

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<Store>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let zones = dir.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        for (z, name) in ZONES.iter().enumerate() {
            std::fs::write(zones.join(zone_file(z)), zone_text(name)).expect("write zone");
        }
        let state = Arc::new(State::new(Arc::new(Config::new(zones, vec![]))));
        state.reload();
        let settings = Settings {
            committer: Identity {
                name: "zonewright".into(),
                email: "zonewright@test".into(),
            },
            host: "test".into(),
            now: fixed_now,
            ..Settings::default()
        };
        let store = Store::with_settings(state, settings);
        // As `zonewright serve` does: the files are in git before any write.
        assert_eq!(store.commit_external_changes(), ZONES.len());
        Fixture {
            dir,
            store: Arc::new(store),
        }
    }

    fn zones(&self) -> PathBuf {
        self.dir.path().join("zones")
    }
}

/// One commit of HEAD's history that records writes.
#[derive(Debug)]
struct Recorded {
    id: String,
    author: String,
    zone: usize,
    via: String,
    serials: (u32, u32),
    changes: Vec<Change>,
}

/// The value of `Key: ` in `msg`.
fn trailer<'m>(msg: &'m str, key: &str) -> Option<&'m str> {
    msg.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
}

/// `+ n1._acme-challenge.example.com. 60 IN TXT "v"` as a change.
fn change_line(zone: usize, line: &str) -> Result<Option<Change>, String> {
    let Some(sign) = line.chars().next().filter(|c| *c == '+' || *c == '-') else {
        return Ok(None);
    };
    let Some(rr) = line.strip_prefix(sign).and_then(|r| r.strip_prefix(' ')) else {
        return Ok(None);
    };
    let fields: Vec<&str> = rr.splitn(5, ' ').collect();
    let [owner_text, _, "IN", "TXT", value] = fields[..] else {
        return Err(format!("unexpected RR line {line:?}"));
    };
    let name = (0..NAMES)
        .find(|n| owner(zone, *n).to_ascii() == owner_text)
        .ok_or_else(|| format!("no write uses the owner of {line:?}"))?;
    Ok(Some(Change {
        zone,
        sign,
        name,
        value: value.trim_matches('"').to_owned(),
    }))
}

/// Every commit of HEAD's history with a `Serial:` trailer, oldest first
/// (the start-up `external change` commits and the `.gitignore` one are
/// checked to be nothing else).
fn history(zones: &Path) -> Result<Vec<Recorded>, String> {
    let repo = git2::Repository::open(zones).map_err(|e| e.to_string())?;
    let mut walk = repo.revwalk().map_err(|e| e.to_string())?;
    walk.push_head().map_err(|e| e.to_string())?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut other = 0;
    for id in walk {
        let c = repo
            .find_commit(id.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let msg = c.message().unwrap_or_default().to_owned();
        let author = c.author().name().unwrap_or_default().to_owned();
        if trailer(&msg, "Via") == Some("external") || trailer(&msg, "Serial").is_none() {
            other += 1;
            continue;
        }
        let zone_text = msg.split(':').next().unwrap_or_default();
        let zone = ZONES
            .iter()
            .position(|z| *z == zone_text)
            .ok_or_else(|| format!("commit {} names no zone: {msg}", c.id()))?;
        let serial = trailer(&msg, "Serial").unwrap_or_default();
        let serials = serial
            .split_once(" -> ")
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| format!("commit {}: Serial {serial:?}", c.id()))?;
        let mut changes = Vec::new();
        for line in msg.lines() {
            if let Some(ch) = change_line(zone, line)? {
                changes.push(ch);
            }
        }
        out.push(Recorded {
            id: c.id().to_string(),
            author,
            zone,
            via: trailer(&msg, "Via").unwrap_or_default().to_owned(),
            serials,
            changes,
        });
    }
    // The .gitignore commit and the one start-up commit of the zones.
    if other != 2 {
        return Err(format!("{other} commits other than writes' (want {})", 2));
    }
    Ok(out)
}

/// The zone file as committed at HEAD.
fn head_blob(zones: &Path, file: &str) -> Result<String, String> {
    let repo = git2::Repository::open(zones).map_err(|e| e.to_string())?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| e.to_string())?;
    let tree = head.tree().map_err(|e| e.to_string())?;
    let entry = tree.get_path(Path::new(file)).map_err(|e| e.to_string())?;
    let blob = repo.find_blob(entry.id()).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(blob.content()).into_owned())
}

/// Each write answered once, as the model says, in serial order.
fn check_answers(done: &[Done]) -> Result<(), String> {
    for d in done {
        if d.answer.is_none() {
            return Err(format!("{}: no answer within {ANSWER_LIMIT:?}", d.who()));
        }
        if !d.matches() {
            return Err(format!(
                "{}: answered {:?}, the model says {:?} ({:?})",
                d.who(),
                d.answer,
                d.expect,
                d.change
            ));
        }
    }
    // One serial per batch, and a batch has one author and one writer.
    let mut batches: BTreeMap<(usize, u32), (usize, &str)> = BTreeMap::new();
    for d in done {
        if let Some(s) = d.serial() {
            let first = *batches.entry((d.zone, s)).or_insert((d.actor, d.via));
            if first != (d.actor, d.via) {
                return Err(format!(
                    "{} shares serial {s} of {} with {} via {}",
                    d.who(),
                    ZONES[d.zone],
                    actor_name(first.0),
                    first.1
                ));
            }
        }
    }
    // Answered before the other was issued: a smaller serial.
    for a in done {
        for b in done {
            let (Some(sa), Some(sb)) = (a.serial(), b.serial()) else {
                continue;
            };
            if a.zone == b.zone && a.answered <= b.issued && sa >= sb {
                return Err(format!(
                    "{} answered serial {sa} before {} was issued, which got {sb}",
                    a.who(),
                    b.who()
                ));
            }
        }
    }
    Ok(())
}

/// Every written change once in HEAD's history, as its actor's, and
/// nothing else there; the serials chain per zone.
fn check_history(zones: &Path, done: &[Done]) -> Result<(), String> {
    let commits = history(zones)?;
    let mut prev = [FIRST_SERIAL; ZONES.len()];
    for c in &commits {
        let (old, new) = c.serials;
        if old != prev[c.zone] || new <= old {
            return Err(format!(
                "{}: Serial {old} -> {new} after {} in {}",
                c.id, prev[c.zone], ZONES[c.zone]
            ));
        }
        prev[c.zone] = new;
    }
    let mut listed: BTreeMap<&Change, Vec<&Recorded>> = BTreeMap::new();
    for c in &commits {
        for ch in &c.changes {
            listed.entry(ch).or_default().push(c);
        }
    }
    for d in done {
        let Some(change) = &d.change else {
            continue;
        };
        let found = listed.remove(change).unwrap_or_default();
        let [c] = found[..] else {
            return Err(format!(
                "{}: {change:?} is listed in {} commits",
                d.who(),
                found.len()
            ));
        };
        let serial = d.serial().unwrap_or_default();
        if c.author != actor_name(d.actor) || c.via != d.via {
            return Err(format!(
                "{}: {change:?} recorded in {} by {} via {}",
                d.who(),
                c.id,
                c.author,
                c.via
            ));
        }
        if !(c.serials.0 < serial && serial <= c.serials.1) {
            return Err(format!(
                "{}: serial {serial}, recorded in {} with Serial {:?}",
                d.who(),
                c.id,
                c.serials
            ));
        }
        if d.commit().is_some_and(|id| id != c.id) {
            return Err(format!(
                "{}: answered with commit {:?}, recorded in {}",
                d.who(),
                d.commit(),
                c.id
            ));
        }
    }
    if let Some((change, commits)) = listed.into_iter().next() {
        let ids: Vec<&str> = commits.iter().map(|c| c.id.as_str()).collect();
        return Err(format!(
            "{change:?} is listed in {ids:?} but no write made it"
        ));
    }
    Ok(())
}

/// The zone files, what is served and HEAD hold exactly the values the
/// model has present.
fn check_zones(f: &Fixture, done: &[Done]) -> Result<(), String> {
    let mut present: BTreeSet<&Change> = BTreeSet::new();
    let mut ever: Vec<&Change> = Vec::new();
    for d in done {
        match &d.change {
            Some(c) if c.sign == '+' => {
                present.insert(c);
                ever.push(c);
            }
            Some(c) => {
                present.retain(|p| p.value != c.value);
            }
            None => {}
        }
    }
    let snapshot = f.store.state().snapshot();
    for (z, zone_name) in ZONES.iter().enumerate() {
        let file = zone_file(z);
        let text = std::fs::read_to_string(f.zones().join(&file)).map_err(|e| e.to_string())?;
        let committed = head_blob(&f.zones(), &file)?;
        if committed != text {
            return Err(format!("{file}: HEAD holds\n{committed}\nthe disk\n{text}"));
        }
        for c in ever.iter().filter(|c| c.zone == z) {
            let want = usize::from(present.contains(c));
            let quoted = format!("\"{}\"", c.value);
            if text.matches(&quoted).count() != want {
                return Err(format!(
                    "{file}: {quoted} should be there {want} times:\n{text}"
                ));
            }
        }
        let served = snapshot
            .get(&origin(z))
            .ok_or_else(|| format!("{zone_name} not served"))?;
        for n in 0..NAMES {
            let got: BTreeSet<Vec<u8>> = served
                .rrset(&owner(z, n), RecordType::TXT)
                .iter()
                .map(|r| r.rdata.as_bytes().to_vec())
                .collect();
            let want: BTreeSet<Vec<u8>> = present
                .iter()
                .filter(|c| c.zone == z && c.name == n)
                .map(|c| txt(&c.value).as_bytes().to_vec())
                .collect();
            if got != want {
                return Err(format!("{}: served {got:?}, want {want:?}", owner(z, n)));
            }
        }
    }
    Ok(())
}

fn run_case(lockstep: bool, clients: Vec<ClientSpec>) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let f = Fixture::new();
    let done: Vec<Done> = rt.block_on(async {
        let barrier = Arc::new(tokio::sync::Barrier::new(clients.len()));
        let pace = match lockstep {
            false => Pace::Free(barrier),
            true => Pace::Lockstep {
                barrier,
                waves: clients.iter().map(|c| c.ops.len()).max().unwrap_or(0),
            },
        };
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, spec)| tokio::spawn(run_client(f.store.clone(), pace.clone(), i, spec)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| format!("client task: {e}"))?);
        }
        Ok::<_, String>(all)
    })?;
    check_answers(&done)?;
    check_history(&f.zones(), &done)?;
    check_zones(&f, &done)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_write_is_answered_once_recorded_once_under_its_author(
        lockstep in any::<bool>(),
        clients in proptest::collection::vec(client_spec(), 2..=8),
    ) {
        if let Err(e) = run_case(lockstep, clients) {
            prop_assert!(false, "{}", e);
        }
    }
}
