//! Paths and repository state (issue 14): relative paths in the config
//! resolve against the config file's folder whatever the working directory,
//! the server refuses to start on a missing `zones_dir` or on a repository
//! with a detached HEAD or a merge under way, and a running server that
//! finds its repository so refuses writes (SERVFAIL, one ERROR) until it is
//! back on its branch. The real binary, real signed UPDATEs (dnspython),
//! the git CLI to look; every wait bounded.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use common::query;
use common::update::*;

/// A config in `zones/` beside the zone files (the example layout):
/// `zones_dir = "."` and the key's secret in a file named relatively.
fn example_layout(root: &Path, port: u16) -> PathBuf {
    let zones = root.join("zones");
    std::fs::create_dir_all(zones.join("keys")).unwrap();
    std::fs::write(zones.join(ZONE_FILE), fixture_zone()).unwrap();
    let secret = zones.join("keys/acme.key");
    std::fs::write(&secret, SECRET_SHA256).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let grant =
        r#"grant = [ { zone = "example.com", names = ["_acme-challenge.**"], types = ["TXT"] } ]"#;
    let config = format!(
        "listen = [\"127.0.0.1:{port}\"]\nzones_dir = \".\"\n[server]\nudp_workers = 1\n\
         [[zone]]\nname = \"example.com\"\nfile = \"./{ZONE_FILE}\"\n\
         [[key]]\nname = \"{ACME}\"\nalgorithm = \"hmac-sha256\"\n\
         secret_file = \"keys/acme.key\"\nrate_limit = \"off\"\n{grant}\n"
    );
    std::fs::write(zones.join("zonewright.toml"), config).unwrap();
    zones
}

/// A port free on loopback for both UDP and TCP, below the ephemeral
/// range ([`common::server_port`]; a start retries on a clash).
fn free_port() -> u16 {
    common::server_port()
}

/// `zonewright serve --config CONFIG` run in `cwd`, its log in `log`;
/// killed (by its PID) and reaped on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts the binary and waits (up to 10 s) until it answers the
    /// zone's SOA; `Err` with its log when it exits or never answers. A
    /// port another test took since it was picked is replaced (in the
    /// config, which names it) by a new one, up to 3 times.
    fn start(cwd: &Path, config: &Path, port: u16, log: PathBuf) -> Result<Server, String> {
        let mut port = port;
        for _ in 0..3 {
            match Server::start_once(cwd, config, port, log.clone()) {
                Err(e) if e.contains("Address already in use") => {
                    let file = cwd.join(config);
                    let text = std::fs::read_to_string(&file).unwrap();
                    let next = free_port();
                    let moved =
                        text.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{next}"));
                    std::fs::write(&file, moved).unwrap();
                    port = next;
                }
                other => return other,
            }
        }
        Server::start_once(cwd, config, port, log)
    }

    fn start_once(cwd: &Path, config: &Path, port: u16, log: PathBuf) -> Result<Server, String> {
        let child = common::serve_command(config, &log)
            .current_dir(cwd)
            .spawn()
            .unwrap();
        let mut s = Server {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = s.child.try_wait().unwrap() {
                return Err(format!("exited {st}: {}", s.log_text()));
            }
            let soa = udp_at(s.addr, &query("example.com.", RecordType::SOA));
            if soa.is_some_and(|m| m.metadata.response_code == ResponseCode::NoError) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(format!("not answering after 10 s: {}", s.log_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `zonewright serve --config CONFIG` in `cwd` that must not start: its
/// exit status and stderr (killed after 10 s).
fn refused(cwd: &Path, config: &Path) -> (bool, String) {
    let o = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_zonewright"))
            .current_dir(cwd)
            .args(["serve", "--config"])
            .arg(config),
        "",
        Duration::from_secs(10),
    );
    (o.status.success(), text(&o))
}

/// A signed UPDATE adding a TXT at `_acme-challenge.LABEL`.
fn add_txt(port: u16, label: &str) -> PyResult {
    let op = format!("add _acme-challenge.{label} 60 TXT \"{label}\"");
    py_update(port, &acme_py(), false, &[&op])
}

/// The config's path as seen from `cwd` (relative: `cwd` is an ancestor).
fn relative_to(cwd: &Path, config: &Path) -> PathBuf {
    config.strip_prefix(cwd).unwrap().to_path_buf()
}

#[test]
fn relative_zones_dir_from_three_working_directories_every_write_committed() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let zones = example_layout(root.path(), port);
    let config = zones.join("zonewright.toml");
    let cwds = [zones.clone(), root.path().to_path_buf(), PathBuf::from("/")];
    for (n, cwd) in cwds.iter().enumerate() {
        let rel = relative_to(cwd, &config);
        assert!(rel.is_relative(), "{rel:?}");
        let log = root.path().join(format!("server-{n}.log"));
        let server = Server::start(cwd, &rel, port, log)
            .unwrap_or_else(|e| panic!("serve from {cwd:?} --config {rel:?}: {e}"));
        wait_committed(&zones, ZONE_FILE);
        let label = format!("cwd-{n}");
        let r = add_txt(server.port(), &label);
        assert!(
            r.is_signed_ok(),
            "from {cwd:?}: {r:?}\n{}",
            server.log_text()
        );
        let last = commit(&zones, "HEAD");
        assert_eq!(last.author_name, ACME, "from {cwd:?}: {last:?}");
        assert!(last.message.contains(&label), "from {cwd:?}: {last:?}");
        assert!(file_status(&zones, ZONE_FILE).is_empty(), "from {cwd:?}");
        let log = server.log_text();
        assert!(!log.contains("not inside the git repository"), "{log}");
        assert!(errors(&log).is_empty(), "from {cwd:?}: {log}");
    }
    // One commit per write, each under the key.
    let authors = git(&zones, &["log", "--format=%an", "-3"]);
    assert_eq!(authors.lines().collect::<Vec<_>>(), [ACME; 3]);
}

#[test]
fn a_missing_zones_dir_is_refused_naming_it_and_init_creates_it() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = root.path().join("zonewright.toml");
    std::fs::write(
        &config,
        format!("listen = [\"127.0.0.1:{port}\"]\nzones_dir = \"no-such-zones\"\n"),
    )
    .unwrap();
    let (ok, out) = refused(root.path(), Path::new("zonewright.toml"));
    assert!(!ok, "{out}");
    let missing = root.path().join("no-such-zones");
    assert!(
        out.contains(&format!("zones_dir {} does not exist", missing.display())),
        "{out}"
    );
    assert!(out.contains("--init"), "{out}");
    assert!(!missing.exists());

    // `--init` creates it (and its repository) and serves.
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonewright"))
        .current_dir("/")
        .args(["serve", "--init", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !missing.join(".git").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(missing.is_dir() && missing.join(".git").exists());
    assert!(still_running, "serve --init should keep serving");
}

#[test]
fn a_detached_head_or_a_merge_in_progress_is_refused_at_start() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let zones = example_layout(root.path(), port);
    git(&zones, &["init", "-q", "-b", "main"]);
    git_commit_all(&zones, "one");
    std::fs::write(zones.join("other.txt"), "two\n").unwrap();
    git_commit_all(&zones, "two");

    git(&zones, &["checkout", "-q", "--detach"]);
    let (ok, out) = refused(&zones, Path::new("zonewright.toml"));
    assert!(!ok, "{out}");
    assert!(out.contains("HEAD is detached"), "{out}");
    assert!(out.contains(&zones.display().to_string()), "{out}");
    git(&zones, &["checkout", "-q", "main"]);

    // HEAD on a branch that does not exist: a first commit there would
    // start a new history beside main's.
    git(&zones, &["symbolic-ref", "HEAD", "refs/heads/mian"]);
    let (ok, out) = refused(&zones, Path::new("zonewright.toml"));
    assert!(!ok, "{out}");
    assert!(
        out.contains("refs/heads/mian, which does not exist") && out.contains("switch"),
        "{out}"
    );
    git(&zones, &["symbolic-ref", "HEAD", "refs/heads/main"]);

    // A merge that stopped on a conflict.
    git(&zones, &["checkout", "-q", "-b", "side", "HEAD~1"]);
    std::fs::write(zones.join("other.txt"), "side\n").unwrap();
    git_commit_all(&zones, "side");
    let merge = git_try(
        &zones,
        &["-c", "user.name=t", "-c", "user.email=t@t", "merge", "main"],
    );
    assert!(
        !merge.status.success(),
        "the merge should stop on a conflict"
    );
    let (ok, out) = refused(&zones, Path::new("zonewright.toml"));
    assert!(!ok, "{out}");
    assert!(
        out.contains("a merge is in progress") && out.contains("merge --abort"),
        "{out}"
    );
    assert!(
        !out.contains("HEAD is detached"),
        "the merge is the news: {out}"
    );
    git(&zones, &["merge", "--abort"]);
    let log = root.path().join("server.log");
    let server = Server::start(&zones, Path::new("zonewright.toml"), port, log)
        .unwrap_or_else(|e| panic!("a repository at rest serves: {e}"));
    drop(server);
}

/// Lines of the log at ERROR level.
fn errors(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(" ERROR ")).collect()
}

#[test]
fn a_head_detached_while_running_fails_writes_until_back_on_the_branch() {
    refused_while_off_the_branch(
        &|z| drop(git(z, &["checkout", "-q", "--detach"])),
        &|z, _| drop(git(z, &["checkout", "-q", "main"])),
        "HEAD is detached",
    );
}

/// The branch HEAD names deleted under a running server (or HEAD pointed
/// at a misspelt one): the look before each write refuses it, so nothing
/// is written or served (round 34, LOW: the write was made, served for a
/// few ms, then refused by the commit and rolled back, two serials and two
/// ERRORs a write), and the branch put back makes writes work again.
#[test]
fn a_missing_branch_while_running_fails_writes_before_anything_is_written() {
    refused_while_off_the_branch(
        &|z| drop(git(z, &["update-ref", "-d", "refs/heads/main"])),
        &|z, tip| drop(git(z, &["update-ref", "refs/heads/main", tip])),
        "HEAD names the branch refs/heads/main, which does not exist",
    );
    refused_while_off_the_branch(
        &|z| drop(git(z, &["symbolic-ref", "HEAD", "refs/heads/mian"])),
        &|z, _| drop(git(z, &["symbolic-ref", "HEAD", "refs/heads/main"])),
        "refs/heads/mian, which does not exist",
    );
}

/// A server on a repository on `main`: one write, then `off` takes HEAD
/// off the branch; three writes are refused with `why`, nothing written,
/// served or committed, one ERROR; `back` (given the tip) restores it and
/// the next write is committed under its key on `main`.
fn refused_while_off_the_branch(off: &dyn Fn(&Path), back: &dyn Fn(&Path, &str), why: &str) {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let zones = example_layout(root.path(), port);
    git(&zones, &["init", "-q", "-b", "main"]);
    git_commit_all(&zones, "start");
    let log = root.path().join("server.log");
    let server = Server::start(&zones, Path::new("zonewright.toml"), port, log)
        .unwrap_or_else(|e| panic!("{e}"));
    let r = add_txt(server.port(), "before");
    assert!(r.is_signed_ok(), "{r:?}");
    let committed = commit_count(&zones);
    let tip = git(&zones, &["rev-parse", "HEAD"]).trim().to_owned();
    let before = written(&zones);

    off(&zones);
    for i in 0..3 {
        let r = add_txt(server.port(), &format!("off-{i}"));
        assert_eq!(r.rcode, "SERVFAIL", "write {i}: {r:?}");
        // Never served, not even for an instant before a rollback.
        let got = udp_at(
            server.addr,
            &query(
                &format!("_acme-challenge.off-{i}.example.com."),
                RecordType::TXT,
            ),
        );
        assert!(
            got.is_some_and(|m| m.answers.is_empty()),
            "write {i} served"
        );
    }
    // Queries go on.
    let soa = udp_at(server.addr, &query("example.com.", RecordType::SOA));
    assert!(soa.is_some_and(|m| m.metadata.response_code == ResponseCode::NoError));
    let log = server.log_text();
    let errs = errors(&log);
    assert_eq!(errs.len(), 1, "one ERROR, not one per write: {log}");
    assert!(errs[0].contains(why), "{log}");
    assert!(
        !log.contains("rolled back the writes") && log.matches("zone written").count() == 1,
        "one write made (before), nothing to roll back: {log}"
    );

    back(&zones, &tip);
    // Nothing written (the file's bytes and mtime: a rollback would have
    // rewritten it), nothing committed.
    assert_nothing_written(&before, &zones, why);
    assert_eq!(commit_count(&zones), committed);
    // Usable again: the next write is committed under the key (bounded
    // retries, in case the first lands in the same instant as the switch).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tries = 0;
    let r = loop {
        tries += 1;
        let r = add_txt(server.port(), &format!("after-{tries}"));
        if r.is_signed_ok() || tries >= 5 || Instant::now() >= deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        r.is_signed_ok(),
        "after the switch back: {r:?}\n{}",
        server.log_text()
    );
    assert_eq!(
        tries, 1,
        "the first write after the switch back should work"
    );
    let last = commit(&zones, "HEAD");
    assert_eq!(last.author_name, ACME, "{last:?}");
    assert!(last.message.contains("after-1"), "{last:?}");
    assert_eq!(commit(&zones, "HEAD~1").id, tip, "on the same history");
    assert!(file_status(&zones, ZONE_FILE).is_empty());
    let log = server.log_text();
    assert_eq!(errors(&log).len(), 1, "{log}");
    assert!(log.contains("usable again"), "INFO when it recovers: {log}");
    let branch = git(&zones, &["branch", "--contains", "HEAD"]);
    assert!(branch.contains("main"), "{branch}");
}

/// Round 54: a `[[zone]] file` inside a folder that is a git repository of
/// its own (another zonewright's zones folder, nested in this one's) was
/// written and committed by both servers, each taking the other's writes
/// for edits. The zone is served; its writes are refused, naming the
/// repository, and nothing is written or committed here.
#[test]
fn a_zone_file_inside_another_git_repository_is_not_written() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let zones = example_layout(root.path(), port);
    let inner = zones.join("inner");
    std::fs::create_dir(&inner).unwrap();
    git(&inner, &["init", "-q"]);
    std::fs::rename(zones.join(ZONE_FILE), inner.join(ZONE_FILE)).unwrap();
    let config = zones.join("zonewright.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let moved = text.replace(
        &format!("file = \"./{ZONE_FILE}\""),
        &format!("file = \"inner/{ZONE_FILE}\""),
    );
    assert_ne!(text, moved);
    std::fs::write(&config, moved).unwrap();
    let before = std::fs::read_to_string(inner.join(ZONE_FILE)).unwrap();
    let server = Server::start(
        &zones,
        Path::new("zonewright.toml"),
        port,
        root.path().join("s.log"),
    )
    .unwrap_or_else(|e| panic!("serve: {e}"));
    let r = add_txt(server.port(), "nested");
    assert_eq!(r.rcode, "SERVFAIL", "{r:?}\n{}", server.log_text());
    let log = server.log_text();
    assert!(log.contains("a git repository of its own"), "{log}");
    assert_eq!(
        std::fs::read_to_string(inner.join(ZONE_FILE)).unwrap(),
        before
    );
    let tracked = git(&zones, &["ls-files"]);
    assert!(!tracked.contains(ZONE_FILE), "{tracked}");
}
