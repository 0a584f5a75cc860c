//! The write path against real files and a real git repository in a temp
//! directory, with the clock fixed so serials are known.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeZone;

use super::*;
use crate::config::Config;
use crate::rr::{Rdata, RecordType, Rr};

const ZONE: &str = "\
$ORIGIN example.com.
$TTL 3600
; the example zone, as a person wrote it
@   IN SOA ns1 hostmaster (
        2611210007 ; serial
        7200 3600 1209600 300 )
    IN NS ns1
ns1 IN A 192.0.2.1   ; name server
www IN A 192.0.2.10
";

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0)
        .single()
        .expect("fixed time")
}

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(crate::config::Acknowledge::Commit)
    }

    fn with(acknowledge: crate::config::Acknowledge) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let zones = dir.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        std::fs::write(zones.join("example.com.zone"), ZONE).expect("write zone");
        Fixture::open(dir, acknowledge)
    }

    /// A new state and store over `dir` (as a restart makes them).
    fn open(dir: tempfile::TempDir, acknowledge: crate::config::Acknowledge) -> Fixture {
        let zones = dir.path().join("zones");
        let config = Config::new(zones, vec![]);
        let state = Arc::new(State::new(Arc::new(config)));
        state.reload();
        let settings = Settings {
            committer: Identity {
                name: "zonewright".into(),
                email: "zonewright@test".into(),
            },
            host: "test".into(),
            now: fixed_now,
            acknowledge,
            ..Settings::default()
        };
        let store = Store::with_settings(state, settings);
        Fixture { dir, store }
    }

    fn zone_path(&self) -> PathBuf {
        self.dir.path().join("zones/example.com.zone")
    }

    fn text(&self) -> String {
        std::fs::read_to_string(self.zone_path()).expect("read zone")
    }

    fn repo(&self) -> git2::Repository {
        git2::Repository::open(self.dir.path().join("zones")).expect("repo")
    }

    fn commits(&self) -> usize {
        let repo = self.repo();
        let Ok(mut walk) = repo.revwalk() else {
            return 0;
        };
        if walk.push_head().is_err() {
            return 0;
        }
        // Not counting the .gitignore commit made when the repository was created.
        walk.count() - 1
    }

    /// (old, new, requests) from the `Serial:` and `Requests:` trailers of
    /// the commits since the repository was created, oldest first.
    fn serial_history(&self) -> Vec<(u32, u32, usize)> {
        let repo = self.repo();
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_head().expect("head");
        let mut out = Vec::new();
        for id in walk {
            let c = repo.find_commit(id.expect("id")).expect("commit");
            let msg = c.message().unwrap_or_default().to_owned();
            let trailer = |k: &str| {
                msg.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(str::to_owned)
            };
            let Some(serial) = trailer("Serial: ") else {
                continue;
            };
            let (old, new) = serial.split_once(" -> ").expect("serial trailer");
            let requests = trailer("Requests: ").map_or(1, |r| r.parse().expect("count"));
            out.push((
                old.parse().expect("old"),
                new.parse().expect("new"),
                requests,
            ));
        }
        out.reverse();
        out
    }

    /// The serial example.com is served with.
    fn serial(&self) -> u32 {
        let snap = self.store.state().snapshot();
        snap.find(&origin()).expect("zone").serial()
    }

    fn served(&self, name: &str, rtype: RecordType) -> usize {
        let snap = self.store.state().snapshot();
        let n = Name::from_ascii(name).expect("name");
        snap.find(&n).map(|z| z.rrset(&n, rtype).len()).unwrap_or(0)
    }
}

fn origin() -> Name {
    Name::from_ascii("example.com.").expect("origin")
}

fn txt(name: &str, value: &str) -> Rr {
    let mut w = vec![value.len() as u8];
    w.extend_from_slice(value.as_bytes());
    Rr {
        name: Name::from_ascii(name).expect("name"),
        ttl: 60,
        rtype: RecordType::TXT,
        rdata: Rdata::new(w),
    }
}

fn adding(rrs: Vec<Rr>) -> WriteRequest {
    WriteRequest {
        zone: origin(),
        actor: "acme-key".into(),
        client: "127.0.0.1:40000".parse().expect("addr"),
        via: "rfc2136",
        compute: Box::new(move |zone: &Zone| {
            let add: Vec<Rr> = rrs
                .iter()
                .filter(|r| !zone.rrset(&r.name, r.rtype).iter().any(|z| z.same_rr(r)))
                .cloned()
                .collect();
            Ok(ChangeSet {
                add,
                ..ChangeSet::default()
            })
        }),
    }
}

#[tokio::test]
async fn write_is_durable_minimal_published_and_committed() {
    let f = Fixture::new();
    let before = f.text();
    let out = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "token-1")]))
        .await
        .expect("write");
    let WriteOutcome::Written {
        old_serial,
        new_serial,
        commit,
        ..
    } = out
    else {
        panic!("expected a write, got {out:?}");
    };
    assert_eq!((old_serial, new_serial), (2611210007, 2611220001));
    assert!(commit.is_some());

    // Minimal diff: the serial token and one added line; the rest as written.
    let after = f.text();
    let old_lines: Vec<&str> = before.lines().collect();
    let new_lines: Vec<&str> = after.lines().collect();
    assert_eq!(new_lines.len(), old_lines.len() + 1);
    let changed: Vec<(&&str, &&str)> = old_lines
        .iter()
        .zip(&new_lines)
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        vec![(
            &"        2611210007 ; serial",
            &"        2611220001 ; serial"
        )]
    );
    assert_eq!(
        new_lines.last(),
        Some(&"_acme-challenge 60 IN TXT \"token-1\"")
    );

    // Served at once.
    assert_eq!(f.served("_acme-challenge.example.com.", RecordType::TXT), 1);
    assert_eq!(
        f.store
            .state()
            .snapshot()
            .get(&origin())
            .map(|z| z.serial()),
        Some(2611220001)
    );

    // One commit, author = actor, trailers.
    let repo = f.repo();
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    assert_eq!(head.author().name().ok(), Some("acme-key"));
    assert_eq!(head.author().email().ok(), Some("zonewright@test"));
    assert_eq!(head.committer().name().ok(), Some("zonewright"));
    let msg = head.message().expect("message");
    assert!(
        msg.starts_with("example.com: +1 -0 TXT _acme-challenge.example.com, serial 2611220001\n"),
        "{msg}"
    );
    for t in [
        "Actor: acme-key",
        "Client: 127.0.0.1:40000",
        "Via: rfc2136",
        "Serial: 2611210007 -> 2611220001",
    ] {
        assert!(msg.contains(t), "{t} missing in {msg}");
    }
    // No lock or temp file tracked; the tree holds the zone file only.
    let tree = head.tree().expect("tree");
    let names: Vec<String> = tree
        .iter()
        .filter_map(|e| e.name().ok().map(String::from))
        .collect();
    assert_eq!(
        names,
        vec![".gitignore".to_owned(), "example.com.zone".to_owned()]
    );
}

#[tokio::test]
async fn empty_change_writes_nothing() {
    let f = Fixture::new();
    let before = f.text();
    let mtime = std::fs::metadata(f.zone_path())
        .and_then(|m| m.modified())
        .expect("mtime");
    // www already has this A record, so the change set is empty.
    let www = Rr {
        name: Name::from_ascii("www.example.com.").expect("n"),
        ttl: 3600,
        rtype: RecordType::A,
        rdata: Rdata::new(vec![192, 0, 2, 10]),
    };
    let out = f.store.write(adding(vec![www])).await.expect("write");
    assert_eq!(out, WriteOutcome::Unchanged);
    assert_eq!(f.text(), before);
    let mtime2 = std::fs::metadata(f.zone_path())
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(mtime, mtime2);
    assert_eq!(f.commits(), 0);
}

#[tokio::test]
async fn rejection_changes_nothing() {
    let f = Fixture::new();
    let before = f.text();
    let req = WriteRequest {
        compute: Box::new(|_| Err(Rcode::NxRrset)),
        ..adding(vec![])
    };
    let err = f.store.write(req).await.expect_err("rejected");
    assert_eq!(err.rcode(), Rcode::NxRrset);
    assert_eq!(f.text(), before);
}

#[tokio::test]
async fn invalid_result_is_refused_and_nothing_written() {
    let f = Fixture::new();
    let before = f.text();
    let cname = Rr {
        name: Name::from_ascii("www.example.com.").expect("n"),
        ttl: 60,
        rtype: RecordType::CNAME,
        rdata: Rdata::new(b"\x03ns1\x07example\x03com\x00".to_vec()),
    };
    let err = f
        .store
        .write(adding(vec![cname]))
        .await
        .expect_err("invalid");
    assert_eq!(err.rcode(), Rcode::Refused);
    assert!(err.to_string().contains("CNAME"), "{err}");
    assert_eq!(f.text(), before);
}

#[tokio::test]
async fn unknown_zone_is_notauth() {
    let f = Fixture::new();
    let req = WriteRequest {
        zone: Name::from_ascii("example.org.").expect("n"),
        ..adding(vec![])
    };
    assert_eq!(
        f.store.write(req).await.expect_err("no zone").rcode(),
        Rcode::NotAuth
    );
}

#[tokio::test]
async fn external_edit_is_kept_and_the_change_recomputed() {
    let f = Fixture::new();
    // An operator appends a record after the snapshot was taken.
    let mut text = f.text();
    text.push_str("ops IN TXT \"added by hand\"\n");
    std::fs::write(f.zone_path(), text).expect("edit");
    f.store
        .write(adding(vec![txt("_acme-challenge.example.com.", "t")]))
        .await
        .expect("write");
    let after = f.text();
    assert!(after.contains("ops IN TXT \"added by hand\""), "{after}");
    assert!(after.contains("_acme-challenge"), "{after}");
    assert_eq!(f.served("ops.example.com.", RecordType::TXT), 1);
}

/// The edit found on disk is committed as the operator's, with exactly
/// the text they wrote, before the write computed on top of it: neither
/// change is recorded under the other's name.
#[tokio::test]
async fn an_edit_found_by_the_store_is_committed_as_external_before_the_write() {
    let f = Fixture::new();
    let base = f.commits();
    let mut edited = f.text();
    edited.push_str("ops IN TXT \"added by hand\"\n");
    std::fs::write(f.zone_path(), &edited).expect("edit");
    f.store
        .write(adding(vec![txt("_acme-challenge.example.com.", "t")]))
        .await
        .expect("write");
    let repo = f.repo();
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let parent = head.parent(0).expect("parent");
    assert_eq!(f.commits(), base + 2);
    let blob_of = |c: &git2::Commit<'_>| {
        let tree = c.tree().expect("tree");
        let entry = tree
            .get_path(std::path::Path::new("example.com.zone"))
            .expect("entry");
        let blob = repo.find_blob(entry.id()).expect("blob");
        String::from_utf8_lossy(blob.content()).into_owned()
    };
    let external = parent.message().unwrap_or_default().to_owned();
    // The edit kept the served serial: raised ([serial] external = "raise").
    assert!(
        external.starts_with("example.com: external change, serial 2611210007 -> ")
            && external.contains("(raised by zonewright)"),
        "{external}"
    );
    assert_eq!(parent.author().name().ok(), Some("zonewright"));
    let theirs = blob_of(&parent);
    assert_eq!(
        theirs
            .lines()
            .filter(|l| !l.contains("; serial"))
            .collect::<Vec<_>>(),
        edited
            .lines()
            .filter(|l| !l.contains("; serial"))
            .collect::<Vec<_>>(),
        "the operator's text, as saved, but for the serial"
    );
    assert!(!theirs.contains(" 2611210007 "), "{theirs}");
    let ours = head.message().unwrap_or_default().to_owned();
    assert!(ours.starts_with("example.com: +1 -0 TXT "), "{ours}");
    assert_eq!(head.author().name().ok(), Some("acme-key"));
    assert_eq!(blob_of(&head), f.text());
    assert!(!git::is_dirty(&repo, &f.zone_path()).expect("status"));
}

#[tokio::test]
async fn broken_file_on_disk_is_not_written_over() {
    let f = Fixture::new();
    std::fs::write(f.zone_path(), "this is not a zone file\n").expect("break");
    let err = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "t")]))
        .await
        .expect_err("broken");
    assert_eq!(err.rcode(), Rcode::ServFail);
    assert_eq!(f.text(), "this is not a zone file\n");
}

#[tokio::test]
async fn concurrent_writes_all_land_with_increasing_serials() {
    let f = Arc::new(Fixture::new());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            f.store
                .write(adding(vec![txt(
                    &format!("h{i}._acme-challenge.example.com."),
                    "v",
                )]))
                .await
        }));
    }
    let mut serials = HashSet::new();
    for t in tasks {
        match t.await.expect("task").expect("write") {
            WriteOutcome::Written { new_serial, .. } => {
                serials.insert(new_serial);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for i in 0..20 {
        assert_eq!(
            f.served(
                &format!("h{i}._acme-challenge.example.com."),
                RecordType::TXT
            ),
            1
        );
    }
    // Group commit: one serial step per batch; the commits (one per batch,
    // or fewer when the committer groups queued batches) chain the serials
    // in order and record all 20 requests.
    let history = f.serial_history();
    assert!((1..=serials.len()).contains(&history.len()), "{history:?}");
    let mut prev = 2611210007;
    for (old, new, _) in &history {
        assert_eq!(*old, prev, "{history:?}");
        assert!(serials.contains(new), "{history:?}");
        prev = *new;
    }
    assert_eq!(Some(prev), serials.iter().max().copied());
    assert_eq!(history.iter().map(|h| h.2).sum::<usize>(), 20);
    let mut sorted: Vec<u32> = serials.into_iter().collect();
    sorted.sort_unstable();
    let expected: Vec<u32> = (1..=sorted.len() as u32).map(|k| 2611220000 + k).collect();
    assert_eq!(sorted, expected);
}

/// `adding`, by another actor.
fn adding_as(actor: &str, rrs: Vec<Rr>) -> WriteRequest {
    WriteRequest {
        actor: actor.into(),
        ..adding(rrs)
    }
}

/// Issue 12 item 1, made deterministic: actor A's write is queued first,
/// but actor B's writer gets the zone's turn first. B must write A's batch
/// and then its own, not leave its own queued with nobody to write it.
#[tokio::test]
async fn the_turn_holder_writes_until_its_own_write_is_answered() {
    let f = Fixture::new();
    let queue = f.store.zone_queue(&origin());
    let (tx, rx) = tokio::sync::oneshot::channel();
    queue.push(Queued {
        req: adding_as("key-a", vec![txt("a._acme-challenge.example.com.", "v")]),
        reply: tx,
    });
    let b = f.store.write(adding_as(
        "key-b",
        vec![txt("b._acme-challenge.example.com.", "v")],
    ));
    let b = tokio::time::timeout(std::time::Duration::from_secs(10), b).await;
    assert!(
        matches!(b, Ok(Ok(WriteOutcome::Written { .. }))),
        "B was not answered: {b:?}"
    );
    let a = rx.await.expect("A was answered");
    assert!(matches!(
        f.store.settle(origin(), a).await,
        Ok(WriteOutcome::Written { .. })
    ));
    assert_eq!(
        f.served("a._acme-challenge.example.com.", RecordType::TXT),
        1
    );
    assert_eq!(
        f.served("b._acme-challenge.example.com.", RecordType::TXT),
        1
    );
    // In arrival order: A's serial step comes first.
    let history = f.serial_history();
    assert_eq!(history.len(), 2, "{history:?}");
}

/// Issue 12 item 1: writes of different actors to one zone at the same
/// instant. The turn holder used to write only the batch at the head of
/// the queue (another actor's), release the turn and wait for its own
/// answer, which nobody then wrote until some later write arrived. Every
/// write must be answered (here: within 10 s, a bound far above any real
/// write), applied, and the serials of different actors' writes distinct
/// and increasing from round to round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_of_different_actors_at_the_same_instant_are_all_answered() {
    let f = Arc::new(Fixture::new());
    let mut last = 0u32;
    for round in 0..40 {
        let start = Arc::new(tokio::sync::Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|k| {
                let (f, start) = (f.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let owner = format!("r{round}-k{k}._acme-challenge.example.com.");
                    let w = f
                        .store
                        .write(adding_as(&format!("key-{k}"), vec![txt(&owner, "v")]));
                    tokio::time::timeout(std::time::Duration::from_secs(10), w).await
                })
            })
            .collect();
        let mut serials = Vec::new();
        for (k, t) in tasks.into_iter().enumerate() {
            match t.await.expect("task") {
                Ok(Ok(WriteOutcome::Written { new_serial, .. })) => serials.push(new_serial),
                Ok(other) => panic!("round {round}, key-{k}: {other:?}"),
                Err(_) => panic!("round {round}, key-{k}: no answer within 10 s"),
            }
        }
        let distinct: HashSet<u32> = serials.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "round {round}: {serials:?}");
        assert!(
            serials.iter().all(|s| *s > last),
            "round {round}: {serials:?} after {last}"
        );
        last = serials.iter().copied().max().unwrap_or(last);
    }
    for round in 0..40 {
        for k in 0..4 {
            let owner = format!("r{round}-k{k}._acme-challenge.example.com.");
            assert_eq!(f.served(&owner, RecordType::TXT), 1, "{owner}");
        }
    }
}

impl Inner {
    /// `write_many` with each reply settled (commits awaited), as the
    /// writers in `Store::write` do.
    fn write_many_settled(&self, reqs: &[&WriteRequest]) -> Vec<Result<WriteOutcome, WriteError>> {
        let replies = self.write_many(reqs);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        replies
            .into_iter()
            .map(|r| match r {
                Reply::Now(r) => r,
                Reply::AfterCommit {
                    old_serial,
                    new_serial,
                    commit,
                } => match rt.block_on(commit.wait(self.settings.commit_timeout)) {
                    committer::Outcome::Committed(commit) => Ok(WriteOutcome::Written {
                        old_serial,
                        new_serial,
                        commit,
                        logged: false,
                    }),
                    committer::Outcome::Failed(why) => Err(WriteError::Failed(why.to_string())),
                },
            })
            .collect()
    }
}

fn request(compute: Compute) -> WriteRequest {
    WriteRequest {
        compute,
        ..adding(vec![])
    }
}

#[test]
fn a_batch_applies_in_order_with_an_answer_each_and_one_commit() {
    let f = Fixture::new();
    let x = txt("x._acme-challenge.example.com.", "1");
    let y = txt("y._acme-challenge.example.com.", "2");
    let (x2, y2, x_name) = (x.clone(), y.clone(), x.name.clone());
    let reqs = [
        request(Box::new(move |_| {
            Ok(ChangeSet {
                add: vec![x2.clone()],
                ..ChangeSet::default()
            })
        })),
        // Sees the first write: adds y only if x is there.
        request(Box::new(move |z: &Zone| {
            if z.rrset(&x_name, RecordType::TXT).is_empty() {
                return Err(Rcode::NxRrset);
            }
            Ok(ChangeSet {
                add: vec![y2.clone()],
                ..ChangeSet::default()
            })
        })),
        request(Box::new(|_| Err(Rcode::YxDomain))),
        request(Box::new(|_| Ok(ChangeSet::default()))),
    ];
    let refs: Vec<&WriteRequest> = reqs.iter().collect();
    let results = f.store.inner.write_many_settled(&refs);
    match (&results[0], &results[1]) {
        (
            Ok(WriteOutcome::Written {
                old_serial: a,
                new_serial: b,
                commit: Some(c1),
                ..
            }),
            Ok(WriteOutcome::Written {
                new_serial: b2,
                commit: Some(c2),
                ..
            }),
        ) => {
            assert_eq!((*a, *b, *b2), (2611210007, 2611220001, 2611220001));
            assert_eq!(c1, c2, "one commit for the batch");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        results[2],
        Err(WriteError::Rejected(Rcode::YxDomain))
    ));
    assert!(matches!(results[3], Ok(WriteOutcome::Unchanged)));
    assert_eq!(
        f.served("x._acme-challenge.example.com.", RecordType::TXT),
        1
    );
    assert_eq!(
        f.served("y._acme-challenge.example.com.", RecordType::TXT),
        1
    );
    assert_eq!(f.commits(), 1);
    let repo = f.repo();
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let msg = head.message().expect("message").to_owned();
    assert!(msg.starts_with("example.com: +2 -0 TXT "), "{msg}");
    assert!(msg.contains("Requests: 2"), "{msg}");
}

#[test]
fn a_batch_that_cancels_out_writes_nothing() {
    let f = Fixture::new();
    let before = f.text();
    let x = txt("x._acme-challenge.example.com.", "1");
    let (a, b) = (x.clone(), x.clone());
    let reqs = [
        request(Box::new(move |_| {
            Ok(ChangeSet {
                add: vec![a.clone()],
                ..ChangeSet::default()
            })
        })),
        request(Box::new(move |_| {
            Ok(ChangeSet {
                remove: vec![b.clone()],
                ..ChangeSet::default()
            })
        })),
    ];
    let refs: Vec<&WriteRequest> = reqs.iter().collect();
    let results = f.store.inner.write_many_settled(&refs);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(WriteOutcome::Unchanged))),
        "{results:?}"
    );
    assert_eq!(f.text(), before);
    assert_eq!(f.commits(), 0);
}

#[tokio::test]
async fn external_changes_are_committed_at_start() {
    let f = Fixture::new();
    assert_eq!(f.store.commit_external_changes(), 1);
    assert_eq!(f.commits(), 1);
    let repo = f.repo();
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let msg = head.message().expect("message");
    assert!(
        msg.starts_with("example.com: external change, serial 2611210007"),
        "{msg}"
    );
    // Nothing more to commit the second time.
    assert_eq!(f.store.commit_external_changes(), 0);
}

/// The branch's ref lock, held as another (live) git process would.
fn hold_ref_lock(repo: &git2::Repository) -> (PathBuf, std::fs::File) {
    let head = std::fs::read_to_string(repo.path().join("HEAD")).expect("HEAD");
    let branch = head.trim().trim_start_matches("ref: ").to_owned();
    let lock = repo.path().join(format!("{branch}.lock"));
    let file = std::fs::File::create(&lock).expect("lock");
    (lock, file)
}

/// Issue 12 items 4 and 5: a commit git refuses is not success. The write
/// is answered as failed, the zone file and the served zone are rolled
/// back (with a newer serial, for secondaries that took the failed one),
/// nothing of it reaches git, and writes work again once git does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_git_cannot_record_fails_and_is_rolled_back() {
    let f = Fixture::new();
    let before_commits = f.commits();
    let (lock, held) = hold_ref_lock(&f.repo());
    let failed = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "lost")]))
        .await;
    let Err(WriteError::Failed(why)) = &failed else {
        panic!("a write git could not record was answered {failed:?}");
    };
    assert!(why.contains("rolled back"), "{why}");
    assert_eq!(
        failed.as_ref().map_err(WriteError::rcode).err(),
        Some(Rcode::ServFail)
    );
    assert!(!f.text().contains("lost"), "{}", f.text());
    assert_eq!(f.served("_acme-challenge.example.com.", RecordType::TXT), 0);
    // Two serial steps: the failed write and its undo.
    let serial = f.serial();
    assert!(serial > 2611210007 + 1, "{serial}");
    assert_eq!(f.commits(), before_commits, "git holds nothing of it");
    // Git works again: the next write lands, and the rollback (which could
    // not be committed while the lock was held) is in its commit's file.
    drop(held);
    std::fs::remove_file(&lock).expect("unlock");
    let ok = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "kept")]))
        .await;
    assert!(
        matches!(
            ok,
            Ok(WriteOutcome::Written {
                commit: Some(_),
                ..
            })
        ),
        "{ok:?}"
    );
    let repo = f.repo();
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let blob = head
        .tree()
        .expect("tree")
        .get_path(Path::new("example.com.zone"))
        .expect("entry")
        .to_object(&repo)
        .expect("object")
        .peel_to_blob()
        .expect("blob");
    let text = String::from_utf8_lossy(blob.content()).into_owned();
    assert!(text.contains("kept") && !text.contains("lost"), "{text}");
    let author = head.author();
    assert_eq!(author.name().unwrap_or_default(), "acme-key");
    assert!(!head.message().unwrap_or_default().contains("lost"));
}

/// A person's edit made while a failed write waits for its rollback stays;
/// only the failed write's records are undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollback_undoes_only_the_failed_change() {
    let f = Fixture::new();
    let (lock, held) = hold_ref_lock(&f.repo());
    // Fail a batch without the rollback the writer's answer triggers: the
    // write path's own pieces, as `Store::write` runs them.
    let req = adding(vec![txt("_acme-challenge.example.com.", "lost")]);
    let inner = f.store.inner.clone();
    let replies = tokio::task::spawn_blocking(move || inner.write_many(&[&req]))
        .await
        .expect("join");
    let Some(Reply::AfterCommit { commit, .. }) = replies.into_iter().next() else {
        panic!("not written");
    };
    assert!(matches!(
        commit.wait(Duration::from_secs(10)).await,
        committer::Outcome::Failed(_)
    ));
    drop(held);
    std::fs::remove_file(&lock).expect("unlock");
    // A person adds a record by hand meanwhile.
    let edited = f.text() + "hand IN A 192.0.2.99\n";
    std::fs::write(f.zone_path(), edited).expect("edit");
    let ok = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "next")]))
        .await;
    assert!(matches!(ok, Ok(WriteOutcome::Written { .. })), "{ok:?}");
    let text = f.text();
    assert!(text.contains("hand IN A 192.0.2.99"), "{text}");
    assert!(
        text.contains("\"next\"") && !text.contains("lost"),
        "{text}"
    );
    // History: the person's edit, the rollback, then the write.
    let repo = f.repo();
    let mut walk = repo.revwalk().expect("walk");
    walk.push_head().expect("head");
    let authors: Vec<String> = walk
        .take(3)
        .map(|id| {
            let c = repo.find_commit(id.expect("id")).expect("commit");
            c.author().name().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(authors[0], "acme-key", "{authors:?}");
    assert_eq!(authors[1], "zonewright", "{authors:?}");
}

/// Issue 14: an edit saved on a version before a write, that makes the
/// write impossible (a CNAME where the write added a TXT), is not taken
/// in: nothing is written over the person's file, the zone keeps serving
/// the write, and the next write fails saying why.
#[tokio::test]
async fn an_edit_that_conflicts_with_a_write_it_lacks_is_not_taken_in() {
    let f = Fixture::new();
    let before = f.text();
    f.store
        .write(adding(vec![txt("x.example.com.", "t")]))
        .await
        .expect("write");
    let mut edited = before.clone();
    edited.push_str("x IN CNAME www\n");
    std::fs::write(f.zone_path(), &edited).expect("edit");
    let r = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "u")]))
        .await;
    assert!(
        matches!(&r, Err(WriteError::Failed(m)) if m.contains("conflicts with earlier writes")),
        "{r:?}"
    );
    assert_eq!(f.served("x.example.com.", RecordType::TXT), 1);
    assert_eq!(f.text(), edited, "the person's file is left as saved");
}

// ---- `[git] acknowledge = "log"`: the write log (see `writelog`) ----

fn log_path(f: &Fixture) -> PathBuf {
    writelog::path_in(&f.dir.path().join("zones/.git"))
}

/// (author, message, text of the zone file) of each commit, oldest first,
/// after the repository's first.
fn history(f: &Fixture) -> Vec<(String, String, String)> {
    let repo = f.repo();
    let mut walk = repo.revwalk().expect("walk");
    walk.push_head().expect("head");
    let mut out = Vec::new();
    for id in walk {
        let c = repo.find_commit(id.expect("id")).expect("commit");
        let text = c
            .tree()
            .ok()
            .and_then(|t| t.get_name("example.com.zone").map(|e| e.id()))
            .and_then(|b| repo.find_blob(b).ok())
            .map(|b| String::from_utf8_lossy(b.content()).into_owned())
            .unwrap_or_default();
        out.push((
            c.author().name().unwrap_or_default().to_owned(),
            c.message().unwrap_or_default().to_owned(),
            text,
        ));
    }
    out.reverse();
    out.remove(0);
    out
}

/// A write-log record of example.com by `actor`, from client
/// 127.0.0.1:40000, naming no file and no time.
fn logged(old: u32, new: u32, actor: &str, cs: &ChangeSet) -> writelog::Entry {
    writelog::Entry {
        zone: "example.com.".into(),
        old_serial: old,
        new_serial: new,
        actor: actor.into(),
        via: "rfc2136".into(),
        clients: vec!["127.0.0.1:40000".into()],
        requests: 1,
        add: cs.add.iter().map(rr_line).collect(),
        remove: cs.remove.iter().map(rr_line).collect(),
        files: Vec::new(),
        at: None,
    }
}

/// Writes `entries` as the write log a crash left in `dir`, then starts a
/// store there (as a restart does): the store and its history.
fn restart_with_log(
    dir: tempfile::TempDir,
    entries: Vec<writelog::Entry>,
) -> (Fixture, Vec<(String, String, String)>) {
    let log = writelog::path_in(&dir.path().join("zones/.git"));
    std::fs::create_dir_all(log.parent().expect("dir")).expect("mkdir");
    let mut bytes = Vec::new();
    for e in entries {
        bytes.extend(serde_json::to_vec(&e).expect("json"));
        bytes.push(b'\n');
    }
    std::fs::write(&log, bytes).expect("log");
    let f = Fixture::open(dir, crate::config::Acknowledge::Commit);
    f.store.commit_external_changes();
    let h = history(&f);
    (f, h)
}

/// Waits (at most 10 s) until `pred` holds.
fn eventually(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pred() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_write_is_answered_from_the_log_then_committed_under_its_writer() {
    let f = Fixture::with(crate::config::Acknowledge::Log);
    let out = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "logged")]))
        .await
        .expect("write");
    assert!(
        matches!(
            out,
            WriteOutcome::Written {
                logged: true,
                commit: None,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(f.text().contains("\"logged\""), "durable before the answer");
    eventually("the write is committed", || f.commits() == 1);
    let h = history(&f);
    assert_eq!(h[0].0, "acme-key");
    assert!(
        h[0].1
            .contains("+ _acme-challenge.example.com. 60 IN TXT \"logged\""),
        "{}",
        h[0].1
    );
    assert_eq!(h[0].2, f.text());
    // Everything committed: the log is emptied (after a syncfs).
    eventually("the log is emptied", || {
        std::fs::metadata(log_path(&f)).is_ok_and(|m| m.len() == 0)
    });
}

/// The crash the log exists for: two writes answered from the log, the
/// server gone before either was committed. Start-up commits each under
/// its own writer with the text that write produced, skips a record HEAD
/// already holds, and only then looks for edits made by hand (the line a
/// person added while the server was down is an `external change` of its
/// own, never folded into a writer's commit).
#[test]
fn start_up_commits_the_records_a_crash_left_each_under_its_writer() {
    let f = Fixture::with(crate::config::Acknowledge::Log);
    f.store.commit_external_changes();
    assert_eq!(f.commits(), 1, "the zone as found");
    let path = f.zone_path();
    let Fixture { dir, store } = f;
    drop(store);
    let doc = crate::zonefile::Document::parse(
        &path.display().to_string(),
        ZONE,
        &origin(),
        &crate::zonefile::NoIncludes,
    )
    .expect("parse");
    let one = ChangeSet {
        add: vec![txt("a.example.com.", "one")],
        remove: Vec::new(),
        serial: Some(2611220001),
    };
    let (doc1, _) = doc.apply(&one).expect("apply");
    let two = ChangeSet {
        add: vec![txt("b.example.com.", "two")],
        remove: vec![txt("a.example.com.", "one")],
        serial: Some(2611220002),
    };
    let (doc2, _) = doc1.apply(&two).expect("apply");
    let text1 = doc1.files()[0].text.clone();
    let text2 = doc2.files()[0].text.clone();
    // The file as the second write left it, and a line a person added
    // while the server was down.
    let edited = format!("{text2}hand IN A 192.0.2.99\n");
    std::fs::write(&path, &edited).expect("write");
    // As logged before records named their files (and their times).
    let entry = logged;
    let committed = ChangeSet::default();
    let (f, h) = restart_with_log(
        dir,
        vec![
            // Already in HEAD (its serial): skipped.
            entry(2611210006, 2611210007, "old-key", &committed),
            entry(2611210007, 2611220001, "key-a", &one),
            entry(2611220001, 2611220002, "key-b", &two),
        ],
    );
    let log = log_path(&f);
    let authors: Vec<&str> = h.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        authors,
        ["zonewright", "key-a", "key-b", "zonewright"],
        "{h:#?}"
    );
    assert_eq!(
        h[1].2, *text1,
        "key-a's commit holds the text its write produced"
    );
    assert_eq!(
        h[2].2, *text2,
        "key-b's commit holds the text its write produced"
    );
    assert!(
        h[2].1.contains("- a.example.com. 60 IN TXT \"one\""),
        "{}",
        h[2].1
    );
    assert!(
        h[2].1.contains("Serial: 2611220001 -> 2611220002"),
        "{}",
        h[2].1
    );
    assert!(h[3].1.contains("external change"), "{}", h[3].1);
    assert!(h[3].2.contains("hand IN A 192.0.2.99"), "{}", h[3].2);
    assert!(!h[1].2.contains("192.0.2.99") && !h[2].2.contains("192.0.2.99"));
    assert_eq!(
        std::fs::metadata(&log).expect("log").len(),
        0,
        "log emptied"
    );
}

/// Round 55 HIGH: after a crash in log mode, a person committed the zone
/// file while the server was down, putting back the version from before
/// the writes with a serial of their own above theirs. Start-up took the
/// records for committed (HEAD's serial had reached theirs), and writes
/// answered NOERROR were lost. A record is committed unless a commit of
/// it under its writer is on HEAD's line: the one committed before the
/// crash is not committed again; the others are, each under its writer,
/// never lowering the serial; and the take-in of the file serves every
/// write.
#[test]
fn records_a_person_s_commit_with_a_higher_serial_lacks_are_still_committed() {
    let f = Fixture::with(crate::config::Acknowledge::Log);
    f.store.commit_external_changes();
    let path = f.zone_path();
    let Fixture { dir, store } = f;
    drop(store);
    let parse = |text: &str| {
        let name = path.display().to_string();
        crate::zonefile::Document::parse(&name, text, &origin(), &crate::zonefile::NoIncludes)
            .expect("parse")
    };
    let adding = |value: &str, serial| ChangeSet {
        add: vec![txt("_acme-challenge.example.com.", value)],
        remove: Vec::new(),
        serial: Some(serial),
    };
    let (zero, one, two) = (
        adding("zero", 2611220001),
        adding("one", 2611220002),
        adding("two", 2611220003),
    );
    let (doc0, _) = parse(ZONE).apply(&zero).expect("apply");
    let (doc2, _) = doc0
        .apply(&one)
        .and_then(|(d, _)| d.apply(&two))
        .expect("apply");
    let repo = git2::Repository::open(dir.path().join("zones")).expect("repo");
    let commit_as = |author: &str, text: &str, message: &str| {
        std::fs::write(&path, text).expect("write");
        let mut index = repo.index().expect("index");
        index.add_path(Path::new("example.com.zone")).expect("add");
        index.write().expect("index");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let sig = git2::Signature::now(author, "a@test").expect("sig");
        let parent = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
            .expect("commit");
    };
    // The first write's commit was made before the crash.
    commit_as(
        "key-z",
        &doc0.files()[0].text,
        "example.com: +1 -0 TXT _acme-challenge.example.com, serial 2611220001\n\n\
         Actor: key-z\nVia: rfc2136\nSerial: 2611210007 -> 2611220001\n",
    );
    // The crash left the file as the third write made it; then the
    // person put back the version from before all three, serial raised.
    let person = ZONE.replace("2611210007", "2612079990");
    commit_as("Person", &person, "put the old version back\n");
    assert_ne!(doc2.files()[0].text.as_str(), person);
    let entry = |old, new, actor: &str, cs: &ChangeSet, at| writelog::Entry {
        at,
        files: vec!["example.com.zone".into()],
        ..logged(old, new, actor, cs)
    };
    let now = Utc::now().timestamp();
    // Round 56: the last record repeats the writer and serials of the
    // first, whose commit is on HEAD's line (a write reverted by hand,
    // the serial then reused); logged after that commit, it is not it.
    let again = adding("again", 2611220001);
    let (f, h) = restart_with_log(
        dir,
        vec![
            entry(2611210007, 2611220001, "key-z", &zero, Some(now - 60)),
            entry(2611220001, 2611220002, "key-a", &one, None),
            entry(2611220002, 2611220003, "key-b", &two, Some(now - 30)),
            entry(2611210007, 2611220001, "key-z", &again, Some(now + 3600)),
        ],
    );
    let authors: Vec<&str> = h.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        authors[..6],
        ["zonewright", "key-z", "Person", "key-a", "key-b", "key-z"],
        "{h:#?}"
    );
    assert!(h[3].2.contains("\"one\""), "{}", h[3].2);
    assert!(h[4].2.contains("\"two\""), "{}", h[4].2);
    for (_, _, text) in &h[3..] {
        assert!(
            text.contains("2612079990") || !text.contains("26112200"),
            "serial lowered: {text}"
        );
    }
    // Every write served, in the file and in HEAD; the serial above the
    // person's.
    let file = f.text();
    for value in ["zero", "one", "two", "again"] {
        assert!(file.contains(&format!("\"{value}\"")), "{value}: {file}");
        assert!(
            h.last().expect("head").2.contains(&format!("\"{value}\"")),
            "{value}"
        );
    }
    assert_eq!(f.served("_acme-challenge.example.com.", RecordType::TXT), 4);
    let serial = f.serial();
    assert!(Serial(serial).is_after(Serial(2612079990)), "{serial}");
}

/// Round 56 and 57: a person removed the zone file in git and committed it
/// while the server was down after a crash in log mode, then put back a
/// copy from before the writes, with a line of their own. Start-up used
/// to commit the file as found under one key, with a message naming
/// writes it lacked (the writes lost), and then to apply the records onto
/// the file as found (the person's line and another key's write inside a
/// key's commit). The file git last had is put back first; each record's
/// commit holds its write and nothing else; the person's line comes in
/// the take-in's commit; the zone serves everything.
#[test]
fn records_of_a_file_git_no_longer_has_are_each_committed_with_only_their_write() {
    let f = Fixture::with(crate::config::Acknowledge::Log);
    f.store.commit_external_changes();
    let path = f.zone_path();
    let Fixture { dir, store } = f;
    drop(store);
    let repo = git2::Repository::open(dir.path().join("zones")).expect("repo");
    let mut index = repo.index().expect("index");
    index
        .remove_path(Path::new("example.com.zone"))
        .expect("rm");
    index.write().expect("index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let sig = git2::Signature::now("Person", "p@test").expect("sig");
    let parent = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "remove the zone\n",
        &tree,
        &[&parent],
    )
    .expect("commit");
    let person = "person IN A 192.0.2.99";
    std::fs::write(&path, format!("{ZONE}{person}\n")).expect("the copy from before");
    let adding = |value: &str, serial| ChangeSet {
        add: vec![txt("_acme-challenge.example.com.", value)],
        remove: Vec::new(),
        serial: Some(serial),
    };
    let (one, two) = (adding("one", 2611220001), adding("two", 2611220002));
    let (f, h) = restart_with_log(
        dir,
        vec![
            logged(2611210007, 2611220001, "key-a", &one),
            logged(2611220001, 2611220002, "key-b", &two),
        ],
    );
    let by = |author: &str| -> Vec<&(String, String, String)> {
        h.iter().filter(|(a, _, _)| a == author).collect()
    };
    let (a, b) = (by("key-a"), by("key-b"));
    assert_eq!((a.len(), b.len()), (1, 1), "{h:#?}");
    assert!(
        a[0].2.contains("\"one\"") && !a[0].2.contains("\"two\""),
        "{}",
        a[0].2
    );
    assert!(
        b[0].2.contains("\"one\"") && b[0].2.contains("\"two\""),
        "{}",
        b[0].2
    );
    assert!(!a[0].2.contains(person) && !b[0].2.contains(person));
    let text = f.text();
    for line in ["\"one\"", "\"two\"", person] {
        assert!(text.contains(line), "{line}: {text}");
        assert!(h.last().expect("head").2.contains(line), "{line}");
    }
    assert_eq!(f.served("_acme-challenge.example.com.", RecordType::TXT), 2);
}

/// While git refuses commits (a ref lock a live process holds), the write
/// answered from the log is held, not rolled back; later writes are
/// refused with nothing written; once the lock is gone the held write is
/// committed under its writer and writes are taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_write_git_refuses_is_held_and_later_writes_are_refused() {
    let f = Fixture::with(crate::config::Acknowledge::Log);
    f.store.commit_external_changes();
    let git_dir = f.dir.path().join("zones/.git");
    let head = std::fs::read_to_string(git_dir.join("HEAD")).expect("HEAD");
    let lock = git_dir.join(format!("{}.lock", head.trim().trim_start_matches("ref: ")));
    let held = std::fs::File::create(&lock).expect("lock");
    let out = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "held")]))
        .await;
    assert!(
        matches!(out, Ok(WriteOutcome::Written { logged: true, .. })),
        "{out:?}"
    );
    f.store.inner.committer.barrier();
    assert_eq!(f.store.inner.committer.waiting(), 1);
    let before = f.text();
    let refused = f
        .store
        .write(adding(vec![txt("_acme-challenge.example.com.", "refused")]))
        .await;
    assert!(
        matches!(&refused, Err(WriteError::Failed(m)) if m.contains("1 answered writes wait in the write log")),
        "{refused:?}"
    );
    assert_eq!(f.text(), before, "nothing written");
    assert!(f.text().contains("\"held\""), "never rolled back");
    drop(held);
    std::fs::remove_file(&lock).expect("unlock");
    eventually("the held write is committed", || f.commits() == 2);
    let h = history(&f);
    assert_eq!(h[1].0, "acme-key", "{h:#?}");
    assert!(h[1].1.contains("\"held\""), "{}", h[1].1);
    eventually("writes are taken again", || {
        f.store.inner.committer.waiting() == 0
    });
    f.store
        .write(adding(vec![txt("_acme-challenge.example.com.", "after")]))
        .await
        .expect("write after");
}

/// A person's edit found (by a reload) while a logged write waits for git
/// is committed after that write, as the server's: the file it read holds
/// the write too, and committing it first would record the write as the
/// person's, and then undo the edit with the write's older text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_found_while_a_logged_write_is_held_is_committed_after_it() {
    let f = Fixture::with(crate::config::Acknowledge::Log);
    f.store.commit_external_changes();
    let git_dir = f.dir.path().join("zones/.git");
    let head = std::fs::read_to_string(git_dir.join("HEAD")).expect("HEAD");
    let lock = git_dir.join(format!("{}.lock", head.trim().trim_start_matches("ref: ")));
    let held = std::fs::File::create(&lock).expect("lock");
    f.store
        .write(adding(vec![txt("_acme-challenge.example.com.", "first")]))
        .await
        .expect("write");
    f.store.inner.committer.barrier();
    assert_eq!(f.store.inner.committer.waiting(), 1);
    // The person appends a record and raises the serial.
    let text = f.text();
    let serial = f
        .store
        .state()
        .snapshot()
        .find(&origin())
        .map(|z| z.serial())
        .expect("zone");
    let edited = format!(
        "{}hand IN A 192.0.2.99\n",
        text.replace(&serial.to_string(), "2612010001")
    );
    std::fs::write(f.zone_path(), &edited).expect("edit");
    let mut report = f.store.state().reload();
    let pending = external::commit_on_reload(f.store.state(), &mut report);
    // Taken in as saved by the reload, or left to the store (the first
    // edit since the start reads the recent writes from git first).
    if report.deferred.is_empty() {
        assert_eq!(pending.len(), 1, "the edit is queued");
    } else {
        f.store.take_in(&origin()).await.expect("taken in");
    }
    drop(held);
    std::fs::remove_file(&lock).expect("unlock");
    eventually("both are committed", || f.commits() == 3);
    let h = history(&f);
    assert_eq!(h[1].0, "acme-key", "{h:#?}");
    assert!(
        !h[1].2.contains("192.0.2.99"),
        "the write's commit has its own text"
    );
    assert!(h[1].2.contains("\"first\""));
    assert_eq!(h[2].0, "zonewright", "{h:#?}");
    assert!(h[2].1.contains("external change"), "{}", h[2].1);
    assert_eq!(h[2].2, edited);
}

/// A person's edit published by a reload is committed before a write made
/// on top of it, however late the reload's thread queues its commit: the
/// write's commit waits at the place the edit took when it was published.
/// Before, the write's commit went first and the edit's then removed the
/// write's record in `git log -p` (the file kept it; the next write's
/// commit added it again under that writer: one write added twice, seen
/// once in `coexist::a_racing_editor_loses_no_acknowledged_update_udp`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_edit_is_committed_before_a_write_made_on_top_of_it() {
    let f = Fixture::new();
    f.store.commit_external_changes();
    // Saved in place with `serial` and `line` appended, as an editor would.
    let edit = |serial: u32, line: &str| {
        let text: String = f
            .text()
            .split_inclusive('\n')
            .map(|l| match l.contains("; serial") {
                true => format!("        {serial} ; serial\n"),
                false => l.to_owned(),
            })
            .collect();
        std::fs::write(f.zone_path(), format!("{text}{line}\n")).expect("edit");
    };
    // The first edit since the start is left to the store (which reads
    // the recent writes back from git); the second is published by the
    // reload itself.
    edit(2612010001, "hand1 IN A 192.0.2.91");
    let mut report = f.store.state().reload();
    drop(external::commit_on_reload(f.store.state(), &mut report));
    for zone in &report.deferred {
        f.store.take_in(zone).await.expect("taken in");
    }
    f.store.inner.committer.barrier();
    let before = f.commits();
    edit(2612010002, "hand2 IN A 192.0.2.92");
    let mut report = f.store.state().reload();
    assert!(report.deferred.is_empty(), "{report:?}");
    assert_eq!(report.documents.len(), 1, "{report:?}");
    // A write on top of it, installed before the reload queues its commit.
    let tok = txt("_acme-challenge.example.com.", "tok");
    let write = f.store.write(adding(vec![tok]));
    let reload_later = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while f.served("_acme-challenge.example.com.", RecordType::TXT) == 0 {
            assert!(Instant::now() < deadline, "the write was never served");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        external::commit_on_reload(f.store.state(), &mut report)
    };
    let (written, queued) = tokio::join!(write, reload_later);
    written.expect("write");
    assert_eq!(queued.len(), 1);
    f.store.inner.committer.barrier();
    let h = history(&f);
    assert_eq!(f.commits(), before + 2, "{h:#?}");
    let (edit_commit, write_commit) = (&h[h.len() - 2], &h[h.len() - 1]);
    assert!(edit_commit.1.contains("external change"), "{h:#?}");
    assert!(edit_commit.2.contains("hand2"), "{h:#?}");
    assert!(!edit_commit.2.contains("\"tok\""), "{h:#?}");
    assert_eq!(write_commit.0, "acme-key", "{h:#?}");
    assert_eq!(write_commit.2, f.text());
    // Each added once, in order.
    let added = |needle: &str| {
        h.windows(2)
            .filter(|w| !w[0].2.contains(needle) && w[1].2.contains(needle))
            .count()
    };
    assert_eq!(added("\"tok\""), 1, "{h:#?}");
    assert_eq!(added("hand2"), 1, "{h:#?}");
}

/// A large edited file's blob is written by the reload that reads it,
/// before the edit takes its place in the commit order: the commit then
/// only finds it, and the writes queued behind it do not wait for the
/// compression (seconds for a 200 MB file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_edit_s_blob_is_written_before_its_place_in_the_commit_order_is_taken() {
    let f = Fixture::new();
    f.store.commit_external_changes();
    let mut text = f.text().replace("2611210007", "2612010001");
    for i in 0..50_000 {
        text.push_str(&format!("h{i} IN A 192.0.2.{}\n", i % 250 + 1));
    }
    assert!(text.len() > 1 << 20, "{} bytes", text.len());
    std::fs::write(f.zone_path(), &text).expect("edit");
    let blob = git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()).expect("hash");
    assert!(f.repo().find_blob(blob).is_err(), "not written yet");
    let mut report = f.store.state().reload();
    assert!(f.repo().find_blob(blob).is_ok(), "written by the reload");
    drop(external::commit_on_reload(f.store.state(), &mut report));
    for zone in &report.deferred {
        f.store.take_in(zone).await.expect("taken in");
    }
    f.store.inner.committer.barrier();
    assert_eq!(history(&f).last().map(|h| h.2.len()), Some(text.len()));
}

/// Round 50 L7: a record written at or below a delegation in the zone (an
/// ACME challenge for a delegated name sent to the parent) is never
/// answered: the write goes through, with a WARN saying why it will not
/// be seen. Glue (an address its NS records name), and NS and DS at the
/// cut, are what such names are for: no WARN. Round 52: an address that
/// is no NS target, and an NS below the cut, are warned too.
#[test]
fn a_record_queries_will_never_see_is_written_with_a_warn() {
    #[derive(Clone, Default)]
    struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lines").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // The zone after the write (ZONE and `extra`), and the WARN lines
    // logged for `added`.
    let warned = |extra: &str, added: &[Rr]| -> Vec<String> {
        let text = format!("{ZONE}{extra}");
        let doc =
            crate::zonefile::Document::parse("x", &text, &origin(), &crate::zonefile::NoIncludes)
                .expect("parse");
        let records = doc.records().map(|(r, l)| (r.clone(), l.clone())).collect();
        let (zone, _) = crate::zone::Zone::build(origin(), records).expect("zone");
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            warn_unanswered(&zone, added, &adding(Vec::new()));
        });
        let log = String::from_utf8(lines.0.lock().expect("lines").clone()).expect("utf-8");
        log.lines()
            .filter(|l| l.contains("WARN"))
            .map(str::to_owned)
            .collect()
    };
    let rr = |name: &str, rtype: RecordType, rdata: &[u8]| Rr {
        name: Name::from_ascii(name).expect("name"),
        ttl: 60,
        rtype,
        rdata: Rdata::new(rdata.to_vec()),
    };
    let ns_sub = b"\x02ns\x03sub\x07example\x03com\x00";
    let w = warned(
        "sub IN NS ns.sub\nns.sub IN A 192.0.2.53\n",
        &[
            txt("_acme-challenge.sub.example.com.", "occluded"),
            txt("sub.example.com.", "at the cut"),
            rr("x.y.sub.example.com.", RecordType::A, &[192, 0, 2, 9]),
            rr("q.sub.example.com.", RecordType::NS, ns_sub),
            txt("_acme-challenge.example.com.", "fine"),
            rr("NS.Sub.example.com.", RecordType::A, &[192, 0, 2, 54]),
            rr("sub.example.com.", RecordType::NS, ns_sub),
        ],
    );
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(
        w[0].contains(
            "_acme-challenge.sub.example.com. TXT is at or below the delegation at \
             sub.example.com.: written, but queries for it get a referral to that zone's \
             servers instead"
        ),
        "{w:#?}"
    );
    for (line, what) in w[1..].iter().zip([
        "sub.example.com. TXT",
        "x.y.sub.example.com. A",
        "q.sub.example.com. NS",
    ]) {
        assert!(
            line.contains(&format!("{what} is at or below")),
            "{what}: {w:#?}"
        );
    }
    assert!(!w.iter().any(|l| l.contains("NS.Sub")), "glue: {w:#?}");
    // A delegation added over records already there (round 52): one WARN
    // saying how many it hides.
    let w = warned(
        "sub2 IN NS ns.other.net.\n_acme-challenge.sub2 IN TXT \"a\"\n\
         x.sub2 IN TXT \"b\"\nns.sub2 IN A 192.0.2.8\n",
        &[rr(
            "sub2.example.com.",
            RecordType::NS,
            b"\x02ns\x05other\x03net\x00",
        )],
    );
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].contains(
            "the delegation added at sub2.example.com. hides 2 record(s) already at or below it"
        ),
        "{w:#?}"
    );
}

/// Records start-up cannot commit do not pin the log: a record of a zone
/// no longer served is set aside (writes.log.unapplied, ERROR) and the log
/// emptied; an author name git would refuse is made one it takes.
#[test]
fn start_up_sets_aside_what_it_cannot_commit_and_empties_the_log() {
    let f = Fixture::with(crate::config::Acknowledge::Log);
    f.store.commit_external_changes();
    let Fixture { dir, store } = f;
    drop(store);
    let git = dir.path().join("zones/.git");
    let doc = crate::zonefile::Document::parse("x", ZONE, &origin(), &crate::zonefile::NoIncludes)
        .expect("parse");
    let add = ChangeSet {
        add: vec![txt("a.example.com.", "one")],
        remove: Vec::new(),
        serial: Some(2611220001),
    };
    let (doc1, _) = doc.apply(&add).expect("apply");
    std::fs::write(
        dir.path().join("zones/example.com.zone"),
        doc1.files()[0].text.as_str(),
    )
    .expect("write");
    let entry = |zone: &str, actor: &str| writelog::Entry {
        zone: zone.into(),
        old_serial: 2611210007,
        new_serial: 2611220001,
        actor: actor.into(),
        via: "rfc2136".into(),
        clients: vec!["127.0.0.1:40000".into()],
        requests: 1,
        add: add.add.iter().map(rr_line).collect(),
        at: None,
        remove: Vec::new(),
        files: Vec::new(),
    };
    // A record of the zone no longer served that git already holds (its
    // key's commit, with its serials) is not set aside (round 57: it was
    // listed at ERROR with the others).
    let mut committed = entry("gone.example.", "acme-key");
    (committed.old_serial, committed.new_serial) = (2611220001, 2611220002);
    {
        let repo = git2::Repository::open(dir.path().join("zones")).expect("repo");
        let head = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
        let sig = git2::Signature::now("acme-key", "zonewright@test").expect("sig");
        let message = "gone.example: +1 -0 TXT a.gone.example, serial 2611220002\n\n\
                       Actor: acme-key\nVia: rfc2136\nSerial: 2611220001 -> 2611220002\n";
        let tree = head.tree().expect("tree");
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])
            .expect("commit");
    }
    let mut bytes = Vec::new();
    for e in [
        entry("gone.example.", "acme-key"),
        committed,
        entry("example.com.", "Evil <e@x>\nSigned-off-by: root"),
    ] {
        bytes.extend(serde_json::to_vec(&e).expect("json"));
        bytes.push(b'\n');
    }
    std::fs::write(writelog::path_in(&git), bytes).expect("log");
    let f = Fixture::open(dir, crate::config::Acknowledge::Log);
    f.store.commit_external_changes();
    let h = history(&f);
    assert_eq!(h.len(), 3, "{h:#?}");
    assert_eq!(h[2].0, "Evil  e@x  Signed-off-by: root");
    assert!(!h[2].1.contains("\nSigned-off-by"), "{}", h[2].1);
    assert_eq!(std::fs::metadata(log_path(&f)).expect("log").len(), 0);
    let aside = std::fs::read_to_string(writelog::unapplied_path(&git)).expect("aside");
    assert!(aside.contains("gone.example."), "{aside}");
    assert_eq!(aside.lines().count(), 1, "{aside}");
    assert!(aside.contains("2611220001,"), "{aside}");
}

/// Batch merging of change sets: a remove cancels an earlier equal add
/// (same RR, same TTL), an add an earlier equal remove; a TTL change is a
/// remove and an add. Keyed by a map since a pull's 200,000 removes and
/// adds took minutes comparing each add with every remove.
#[test]
fn merging_change_sets_cancels_equal_rrs_and_keeps_the_rest() {
    let a = |name: &str, ttl: u32, last: u8| Rr {
        name: Name::from_ascii(name).expect("name"),
        ttl,
        rtype: RecordType::A,
        rdata: Rdata::new(vec![192, 0, 2, last]),
    };
    let mut merged = ChangeSet {
        add: vec![a("x.example.com.", 60, 1), a("y.example.com.", 60, 2)],
        remove: vec![a("z.example.com.", 60, 3)],
        serial: None,
    };
    merge(
        &mut merged,
        ChangeSet {
            // Cancels the add of x (case does not matter), not y's (TTL).
            remove: vec![a("X.example.com.", 60, 1), a("y.example.com.", 300, 2)],
            // Cancels the remove of z; w is new.
            add: vec![a("z.example.com.", 60, 3), a("w.example.com.", 60, 4)],
            serial: None,
        },
    );
    let names =
        |v: &[Rr]| -> Vec<(String, u32)> { v.iter().map(|r| (r.name.to_ascii(), r.ttl)).collect() };
    assert_eq!(
        names(&merged.add),
        [
            ("y.example.com.".to_owned(), 60),
            ("w.example.com.".to_owned(), 60)
        ]
    );
    assert_eq!(names(&merged.remove), [("y.example.com.".to_owned(), 300)]);
    // Many at once: every remove is cancelled by its add.
    let n = 20_000u32;
    let many = |ttl| -> Vec<Rr> {
        (0..n)
            .map(|i| Rr {
                name: Name::from_ascii(format!("h{i}.example.com.")).expect("name"),
                ttl,
                rtype: RecordType::A,
                rdata: Rdata::new(i.to_be_bytes().to_vec()),
            })
            .collect()
    };
    let mut merged = ChangeSet::default();
    merge(
        &mut merged,
        ChangeSet {
            remove: many(60),
            add: many(60),
            serial: None,
        },
    );
    assert!(merged.add.is_empty() && merged.remove.is_empty());
}

/// Outside attack, round 14: a file held an RRset with two TTLs (served at
/// the first's); a write removed the first record, and the other stayed
/// served at the first's TTL while the file gave it `$TTL`'s, so the TTL
/// served changed at the next reload. It is now served as the file says.
#[tokio::test]
async fn a_write_serves_an_rrset_at_the_ttl_its_file_gives_it() {
    let f = Fixture::new();
    let mut text = f.text();
    text.push_str("mixed 60 IN TXT \"first\"\n      IN TXT \"second\"\n");
    std::fs::write(f.zone_path(), text).expect("edit");
    let name = "mixed.example.com.";
    let first = txt(name, "first");
    let request = WriteRequest {
        compute: Box::new(move |_: &Zone| {
            Ok(ChangeSet {
                remove: vec![first.clone()],
                ..ChangeSet::default()
            })
        }),
        ..adding(Vec::new())
    };
    f.store.write(request).await.expect("write");
    let after = f.text();
    assert!(!after.contains("\"first\""), "{after}");
    assert!(after.contains("IN TXT \"second\""), "{after}");
    let snap = f.store.state().snapshot();
    let n = Name::from_ascii(name).expect("name");
    let ttls: Vec<u32> = snap
        .find(&n)
        .map(|z| z.rrset(&n, RecordType::TXT).iter().map(|r| r.ttl).collect())
        .unwrap_or_default();
    assert_eq!(ttls, [3600], "served as the file gives it ($TTL 3600)");
}

/// A write-log record whose `files` names another zone's file, a path out
/// of the repository or into `.git` (a log edited by hand) is committed on
/// its own zone's file all the same, under its writer; no other file in
/// HEAD changes.
#[test]
fn a_logged_record_naming_a_file_not_its_zones_is_committed_on_its_own() {
    for named in [
        "other.test.zone",
        "./other.test.zone",
        "data/linked.db",
        "../../outside.zone",
        ".git/config",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let zones = dir.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        std::fs::write(zones.join("example.com.zone"), ZONE).expect("write zone");
        // Relative names: it would parse under any origin.
        let other = "$TTL 300\n@ IN SOA ns1 hostmaster 5 3600 900 604800 300\n@ IN NS ns1\n\
                     ns1 IN A 192.0.2.53\n";
        std::fs::write(zones.join("other.test.zone"), other).expect("write other");
        // A zone read through a link: its file has no zone's name.
        std::fs::create_dir(zones.join("data")).expect("mkdir");
        std::fs::write(zones.join("data/linked.db"), other).expect("write linked");
        std::os::unix::fs::symlink("data/linked.db", zones.join("linked.test.zone")).expect("ln");
        let f = Fixture::open(dir, crate::config::Acknowledge::Log);
        f.store.commit_external_changes();
        let head_of = |f: &Fixture, file: &str| {
            let repo = f.repo();
            let tree = repo.head().and_then(|h| h.peel_to_tree()).expect("tree");
            tree.get_path(Path::new(file)).map(|e| e.id()).ok()
        };
        let linked_before = head_of(&f, "data/linked.db");
        assert!(linked_before.is_some());
        let (other_before, config_before) = (
            head_of(&f, "other.test.zone"),
            std::fs::read(zones_git(&f).join("config")).expect("config"),
        );
        assert!(other_before.is_some());
        let Fixture { dir, store } = f;
        drop(store);
        let doc =
            crate::zonefile::Document::parse("x", ZONE, &origin(), &crate::zonefile::NoIncludes)
                .expect("parse");
        let add = ChangeSet {
            add: vec![txt("a.example.com.", "logged")],
            remove: Vec::new(),
            serial: Some(2611220001),
        };
        let (doc1, _) = doc.apply(&add).expect("apply");
        let written = doc1.files()[0].text.as_str().to_owned();
        std::fs::write(dir.path().join("zones/example.com.zone"), &written).expect("write");
        let entry = writelog::Entry {
            zone: "example.com.".into(),
            old_serial: 2611210007,
            new_serial: 2611220001,
            actor: "acme-key".into(),
            via: "rfc2136".into(),
            clients: vec!["127.0.0.1:40000".into()],
            requests: 1,
            at: None,
            add: add.add.iter().map(rr_line).collect(),
            remove: Vec::new(),
            files: vec![named.into()],
        };
        let mut bytes = serde_json::to_vec(&entry).expect("json");
        bytes.push(b'\n');
        let git = dir.path().join("zones/.git");
        std::fs::write(writelog::path_in(&git), bytes).expect("log");
        let f = Fixture::open(dir, crate::config::Acknowledge::Log);
        f.store.commit_external_changes();
        let h = history(&f);
        let last = h.last().expect("a commit");
        assert_eq!(last.0, "acme-key", "{named}: {h:#?}");
        assert_eq!(
            last.2, written,
            "{named}: the write's text, on its zone's file"
        );
        assert_eq!(head_of(&f, "other.test.zone"), other_before, "{named}");
        assert_eq!(head_of(&f, "data/linked.db"), linked_before, "{named}");
        assert_eq!(
            std::fs::read(zones_git(&f).join("config")).expect("config"),
            config_before,
            "{named}"
        );
        assert!(!f.dir.path().join("outside.zone").exists());
    }
}

fn zones_git(f: &Fixture) -> PathBuf {
    f.dir.path().join("zones/.git")
}

/// Round 47 LOW: the WARN of an edit taken in named every write it
/// re-applied on one line (1,419 writes: 60,000 characters); it names the
/// first ten and the last.
#[test]
fn a_long_list_of_re_applied_writes_is_cut_to_ten_and_the_last() {
    let entry = |serial: u32| super::recent::Entry {
        at: std::time::Instant::now(),
        changes: crate::rr::ChangeSet::default(),
        actor: "k".into(),
        via: "rfc2136",
        serial,
    };
    let few: Vec<_> = (1..=3).map(entry).collect();
    assert_eq!(
        super::listed(&few),
        "serial 1 by k via rfc2136; serial 2 by k via rfc2136; serial 3 by k via rfc2136"
    );
    let many: Vec<_> = (1..=1419).map(entry).collect();
    let line = super::listed(&many);
    assert!(line.starts_with("serial 1 by k via rfc2136; "), "{line}");
    assert!(
        line.ends_with(
            "; serial 10 by k via rfc2136; 1409 more, the last serial 1419 by k via rfc2136"
        ),
        "{line}"
    );
    assert!(line.len() < 400, "{}", line.len());
}

/// Round 53: the first edit after a start reads the rebase window's
/// commits back from git (`seed_recent`). It held the committer's handle
/// meanwhile, so on a repository of thousands of commits every write to
/// every zone waited 5 to 30 s. It now reads through a handle of its own:
/// with the committer's handle held, the window is still read.
#[test]
fn the_first_edit_after_a_start_reads_the_window_without_the_committer_s_handle() {
    let f = Fixture::new();
    let add = adding(vec![txt("w._acme-challenge.example.com.", "1")]);
    let written = f.store.inner.write_many_settled(&[&add]);
    assert!(
        matches!(written[..], [Ok(WriteOutcome::Written { .. })]),
        "{written:?}"
    );
    let Fixture { dir, store } = f;
    drop(store);
    // A new start: nothing of the window is in memory yet.
    let f = Fixture::open(dir, crate::config::Acknowledge::Commit);
    assert!(!f.store.inner.recent.is_seeded(&origin()));
    let (source, served) = f.store.inner.current(&origin()).expect("served");
    let held = f.store.inner.repo.lock().unwrap_or_else(|p| p.into_inner());
    let inner = f.store.inner.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        inner.seed_recent(&origin(), &source, &served);
        let _ = tx.send(inner.recent.is_seeded(&origin()));
    });
    let seeded = rx.recv_timeout(std::time::Duration::from_secs(20));
    drop(held);
    reader.join().expect("the reader thread");
    assert_eq!(
        seeded,
        Ok(true),
        "the window is read while the committer's handle is held"
    );
}
