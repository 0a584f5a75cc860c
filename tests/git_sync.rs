//! `[git] remote`: the zones repository as a peer of a git remote. The
//! real binary (`zonewright serve`) over a clone of a bare repository,
//! the git CLI as the operator (a second clone, "the laptop"), signed
//! UPDATEs and queries over real sockets on 127.0.0.1, syncs asked for by
//! `POST /v1/git/sync` and by SIGUSR1.
//!
//! - the operator's pushes (an add, a delete, an RRset the UPDATEs also
//!   changed, a broken file, its fix) are merged while UPDATEs stream in;
//!   nothing acknowledged is lost unless the conflict rule says so (and
//!   then it is reported), and the server's history goes back to the
//!   remote as merge commits;
//! - zone files the remote adds are served, those it removes are dropped;
//! - the same over `git daemon` (git://);
//! - secondaries get a pull's change by IXFR;
//! - the endpoint's tokens, a symlink, a `.git/` path and the server's
//!   own config file in the remote, and bad `[git] remote` names.
//!
//! Every git command runs with `GIT_CONFIG_NOSYSTEM=1` and a HOME in the
//! test's temp folder; every wait is bounded in count and time.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::update::{run_bounded, text, txt_values};
use common::{a_addrs, query, serial_of, wire};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::Value;

const ZONE_FILE: &str = "example.com.zone";
const SYNC_TOKEN: &str = "sync-token-0123456789";
/// A token of the same server without `git_sync`.
const PLAIN_TOKEN: &str = "plain-token-0123456789";

/// The zone the remote starts with. `shared` is the RRset both sides
/// change (TTL 60, as the UPDATEs add with TTL 60, so that an UPDATE's
/// add leaves the base record as it is).
const SEED_ZONE: &str = "$ORIGIN example.com.\n\
$TTL 300\n\
@ IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300\n\
\x20 IN NS ns1.example.com.\n\
ns1 IN A 192.0.2.1\n\
www IN A 192.0.2.80\n\
static IN A 192.0.2.7\n\
shared 60 IN TXT \"base\"\n";

const NET_ZONE: &str = "$ORIGIN example.net.\n\
$TTL 300\n\
@ IN SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300\n\
\x20 IN NS ns1.example.net.\n\
ns1 IN A 192.0.2.1\n\
www IN A 192.0.2.99\n";

/// The `[git]` sync keys of most tests: the remote is the clone's
/// `origin`; pulls only when asked.
const SYNC_KEYS: &str = "remote = \"origin\"\nbranch = \"main\"\npull_interval = \"off\"\n\
push = true\npush_interval = \"500ms\"\nsync_timeout = \"20s\"\n";

// ------------------------------------------------------------------- git

/// Where git keeps its programs (`git --exec-path`), if git is here.
fn git_exec_path() -> Option<PathBuf> {
    let o = Command::new("git").arg("--exec-path").output().ok()?;
    o.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

/// Whether the `git` program (and, when `daemon`, `git daemon`) is here.
fn git_available(daemon: bool) -> bool {
    git_exec_path().is_some_and(|exec| !daemon || exec.join("git-daemon").exists())
}

/// The environment every git command of a test gets: no system config,
/// a HOME (and XDG config folder) of its own, no prompts.
fn git_env(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
}

fn git_try(home: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    git_env(&mut cmd, home);
    run_bounded(&mut cmd, "", Duration::from_secs(20))
}

/// Runs git in `dir`; its stdout. Panics on failure.
fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    let o = git_try(home, dir, args);
    assert!(o.status.success(), "git {args:?} in {dir:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Test folder: a bare `remote.git`, and once cloned, the server's clone
/// `zones/` (with `zonewright.toml`) and the operator's `laptop/`.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    remote: PathBuf,
    zones: PathBuf,
    laptop: PathBuf,
}

impl Fixture {
    /// The temp folder and an empty bare repository `remote.git`.
    fn bare() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let home = root.join("home");
        std::fs::create_dir_all(home.join(".config")).unwrap();
        let remote = root.join("remote.git");
        git(
            &home,
            &root,
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        Fixture {
            _tmp: tmp,
            zones: root.join("zones"),
            laptop: root.join("laptop"),
            root,
            home,
            remote,
        }
    }

    /// A bare remote, seeded and cloned over its `file://` URL.
    fn new() -> Fixture {
        let fx = Fixture::bare();
        let url = format!("file://{}", fx.remote.display());
        fx.seed_and_clone(&url);
        fx
    }

    /// A seed clone of `url` commits the zone and `.gitignore` and pushes
    /// them; then `zones/` and `laptop/` are cloned from `url`.
    fn seed_and_clone(&self, url: &str) {
        let seed = self.root.join("seed");
        self.git(&self.root, &["clone", "-q", url, "seed"]);
        self.identity(&seed, "seed");
        std::fs::write(seed.join(ZONE_FILE), SEED_ZONE).unwrap();
        std::fs::write(
            seed.join(".gitignore"),
            ".*.lock\n.zonewright-*.tmp\nzonewright.toml\n",
        )
        .unwrap();
        self.git(&seed, &["add", "-A"]);
        self.git(&seed, &["commit", "-q", "-m", "seed: example.com"]);
        self.git(&seed, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
        self.git(&self.root, &["clone", "-q", "-b", "main", url, "zones"]);
        self.git(&self.root, &["clone", "-q", "-b", "main", url, "laptop"]);
        self.identity(&self.laptop, "operator");
    }

    fn identity(&self, dir: &Path, who: &str) {
        self.git(dir, &["config", "user.name", who]);
        self.git(dir, &["config", "user.email", &format!("{who}@test")]);
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        git(&self.home, dir, args)
    }

    fn git_try(&self, dir: &Path, args: &[&str]) -> Output {
        git_try(&self.home, dir, args)
    }

    fn rev(&self, dir: &Path, rev: &str) -> String {
        self.git(dir, &["rev-parse", "--verify", rev])
            .trim()
            .to_string()
    }

    /// The remote's main.
    fn remote_main(&self) -> String {
        self.rev(&self.remote, "refs/heads/main")
    }

    fn zones_head(&self) -> String {
        self.rev(&self.zones, "HEAD")
    }

    /// `git log --graph` of `dir` at `rev`, for failure messages.
    fn graph(&self, dir: &Path, rev: &str) -> String {
        self.git(dir, &["log", "--graph", "--oneline", "-n", "60", rev])
    }

    /// The merge commits reachable from `rev` in `dir`: (commit, parents).
    fn merges(&self, dir: &Path, rev: &str) -> Vec<(String, Vec<String>)> {
        self.git(dir, &["rev-list", "--parents", "--merges", rev])
            .lines()
            .map(|l| {
                let mut f = l.split_whitespace().map(str::to_owned);
                let id = f.next().unwrap();
                (id, f.collect())
            })
            .collect()
    }

    /// The merge commit (in `dir` at `rev`) with `parent` as a parent.
    fn merge_of(&self, dir: &Path, rev: &str, parent: &str) -> Option<String> {
        self.merges(dir, rev)
            .into_iter()
            .find(|(_, ps)| ps.iter().any(|p| p == parent))
            .map(|(id, _)| id)
    }

    fn message(&self, dir: &Path, rev: &str) -> String {
        self.git(dir, &["log", "-1", "--format=%B", rev])
    }

    /// One operator commit on the remote's current main, pushed: fetch,
    /// reset to `origin/main`, `prepare`, `edit` the laptop's work tree,
    /// commit everything, push. A push the server's own push beat (the
    /// remote moved in between) is made again on the new main, up to 20
    /// times. Returns the commit pushed.
    fn operator_push(
        &self,
        message: &str,
        mut prepare: impl FnMut(usize),
        mut edit: impl FnMut(&Path),
    ) -> String {
        let l = &self.laptop;
        let mut last = String::new();
        for attempt in 0..20 {
            self.git(l, &["fetch", "-q", "origin"]);
            self.git(l, &["reset", "-q", "--hard", "origin/main"]);
            self.git(l, &["clean", "-q", "-fd"]);
            prepare(attempt);
            edit(l);
            self.git(l, &["add", "-A"]);
            self.git(l, &["commit", "-q", "-m", message]);
            let o = self.git_try(l, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
            if o.status.success() {
                return self.rev(l, "HEAD");
            }
            last = text(&o);
            std::thread::sleep(Duration::from_millis(30));
        }
        panic!("the operator's push of {message:?} was rejected 20 times: {last}");
    }
}

/// Rewrites the laptop's zone file with `f`.
fn edit_zone(laptop: &Path, file: &str, f: impl FnOnce(&str) -> String) {
    let path = laptop.join(file);
    let old = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, f(&old)).unwrap();
}

/// Symlinks under `dir`, `.git` aside (at most 10,000 entries looked at).
fn symlinks_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            seen += 1;
            assert!(seen < 10_000, "too many files under {dir:?}");
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                found.push(entry.path());
            } else if kind.is_dir() && entry.file_name() != ".git" {
                todo.push(entry.path());
            }
        }
    }
    found
}

/// The owner (first field) of a zone file line.
fn owner(line: &str) -> Option<&str> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    line.split_whitespace().next()
}

// ----------------------------------------------------------------- ports

/// A port free on loopback for both UDP and TCP, below the ephemeral
/// range ([`common::server_port`]; a start retries on a clash).
fn free_port() -> u16 {
    common::server_port()
}

// ---------------------------------------------------------------- server

/// `zonewright serve` over `zones/zonewright.toml`; killed and reaped on
/// drop (also when a test panics).
struct Server {
    child: Child,
    dns: SocketAddr,
    rest: SocketAddr,
    log: PathBuf,
    config: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's config: DNS on `dns`, REST on `rest`, the `[git]` table
/// with `git_keys` added (the sync settings, or none).
fn config_text(dns: u16, rest: u16, git_keys: &str) -> String {
    format!(
        "listen = [\"127.0.0.1:{dns}\"]\n\
         zones_dir = \".\"\n\
         [server]\nudp_workers = 1\n\
         [git]\nname = \"zonewright\"\nemail = \"zonewright@test\"\n{git_keys}\
         [rest]\nlisten = \"127.0.0.1:{rest}\"\nzones = [\"example.com\"]\n\
         [[rest.token]]\nname = \"forge\"\ntoken = \"{SYNC_TOKEN}\"\ngit_sync = true\n\
         [[rest.token]]\nname = \"plain\"\ntoken = \"{PLAIN_TOKEN}\"\n\
         [[zone]]\nname = \"example.com\"\nfile = \"{ZONE_FILE}\"\n\
         allow_transfer = [\"127.0.0.0/8\"]\n\
         [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\n\
         secret = \"{}\"\nrate_limit = \"off\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"**\"], types = [\"TXT\", \"A\"] }} ]\n",
        wire::SECRET_B64
    )
}

impl Server {
    /// Starts the binary over `fx.zones` with `git_keys` in `[git]`, on
    /// free ports (up to 5 tries), ready once its log says "serving", the
    /// REST API listens and the zone's SOA is answered (10 s per try).
    fn start(fx: &Fixture, git_keys: &str) -> Server {
        let mut last = String::new();
        for attempt in 0..5 {
            let (dns, rest) = (free_port(), free_port());
            let config = fx.zones.join("zonewright.toml");
            std::fs::write(&config, config_text(dns, rest, git_keys)).unwrap();
            let log = fx.root.join(format!("server-{attempt}.log"));
            let mut cmd = common::serve_command(&config, &log);
            git_env(&mut cmd, &fx.home);
            let child = cmd.spawn().unwrap();
            let mut s = Server {
                child,
                dns: SocketAddr::from((Ipv4Addr::LOCALHOST, dns)),
                rest: SocketAddr::from((Ipv4Addr::LOCALHOST, rest)),
                log,
                config,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(st) = s.child.try_wait().unwrap() {
                    last = format!("exited {st}: {}", s.log_text());
                    break;
                }
                let log = s.log_text();
                if log.contains("serving ")
                    && log.contains("REST API listening")
                    && s.udp(&query("example.com.", RecordType::SOA))
                        .is_some_and(|m| m.metadata.response_code == ResponseCode::NoError)
                {
                    return s;
                }
                if Instant::now() >= deadline {
                    last = format!("not ready after 10 s: {log}");
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(s);
        }
        panic!("zonewright serve did not start: {last}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// `kill -USR1`: pull and push now (no answer).
    fn sigusr1(&self) {
        let pid = rustix::process::Pid::from_raw(self.pid()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::USR1).unwrap();
    }

    /// One UDP query; `None` without an answer within 1 s.
    fn udp(&self, msg: &Message) -> Option<Message> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        sock.send_to(&msg.to_vec().unwrap(), self.dns).ok()?;
        let mut buf = vec![0u8; 65535];
        let start = Instant::now();
        for _ in 0..20 {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => return Message::from_vec(&buf[..n]).ok(),
                // Interrupted by a signal (see `add_txt`): wait on.
                Err(e)
                    if e.kind() == std::io::ErrorKind::Interrupted
                        && start.elapsed() < Duration::from_secs(1) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// A query over UDP that must be answered (3 tries).
    fn ask(&self, name: &str, rtype: RecordType) -> Message {
        for _ in 0..3 {
            if let Some(m) = self.udp(&query(name, rtype)) {
                return m;
            }
        }
        panic!("{name} {rtype}: no answer\n{}", self.log_text());
    }

    fn a(&self, name: &str) -> Vec<Ipv4Addr> {
        let m = self.ask(name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m:?}");
        a_addrs(&m)
    }

    fn txt(&self, name: &str) -> Vec<String> {
        txt_values(&self.ask(name, RecordType::TXT))
    }

    /// Polls (up to 10 s, 50 ms steps) until `ok` holds.
    fn eventually(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(
                Instant::now() < deadline,
                "not within 10 s: {what}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST /v1/git/sync` with `token` (`None`: no Authorization).
    fn post_sync(&self, token: Option<&str>) -> (u16, Value, String) {
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .unwrap();
        let mut req = client.post(format!("http://{}/v1/git/sync", self.rest));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("POST /v1/git/sync: {e}"));
        let status = resp.status().as_u16();
        let body = resp.text().unwrap_or_default();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, json, body)
    }

    /// A sync that must be answered 200: its report.
    fn sync(&self) -> Report {
        let (status, json, body) = self.post_sync(Some(SYNC_TOKEN));
        assert_eq!(status, 200, "sync: {body}\n{}", self.log_text());
        Report::from(&json)
    }
}

/// The answer of `POST /v1/git/sync`.
#[derive(Debug)]
struct Report {
    theirs: Option<String>,
    up_to_date: bool,
    merge: Option<String>,
    zones: Vec<(String, u64)>,
    files: Vec<String>,
    replaced: Vec<String>,
    failed: Vec<String>,
    pushed: bool,
    raw: String,
}

impl Report {
    fn from(v: &Value) -> Report {
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .unwrap_or_else(|| panic!("{k} is not a list: {v}"))
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        Report {
            theirs: v["theirs"].as_str().map(str::to_owned),
            up_to_date: v["up_to_date"].as_bool().expect("up_to_date"),
            merge: v["merge"].as_str().map(str::to_owned),
            zones: v["zones"]
                .as_array()
                .expect("zones")
                .iter()
                .map(|z| {
                    (
                        z["zone"].as_str().unwrap().to_owned(),
                        z["records"].as_u64().unwrap(),
                    )
                })
                .collect(),
            files: strings("files"),
            replaced: strings("replaced"),
            failed: strings("failed"),
            pushed: v["pushed"].as_bool().expect("pushed"),
            raw: v.to_string(),
        }
    }
}

// --------------------------------------------------------------- updates

/// One signed UPDATE adding `owner 60 TXT "value"` over UDP: its rcode,
/// or what happened instead (no answer within 5 s, a socket error).
fn add_txt(dns: SocketAddr, id: u16, owner: &str, value: &str) -> Result<ResponseCode, String> {
    let body = wire::update(id, "example.com.", None, owner, 1, Some(value));
    let (msg, _) = wire::signed(&body, &wire::key("acme-key."), wire::now());
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(&msg, dns).unwrap();
    let mut buf = vec![0u8; 65535];
    let start = Instant::now();
    let mut seen = Vec::new();
    for _ in 0..50 {
        if start.elapsed() >= Duration::from_secs(5) {
            break;
        }
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            // A receive with a timeout is interrupted by any signal the
            // process takes (SO_RCVTIMEO, signal(7)): wait on.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "no answer from {dns} after {:?}: {e}; before: {seen:?}",
                    start.elapsed()
                ));
            }
        };
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id && from == dns => return Ok(m.metadata.response_code),
            Ok(m) => seen.push(format!(
                "{from}: id {} {:?}",
                m.metadata.id, m.metadata.response_code
            )),
            Err(e) => seen.push(format!("{from}: {n} bytes that do not parse: {e}")),
        }
    }
    Err(format!("no answer from {dns} within 5 s; got {seen:?}"))
}

/// An UPDATE sent and what came back.
#[derive(Clone, Debug)]
struct Sent {
    owner: String,
    value: String,
    rcode: Result<ResponseCode, String>,
}

/// A thread sending signed UPDATEs (TXT adds at distinct names, one every
/// 40 ms) until stopped, at most 300 or for 30 s.
struct Stream {
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<Sent>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stream {
    fn start(dns: SocketAddr) -> Stream {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(30);
            for i in 0..300u16 {
                if s.load(Ordering::SeqCst) || Instant::now() >= until {
                    break;
                }
                let owner = format!("s{i}.example.com.");
                let value = format!("stream-{i}");
                let rcode = add_txt(dns, 0x1000 + i, &owner, &value);
                out.lock().unwrap().push(Sent {
                    owner,
                    value,
                    rcode,
                });
                std::thread::sleep(Duration::from_millis(40));
            }
        });
        Stream {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    fn acknowledged(&self) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.rcode == Ok(ResponseCode::NoError))
            .count()
    }

    /// Stops the thread; what it sent.
    fn finish(mut self) -> Vec<Sent> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.sent.lock().unwrap().clone()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// -------------------------------------------------------------------- ixfr

/// An IXFR query carrying the client's SOA at `serial` (RFC 1995 §3).
fn ixfr_query(serial: u32) -> Message {
    let mut m = query("example.com.", RecordType::IXFR);
    let soa = SOA::new(
        Name::from_ascii("ns1.example.com.").unwrap(),
        Name::from_ascii("hostmaster.example.com.").unwrap(),
        serial,
        7200,
        3600,
        1209600,
        300,
    );
    m.add_authority(Record::from_rdata(
        Name::from_ascii("example.com.").unwrap(),
        0,
        RData::SOA(soa),
    ));
    m
}

/// Sends `q` over TCP to `to` and reads the whole answer stream (see
/// `common::read_transfer`).
fn transfer(to: SocketAddr, q: &Message) -> (Vec<Record>, ResponseCode) {
    let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(3)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    conn.set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    common::read_transfer(&mut conn, q)
}

// ------------------------------------------------------------------- tests

macro_rules! require_git {
    ($daemon:expr) => {
        if !git_available($daemon) {
            eprintln!(
                "skipped: {} is not installed",
                if $daemon { "git daemon" } else { "git" }
            );
            return;
        }
    };
}

/// The operator pushes an add, a delete (synced by SIGUSR1), a change of
/// an RRset the UPDATEs changed too, a broken file and its fix, while a
/// thread streams signed UPDATEs. Everything acknowledged stays (or is
/// reported replaced), the operator's commits come back as merge parents,
/// the remote ends at the server's HEAD, the clone is clean.
#[test]
fn operator_pushes_merge_while_updates_stream() {
    require_git!(false);
    let fx = Fixture::new();
    let s = Server::start(&fx, SYNC_KEYS);
    let zones = &fx.zones;

    let stream = Stream::start(s.dns);
    s.eventually("the first UPDATEs are acknowledged", || {
        stream.acknowledged() >= 5
    });

    // (a) A new A record.
    let a = fx.operator_push(
        "add added.example.com",
        |_| {},
        |l| {
            edit_zone(l, ZONE_FILE, |t| format!("{t}added 300 IN A 192.0.2.55\n"));
        },
    );
    let r = s.sync();
    assert!(r.failed.is_empty(), "{}", r.raw);
    let merge_a = fx
        .merge_of(zones, "HEAD", &a)
        .unwrap_or_else(|| panic!("no merge of {a}: {}\n{}", r.raw, fx.graph(zones, "HEAD")));
    if r.theirs.as_deref() == Some(a.as_str()) && !r.up_to_date {
        // (Unless the server's own push, rejected, pulled it first.)
        assert_eq!(r.merge.as_deref(), Some(merge_a.as_str()), "{}", r.raw);
        assert!(
            r.zones.iter().any(|(z, n)| z == "example.com." && *n >= 1),
            "{}",
            r.raw
        );
    }
    assert_eq!(s.a("added.example.com."), [Ipv4Addr::new(192, 0, 2, 55)]);

    // (b) A static record deleted; the sync asked for by SIGUSR1.
    let b = fx.operator_push(
        "delete static.example.com",
        |_| {},
        |l| {
            edit_zone(l, ZONE_FILE, |t| {
                t.lines()
                    .filter(|l| owner(l) != Some("static"))
                    .map(|l| format!("{l}\n"))
                    .collect()
            });
        },
    );
    s.sigusr1();
    s.eventually("static.example.com is gone after SIGUSR1", || {
        let m = s.ask("static.example.com.", RecordType::A);
        m.metadata.response_code == ResponseCode::NXDomain && m.answers.is_empty()
    });
    s.eventually("the SIGUSR1 pull made its merge commit", || {
        fx.merge_of(zones, "HEAD", &b).is_some()
    });
    assert!(s.log_text().contains("SIGUSR1"), "{}", s.log_text());

    // (c) Both sides change `shared` TXT after the operator's base: the
    // server by an UPDATE made after the operator fetched, the operator
    // by replacing the RRset. The remote's version wins; the server's
    // value is reported replaced.
    let mut shared_sent: Vec<String> = Vec::new();
    let mut operator_removed: BTreeSet<String> = BTreeSet::new();
    let c = fx.operator_push(
        "shared.example.com: the operator's value",
        |attempt| {
            let value = format!("srv-shared-{attempt}");
            let rc = add_txt(
                s.dns,
                0x0700 + attempt as u16,
                "shared.example.com.",
                &value,
            );
            assert_eq!(rc, Ok(ResponseCode::NoError), "{}", s.log_text());
            shared_sent.push(value);
        },
        |l| {
            edit_zone(l, ZONE_FILE, |t| {
                let mut out = String::new();
                for line in t.lines() {
                    if owner(line) == Some("shared") {
                        // A value the operator saw and removes by hand.
                        if let Some(v) = line.split('"').nth(1) {
                            operator_removed.insert(v.to_owned());
                        }
                        continue;
                    }
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("shared 60 IN TXT \"laptop\"\n");
                out
            });
        },
    );
    let r = s.sync();
    assert!(r.failed.is_empty(), "{}", r.raw);
    let merge_c = fx
        .merge_of(zones, "HEAD", &c)
        .unwrap_or_else(|| panic!("no merge of {c}: {}\n{}", r.raw, fx.graph(zones, "HEAD")));
    let merge_c_message = fx.message(zones, &merge_c);
    let last_shared = shared_sent.last().unwrap().clone();
    let replaced_line = format!("shared.example.com. 60 IN TXT \"{last_shared}\"");
    assert!(
        merge_c_message.contains(&replaced_line),
        "the merge commit names the replaced value {replaced_line:?}:\n{merge_c_message}"
    );
    if r.merge.as_deref() == Some(merge_c.as_str()) {
        assert!(
            r.replaced.contains(&replaced_line),
            "replaced lists {replaced_line:?}: {}",
            r.raw
        );
    }
    assert_eq!(s.txt("shared.example.com."), ["laptop"]);

    // (d) A broken file: bad RDATA on a known line (and a change of www
    // beside it, which must not be taken either).
    let mut broken_line = 0usize;
    let d = fx.operator_push(
        "broken",
        |_| {},
        |l| {
            edit_zone(l, ZONE_FILE, |t| {
                let t = t.replace("www IN A 192.0.2.80", "www IN A 192.0.2.81");
                broken_line = t.lines().count() + 1;
                format!("{t}broken 300 IN A 192.0.2.300\n")
            });
        },
    );
    let r = s.sync();
    let at = format!("{ZONE_FILE}:{broken_line}:");
    assert!(
        r.failed.iter().any(|f| f.contains(&at)),
        "failed names {at}: {}\n{}",
        r.raw,
        s.log_text()
    );
    assert!(
        r.failed.iter().any(|f| f.contains(&d[..12])),
        "failed names the remote commit {d}: {}",
        r.raw
    );
    assert_eq!(r.merge, None, "{}", r.raw);
    assert!(fx.merge_of(zones, "HEAD", &d).is_none());
    assert!(
        fx.git(zones, &["rev-list", "HEAD"])
            .lines()
            .all(|id| id != d),
        "the broken commit is not in the server's history"
    );
    let log = s.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("not merged") && l.contains(&at)),
        "{log}"
    );
    // The zone keeps answering, with its records as they were.
    let soa = s.ask("example.com.", RecordType::SOA);
    assert_eq!(soa.metadata.response_code, ResponseCode::NoError, "{soa:?}");
    assert_eq!(s.a("www.example.com."), [Ipv4Addr::new(192, 0, 2, 80)]);
    let broken = s.ask("broken.example.com.", RecordType::A);
    assert_eq!(
        broken.metadata.response_code,
        ResponseCode::NXDomain,
        "{broken:?}"
    );
    // UPDATEs still go through while the remote is broken.
    let acked = stream.acknowledged();
    s.eventually(
        "UPDATEs are acknowledged while the remote is broken",
        || stream.acknowledged() >= acked + 3,
    );

    // The UPDATEs stop (after at least 60); then (e) the fix, on top of
    // the broken commit.
    s.eventually("60 UPDATEs are sent", || {
        stream.sent.lock().unwrap().len() >= 60
    });
    let sent = stream.finish();
    let e = fx.operator_push(
        "fix broken",
        |_| {},
        |l| {
            edit_zone(l, ZONE_FILE, |t| t.replace("192.0.2.300", "192.0.2.30"));
        },
    );
    assert_eq!(
        fx.git(&fx.laptop, &["rev-parse", "HEAD^"]).trim(),
        d,
        "the fix sits on the broken commit"
    );
    let r = s.sync();
    assert!(r.failed.is_empty(), "{}\n{}", r.raw, s.log_text());
    let merge_e = fx
        .merge_of(zones, "HEAD", &e)
        .unwrap_or_else(|| panic!("no merge of {e}: {}\n{}", r.raw, fx.graph(zones, "HEAD")));
    assert!(
        fx.message(zones, &merge_e).starts_with(&format!(
            "Merge origin/main ({}) into the served zones",
            &e[..12]
        )),
        "{}",
        fx.message(zones, &merge_e)
    );
    assert_eq!(s.a("www.example.com."), [Ipv4Addr::new(192, 0, 2, 81)]);
    assert_eq!(s.a("broken.example.com."), [Ipv4Addr::new(192, 0, 2, 30)]);

    // Every UPDATE was answered, none with SERVFAIL; each acknowledged
    // one is served and in the file.
    let file = std::fs::read_to_string(zones.join(ZONE_FILE)).unwrap();
    eprintln!(
        "{} UPDATEs streamed during the operator's pushes (+{} at shared)",
        sent.len(),
        shared_sent.len()
    );
    assert!(sent.len() >= 20, "only {} UPDATEs sent", sent.len());
    for u in &sent {
        assert_eq!(
            u.rcode,
            Ok(ResponseCode::NoError),
            "UPDATE {u:?}\n{}",
            s.log_text()
        );
        assert_eq!(
            s.txt(&u.owner),
            std::slice::from_ref(&u.value),
            "{u:?} is served"
        );
        assert!(
            file.contains(&format!("\"{}\"", u.value)),
            "{u:?} is in the file:\n{file}"
        );
    }
    // The `shared` values the server acknowledged: the remote's version
    // replaced them (and said so), or the operator removed them by hand.
    for v in &shared_sent {
        assert!(
            merge_c_message.contains(&format!("TXT \"{v}\"")) || operator_removed.contains(v),
            "{v}: neither replaced nor removed by the operator:\n{merge_c_message}"
        );
        assert!(!file.contains(&format!("\"{v}\"")), "{v}\n{file}");
    }
    // Every pushed change is served and in the file.
    assert!(file.contains("added 300 IN A 192.0.2.55"), "{file}");
    assert!(!file.contains("192.0.2.7\n"), "{file}");
    assert!(file.contains("\"laptop\""), "{file}");
    assert!(file.contains("192.0.2.81") && file.contains("192.0.2.30"));
    assert!(!file.contains("192.0.2.300"), "{file}");
    assert_eq!(s.a("added.example.com."), [Ipv4Addr::new(192, 0, 2, 55)]);
    assert_eq!(s.txt("shared.example.com."), ["laptop"]);
    let gone = s.ask("static.example.com.", RecordType::A);
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain);

    // The remote ends at the server's HEAD (pushed), within a few seconds.
    s.eventually("the remote's main is the server's HEAD", || {
        fx.remote_main() == fx.zones_head()
    });
    let remote = &fx.remote;
    let graph = fx.graph(remote, "main");
    let merges = fx.merges(remote, "main");
    for (what, op, merge) in [
        ("a", &a, &merge_a),
        ("c", &c, &merge_c),
        ("e", &e, &merge_e),
    ] {
        let (_, parents) = merges
            .iter()
            .find(|(id, _)| id == merge)
            .unwrap_or_else(|| panic!("({what}) merge {merge} not on the remote:\n{graph}"));
        assert_eq!(parents.len(), 2, "{graph}");
        assert_eq!(
            &parents[1], op,
            "({what}): the operator's commit is the second parent\n{graph}"
        );
    }
    assert!(fx.merge_of(remote, "main", &b).is_some(), "(b)\n{graph}");
    for (id, _) in &merges {
        let m = fx.message(remote, id);
        assert!(m.starts_with("Merge origin/main ("), "{m}");
        let by = fx.git(remote, &["log", "-1", "--format=%cn <%ce>", id]);
        assert_eq!(by.trim(), "zonewright <zonewright@test>");
    }
    // The pull's writes: author origin/main, Via: git-pull.
    let pulls = fx.git(
        zones,
        &[
            "log",
            "--format=%an|%s",
            "--grep",
            "Via: git-pull",
            "--no-merges",
        ],
    );
    assert!(
        pulls.lines().count() >= 4 && pulls.lines().all(|l| l.starts_with("origin/main|")),
        "{pulls}"
    );

    let status = fx.git(zones, &["status", "--porcelain"]);
    assert!(status.is_empty(), "git status in zones/: {status}");
    assert_eq!(symlinks_under(zones), Vec::<PathBuf>::new());
    fx.git(zones, &["fsck", "--no-progress"]);
    fx.git(remote, &["fsck", "--no-progress"]);
}

/// A zone file the remote adds is served after a sync; removed in the
/// remote, it stops being served after the next.
#[test]
fn a_zone_file_added_in_the_remote_is_served_and_dropped_when_removed() {
    require_git!(false);
    let fx = Fixture::new();
    let s = Server::start(&fx, SYNC_KEYS);
    let not_served = |s: &Server| {
        let m = s.ask("www.example.net.", RecordType::A);
        m.metadata.response_code == ResponseCode::Refused || !m.metadata.authoritative
    };
    assert!(not_served(&s));

    let add = fx.operator_push(
        "add example.net",
        |_| {},
        |l| std::fs::write(l.join("example.net.zone"), NET_ZONE).unwrap(),
    );
    let r = s.sync();
    assert!(r.failed.is_empty(), "{}", r.raw);
    assert_eq!(r.files, ["example.net.zone"], "{}", r.raw);
    assert!(r.merge.is_some(), "{}", r.raw);
    assert!(fx.merge_of(&fx.zones, "HEAD", &add).is_some());
    assert_eq!(
        std::fs::read_to_string(fx.zones.join("example.net.zone")).unwrap(),
        NET_ZONE
    );
    s.eventually("example.net is served", || {
        let m = s.ask("www.example.net.", RecordType::A);
        m.metadata.authoritative && a_addrs(&m) == [Ipv4Addr::new(192, 0, 2, 99)]
    });

    let rm = fx.operator_push(
        "remove example.net",
        |_| {},
        |l| std::fs::remove_file(l.join("example.net.zone")).unwrap(),
    );
    let r = s.sync();
    assert!(r.failed.is_empty(), "{}", r.raw);
    assert_eq!(r.files, ["example.net.zone"], "{}", r.raw);
    assert!(fx.merge_of(&fx.zones, "HEAD", &rm).is_some());
    assert!(!fx.zones.join("example.net.zone").exists());
    s.eventually("example.net is no longer served", || not_served(&s));
    // example.com is untouched.
    assert_eq!(s.a("www.example.com."), [Ipv4Addr::new(192, 0, 2, 80)]);
    s.eventually("the remote's main is the server's HEAD", || {
        fx.remote_main() == fx.zones_head()
    });
    let status = fx.git(&fx.zones, &["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}");
}

/// `git daemon` on loopback, killed (by its PID) when the test ends. The
/// `git-daemon` program is run itself: `git daemon` would run it as a
/// child, which killing `git` leaves running.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The basic flow over git://: an add pushed by the operator, a sync,
/// served, and the merge pushed back through the daemon.
#[test]
fn sync_over_git_daemon() {
    require_git!(true);
    let fx = Fixture::bare();
    let mut daemon = None;
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new(git_exec_path().unwrap().join("git-daemon"));
        cmd.args(["--reuseaddr", "--export-all", "--enable=receive-pack"])
            .arg(format!("--base-path={}", fx.root.display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(&fx.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(fx.root.join("daemon.log")).unwrap());
        git_env(&mut cmd, &fx.home);
        let mut d = Daemon(cmd.spawn().unwrap());
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(10);
        let up = loop {
            if let Some(st) = d.0.try_wait().unwrap() {
                last = format!(
                    "git daemon exited {st}: {}",
                    std::fs::read_to_string(fx.root.join("daemon.log")).unwrap_or_default()
                );
                break false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break true;
            }
            if Instant::now() >= deadline {
                last = "git daemon does not accept connections after 10 s".into();
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if up {
            daemon = Some((d, port));
            break;
        }
        drop(d);
    }
    let Some((_daemon, port)) = daemon else {
        panic!("{last}");
    };
    let url = format!("git://127.0.0.1:{port}/remote.git");
    fx.seed_and_clone(&url);
    assert_eq!(
        fx.git(&fx.zones, &["remote", "get-url", "origin"]).trim(),
        url
    );
    let s = Server::start(&fx, SYNC_KEYS);

    let add = fx.operator_push(
        "add over git://",
        |_| {},
        |l| {
            edit_zone(l, ZONE_FILE, |t| format!("{t}daemon 300 IN A 192.0.2.66\n"));
        },
    );
    let r = s.sync();
    assert!(r.failed.is_empty(), "{}\n{}", r.raw, s.log_text());
    assert_eq!(r.theirs.as_deref(), Some(add.as_str()), "{}", r.raw);
    assert!(!r.up_to_date, "{}", r.raw);
    let merge = r.merge.clone().unwrap_or_else(|| panic!("{}", r.raw));
    assert_eq!(r.zones, [("example.com.".to_owned(), 1)], "{}", r.raw);
    assert!(r.pushed, "{}\n{}", r.raw, s.log_text());
    assert_eq!(s.a("daemon.example.com."), [Ipv4Addr::new(192, 0, 2, 66)]);
    s.eventually("the merge is on the remote's main", || {
        fx.remote_main() == merge && fx.zones_head() == merge
    });
    let parents = fx.git(&fx.remote, &["rev-list", "--parents", "-n", "1", "main"]);
    let parents: Vec<&str> = parents.split_whitespace().skip(1).collect();
    assert_eq!(parents.len(), 2, "{parents:?}");
    assert_eq!(parents[1], add);
    let status = fx.git(&fx.zones, &["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}");
}

/// The zone's records (SOA aside) as a secondary holds them, one line each.
type Held = BTreeSet<String>;

fn held(records: &[Record]) -> Held {
    records
        .iter()
        .filter(|r| serial_of(r).is_none())
        .map(|r| r.to_string())
        .collect()
}

/// A full transfer (AXFR) of example.com: the records and the serial.
fn axfr(s: &Server) -> (Held, u32) {
    let (records, rcode) = transfer(s.dns, &query("example.com.", RecordType::AXFR));
    assert_eq!(rcode, ResponseCode::NoError, "AXFR: {records:?}");
    let serial = records
        .first()
        .and_then(serial_of)
        .expect("AXFR starts with the SOA");
    (held(&records), serial)
}

/// Applies an incremental IXFR answer (RFC 1995 §4: `SOA(new)`, then per
/// step `SOA(old) deletions… SOA(next) additions…`, then `SOA(new)`) to
/// `old`; panics when the answer is not in that form.
fn apply_ixfr(old: &Held, records: &[Record], from: u32, to: u32) -> Held {
    let serials: Vec<Option<u32>> = records.iter().map(serial_of).collect();
    assert!(records.len() >= 3, "IXFR from {from}: {records:?}");
    assert_eq!(serials[0], Some(to), "IXFR from {from}: {records:?}");
    assert_eq!(
        serials[1],
        Some(from),
        "IXFR from {from} is incremental (the second RR is the SOA at {from}), \
         not AXFR-style: {records:?}"
    );
    assert_eq!(serials.last(), Some(&Some(to)), "{records:?}");
    let mut zone = old.clone();
    // Each SOA switches: the old one starts deletions, the next additions.
    let mut adding = true;
    for r in &records[1..records.len() - 1] {
        if serial_of(r).is_some() {
            adding = !adding;
            continue;
        }
        let line = r.to_string();
        if adding {
            zone.insert(line);
        } else {
            assert!(
                zone.remove(&line),
                "IXFR from {from} deletes {line}, which it does not hold"
            );
        }
    }
    zone
}

/// A server whose zone went through three versions: `s0` (the seed),
/// `s1` (after an UPDATE, pushed) and `s2` (after a sync of an operator
/// commit made on `s1` that moves www; as operators do, it leaves the
/// serial alone: the server owns it). Returns the records of each as AXFR
/// gave them.
fn three_versions() -> (Fixture, Server, [(Held, u32); 3]) {
    let fx = Fixture::new();
    let s = Server::start(&fx, SYNC_KEYS);
    let v0 = axfr(&s);
    assert_eq!(
        add_txt(s.dns, 0x4242, "u.example.com.", "before-the-pull"),
        Ok(ResponseCode::NoError)
    );
    let v1 = axfr(&s);
    assert_ne!(v0.1, v1.1);
    // The UPDATE's commit is pushed first (so the sync below is the pull
    // that merges, not a pull of a rejected push of the server's).
    s.eventually("the server pushed the UPDATE's commit", || {
        fx.remote_main() == fx.zones_head()
    });
    fx.operator_push(
        "www moves",
        |_| {},
        |l| {
            edit_zone(l, ZONE_FILE, |t| {
                t.replace("www IN A 192.0.2.80", "www IN A 192.0.2.81")
            });
        },
    );
    let r = s.sync();
    assert!(r.merge.is_some() && r.failed.is_empty(), "{}", r.raw);
    assert_eq!(s.a("www.example.com."), [Ipv4Addr::new(192, 0, 2, 81)]);
    let v2 = axfr(&s);
    assert_ne!(v1.1, v2.1, "the pull's write took a new serial");
    (fx, s, [v0, v1, v2])
}

/// After a sync that changed the zone, an IXFR from the serial before the
/// sync is answered incrementally (ISC dig sees SOA(new), SOA(old)), it
/// carries the pull's change, and a secondary applying it holds what AXFR
/// gives. (The operator's commit holds the zone file with that same old
/// serial, and the new records.)
#[test]
fn secondaries_get_a_pull_by_ixfr() {
    require_git!(false);
    let (_fx, s, [_, (held1, s1), (held2, s2)]) = three_versions();

    // The form, as ISC dig sees it: SOA(new), SOA(old), ... (not AXFR).
    let o = run_bounded(
        Command::new("dig").args([
            "@127.0.0.1",
            "-p",
            &s.dns.port().to_string(),
            "example.com",
            &format!("IXFR={s1}"),
            "+tcp",
            "+time=3",
            "+tries=1",
        ]),
        "",
        Duration::from_secs(15),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let soas: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(';') && l.split_whitespace().nth(3) == Some("SOA"))
        .collect();
    assert!(soas.len() >= 3, "{}", text(&o));
    assert!(soas[0].contains(&format!(" {s2} ")), "{}", text(&o));
    assert!(soas[1].contains(&format!(" {s1} ")), "{}", text(&o));

    // The content: the pull's change (www moved), and a secondary at s1
    // applying the answer holds what AXFR gives.
    let (records, rcode) = transfer(s.dns, &ixfr_query(s1));
    assert_eq!(rcode, ResponseCode::NoError, "{records:?}");
    let form = apply_ixfr(&held1, &records, s1, s2);
    let www = |last: u8| {
        records.iter().any(|r| {
            r.name.to_ascii() == "www.example.com."
                && r.data == RData::A(Ipv4Addr::new(192, 0, 2, last).into())
        })
    };
    assert!(
        www(80) && www(81),
        "IXFR from {s1} (the serial before the sync) carries the pull's change \
         (www.example.com. A 192.0.2.80 -> 192.0.2.81): {records:?}"
    );
    assert_eq!(form, held2);
}

/// A secondary two versions behind (from before an UPDATE and a sync)
/// also gets an incremental answer that brings it to what AXFR gives.
#[test]
fn ixfr_across_an_update_and_a_pull_is_complete() {
    require_git!(false);
    let (_fx, s, [(held0, s0), _, (held2, s2)]) = three_versions();
    let (records, rcode) = transfer(s.dns, &ixfr_query(s0));
    assert_eq!(rcode, ResponseCode::NoError, "{records:?}");
    assert_eq!(
        apply_ixfr(&held0, &records, s0, s2),
        held2,
        "a secondary at {s0} applying the IXFR answer holds the served zone \
         (answer: {records:?})"
    );
}

/// The endpoint wants a token that may sync (401 / 403), and exists only
/// with `[git] remote` (404).
#[test]
fn sync_endpoint_tokens_and_no_remote() {
    require_git!(false);
    let fx = Fixture::new();
    let s = Server::start(&fx, SYNC_KEYS);
    let (status, _, body) = s.post_sync(None);
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = s.post_sync(Some("not-a-token-of-this-server"));
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = s.post_sync(Some(PLAIN_TOKEN));
    assert_eq!(status, 403, "{body}");
    let r = s.sync();
    assert!(r.up_to_date && r.merge.is_none(), "{}", r.raw);
    assert!(
        !s.log_text()
            .contains("REST: git sync asked for token=plain")
    );
    drop(s);

    let other = Fixture::new();
    let s = Server::start(&other, "");
    let (status, _, body) = s.post_sync(Some(SYNC_TOKEN));
    assert_eq!(status, 404, "{body}");
}

/// What the remote may not make the server write: a symlink (named like
/// a zone file, to /etc/passwd) and the server's own config file (in
/// zones/, untracked and ignored there, force-added in the remote). Each
/// is left out of the work tree and named in the answer; a symlink taken
/// back merges at the next sync.
#[test]
fn the_remote_cannot_plant_a_symlink_or_the_config() {
    require_git!(false);
    let fx = Fixture::new();
    let s = Server::start(&fx, SYNC_KEYS);
    let zones = &fx.zones;
    let config_before = std::fs::read(&s.config).unwrap();

    // A symlink to /etc/passwd, named like a zone file.
    fx.operator_push(
        "a symlink",
        |_| {},
        |l| std::os::unix::fs::symlink("/etc/passwd", l.join("evil.zone")).unwrap(),
    );
    let r = s.sync();
    assert!(
        r.failed.iter().any(|f| f.contains("evil.zone")),
        "{}",
        r.raw
    );
    assert_eq!(r.merge, None, "{}", r.raw);
    assert!(std::fs::symlink_metadata(zones.join("evil.zone")).is_err());
    let m = s.ask("evil.", RecordType::SOA);
    assert_ne!(m.metadata.response_code, ResponseCode::NoError, "{m:?}");
    // Taken back: merged.
    let back = fx.operator_push(
        "no symlink",
        |_| {},
        |l| std::fs::remove_file(l.join("evil.zone")).unwrap(),
    );
    let r = s.sync();
    assert!(r.failed.is_empty() && r.merge.is_some(), "{}", r.raw);
    assert!(fx.merge_of(zones, "HEAD", &back).is_some());
    assert_eq!(symlinks_under(zones), Vec::<PathBuf>::new());

    // The server's config, force-added in the remote: never overwritten.
    fx.operator_push(
        "take over the config",
        |_| {},
        |l| {
            std::fs::write(
                l.join("zonewright.toml"),
                "listen = [\"127.0.0.1:1\"]\nzones_dir = \"/etc\"\n",
            )
            .unwrap();
            fx.git(l, &["add", "-f", "zonewright.toml"]);
        },
    );
    let (status, json, body) = s.post_sync(Some(SYNC_TOKEN));
    assert_eq!(
        std::fs::read(&s.config).unwrap(),
        config_before,
        "the config was overwritten by the pull ({status} {body})"
    );
    // Refused, reported or kept: the answer names the file, and does not
    // list it among the files taken from the remote.
    assert!(body.contains("zonewright.toml"), "{status} {body}");
    if status == 200 {
        let r = Report::from(&json);
        assert!(!r.files.iter().any(|f| f == "zonewright.toml"), "{body}");
    }

    // Still serving, still answering UPDATEs; nothing stray in zones/.
    assert_eq!(
        add_txt(s.dns, 0x5151, "after.example.com.", "after-the-attacks"),
        Ok(ResponseCode::NoError)
    );
    assert_eq!(s.txt("after.example.com."), ["after-the-attacks"]);
    let status = fx.git(zones, &["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}");
}

/// A remote commit with a path under `.git/` (git itself refuses such a
/// path; a crafted tree carries it) is not written to the work tree and
/// the sync reports it in `failed`; taken back, the next sync merges.
#[test]
fn a_git_path_in_the_remote_is_reported_and_not_written() {
    require_git!(false);
    let fx = Fixture::new();
    let s = Server::start(&fx, SYNC_KEYS);
    let zones = &fx.zones;
    let l = &fx.laptop;
    fx.git(l, &["fetch", "-q", "origin"]);
    fx.git(l, &["reset", "-q", "--hard", "origin/main"]);
    std::fs::write(l.join("hook.tmp"), "#!/bin/sh\nexit 0\n").unwrap();
    let blob = fx.git(l, &["hash-object", "-w", "hook.tmp"]);
    std::fs::remove_file(l.join("hook.tmp")).unwrap();
    let mktree = |entries: String| -> String {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(l).arg("mktree");
        git_env(&mut cmd, &fx.home);
        let o = run_bounded(&mut cmd, &entries, Duration::from_secs(20));
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let hooks = mktree(format!("100755 blob {}\tpost-merge\n", blob.trim()));
    let dotgit = mktree(format!("040000 tree {hooks}\thooks\n"));
    let root = fx.git(l, &["ls-tree", "HEAD"]);
    let root = mktree(format!("{root}040000 tree {dotgit}\t.git\n"));
    let crafted = fx
        .git(
            l,
            &["commit-tree", &root, "-p", "HEAD", "-m", "a .git path"],
        )
        .trim()
        .to_owned();
    fx.git(
        l,
        &[
            "push",
            "-q",
            "origin",
            &format!("{crafted}:refs/heads/main"),
        ],
    );
    let (status, json, body) = s.post_sync(Some(SYNC_TOKEN));
    assert!(!zones.join(".git/hooks/post-merge").exists());
    assert!(fx.merge_of(zones, "HEAD", &crafted).is_none());
    assert_eq!(
        status,
        200,
        "the sync answers with its report: {body}\n{}",
        s.log_text()
    );
    let r = Report::from(&json);
    assert!(
        r.failed.iter().any(|f| f.contains(".git/hooks/post-merge")),
        "{}",
        r.raw
    );
    assert_eq!(r.merge, None, "{}", r.raw);
    // Taken back (HEAD's tree again, on top of the crafted commit).
    let tree = fx.rev(l, "HEAD^{tree}");
    let undo = fx
        .git(
            l,
            &["commit-tree", &tree, "-p", &crafted, "-m", "no .git path"],
        )
        .trim()
        .to_owned();
    fx.git(
        l,
        &["push", "-q", "origin", &format!("{undo}:refs/heads/main")],
    );
    let r = s.sync();
    assert!(r.failed.is_empty() && r.merge.is_some(), "{}", r.raw);
    assert!(!zones.join(".git/hooks/post-merge").exists());

    let status = fx.git(zones, &["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}");
}

/// A remote the clone does not have stops `serve` with a message naming
/// it; an option-like remote name is refused by `zonewright check`.
#[test]
fn bad_remote_names_are_refused() {
    require_git!(false);
    let fx = Fixture::new();
    let keys = SYNC_KEYS.replace("\"origin\"", "\"nosuchremote\"");
    let config = fx.zones.join("zonewright.toml");
    std::fs::write(&config, config_text(free_port(), free_port(), &keys)).unwrap();
    let log = fx.root.join("nosuchremote.log");
    let mut cmd = common::serve_command(&config, &log);
    git_env(&mut cmd, &fx.home);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve with remote = \"nosuchremote\" still runs after 15 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!status.success(), "{status}: {out}");
    assert!(out.contains("nosuchremote"), "{out}");

    let keys = SYNC_KEYS.replace("\"origin\"", "\"-x\"");
    std::fs::write(&config, config_text(free_port(), free_port(), &keys)).unwrap();
    let o = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_zonewright"))
            .args(["check", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG"),
        "",
        Duration::from_secs(20),
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("git.remote"), "{}", text(&o));
}
