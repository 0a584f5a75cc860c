//! Helpers for the RFC 2136 UPDATE + TSIG integration tests: the keys and
//! config, the hand-written zone fixture, peers (nsupdate, knsupdate, dig,
//! dnspython) run as bounded child processes, git inspection through the
//! git CLI, and the binary run as a separate process for crash tests.
//! Every wait is bounded by a count and a deadline; only 127.0.0.1 is used.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use super::{IO_TIMEOUT, TestServer, query, tcp_recv, tcp_send};

pub const ZONE: &str = "example.com";
pub const ZONE_FILE: &str = "example.com.zone";
/// The SOA serial in the fixture.
pub const OLD_SERIAL: u32 = 2024010101;

/// base64 of the bytes 0x01..=0x20 (hmac-sha256, `acme-key`).
pub const SECRET_SHA256: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
/// base64 of the bytes 0x01..=0x40 (hmac-sha512, `bind-key`; also in bind-key.conf).
pub const SECRET_SHA512: &str =
    "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QA==";
/// base64 of 20 bytes (hmac-sha1, `lego-key`).
pub const SECRET_SHA1: &str = "QUJDREVGR0hJSktMTU5PUFFSU1Q=";
/// base64 of 16 bytes (hmac-md5, `certbot-key`).
pub const SECRET_MD5: &str = "YWJjZGVmZ2hpamtsbW5vcA==";
/// A well-formed secret no key has.
pub const WRONG_SECRET: &str = "gYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6A=";

pub const ACME: &str = "acme-key";

/// `--key` for dnsupdate.py / `-y` for nsupdate and knsupdate.
pub fn acme_y() -> String {
    format!("hmac-sha256:{ACME}:{SECRET_SHA256}")
}

pub fn py_key(name: &str, alg: &str, secret: &str) -> String {
    format!("{name}:{alg}:{secret}")
}

pub fn acme_py() -> String {
    py_key(ACME, "hmac-sha256", SECRET_SHA256)
}

/// A scratch directory with zones/example.com.zone from the fixture and
/// no repository (the server makes one), for [`Proc`].
pub fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::write(zones.join(ZONE_FILE), fixture_zone()).unwrap();
    dir
}

/// The config under test (appended after the harness's listen/zones_dir):
/// four keys, one per algorithm peers use, all with the ACME grant.
pub fn update_config() -> String {
    update_config_with("")
}

/// [`update_config`] with `git` (lines) added to its `[git]` table.
pub fn update_config_with(git: &str) -> String {
    let grant = r#"grant = [ { zone = "example.com", names = ["_acme-challenge", "_acme-challenge.**"], types = ["TXT"] } ]"#;
    let mut c = String::from(
        "[tsig]\nfudge = 300\n[serial]\npolicy = \"calver\"\n\
         [git]\nname = \"zonewright\"\nemail = \"zonewright@test\"\n",
    );
    c.push_str(git);
    for (name, alg, secret) in [
        (ACME, "hmac-sha256", SECRET_SHA256),
        ("bind-key", "hmac-sha512", SECRET_SHA512),
        ("lego-key", "hmac-sha1", SECRET_SHA1),
        ("certbot-key", "hmac-md5", SECRET_MD5),
    ] {
        c.push_str(&format!(
            "[[key]]\nname = \"{name}\"\nalgorithm = \"{alg}\"\nsecret = \"{secret}\"\nrate_limit = \"off\"\n{grant}\n"
        ));
    }
    c
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/update")
        .join(name)
}

/// The hand-written zone (comments, blank lines, a multi-line SOA).
pub fn fixture_zone() -> String {
    std::fs::read_to_string(fixture_path(ZONE_FILE)).unwrap()
}

/// A server over the fixture zone with [`update_config`], started the way
/// `zonewright serve` starts (see [`TestServer::start`]), so the zone file
/// is committed before the first UPDATE.
pub fn start() -> TestServer {
    let s = TestServer::start(&[(ZONE_FILE, &fixture_zone())], &update_config());
    wait_committed(&s.zones_dir(), ZONE_FILE);
    s
}

pub fn zone_path(s: &TestServer) -> PathBuf {
    s.zones_dir().join(ZONE_FILE)
}

pub fn zone_text(zones: &Path) -> String {
    std::fs::read_to_string(zones.join(ZONE_FILE)).unwrap()
}

// ---------------------------------------------------------------- processes

/// Runs `cmd` with `stdin`, killing it after `limit` (then panics).
pub fn run_bounded(cmd: &mut Command, stdin: &str, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An nsupdate/knsupdate script: `server`, optional `zone`, the lines, `send`.
pub fn update_script(port: u16, zone: Option<&str>, lines: &[&str]) -> String {
    let mut s = format!("server 127.0.0.1 {port}\n");
    if let Some(z) = zone {
        s.push_str(&format!("zone {z}\n"));
    }
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("send\n");
    s
}

/// ISC nsupdate with `auth` (e.g. `["-y", ...]` or `["-k", file]`, or none);
/// `-v` (TCP) when `tcp`. Short timeouts, one try.
pub fn nsupdate(auth: &[&str], tcp: bool, script: &str) -> Output {
    let mut cmd = Command::new("/usr/bin/nsupdate");
    cmd.args(auth).args(["-t", "5", "-u", "2", "-r", "0"]);
    if tcp {
        cmd.arg("-v");
    }
    run_bounded(&mut cmd, script, Duration::from_secs(15))
}

/// Knot's knsupdate with `-y`; `-v` (TCP) when `tcp`.
pub fn knsupdate(y: &str, tcp: bool, script: &str) -> Output {
    let mut cmd = Command::new("/usr/bin/knsupdate");
    cmd.args(["-y", y, "-t", "3", "-r", "0"]);
    if tcp {
        cmd.arg("-v");
    }
    run_bounded(&mut cmd, script, Duration::from_secs(15))
}

/// `dig +short` over UDP (or TCP): the answer lines.
pub fn dig_short(port: u16, name: &str, rtype: &str, tcp: bool) -> Vec<String> {
    let mut cmd = Command::new("/usr/bin/dig");
    cmd.args([
        "@127.0.0.1",
        "-p",
        &port.to_string(),
        name,
        rtype,
        "+short",
        "+norec",
        "+time=2",
        "+tries=1",
    ]);
    if tcp {
        cmd.arg("+tcp");
    }
    let o = run_bounded(&mut cmd, "", Duration::from_secs(10));
    assert!(o.status.success(), "dig failed: {}", text(&o));
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect();
    v.sort();
    v
}

/// One line of dnsupdate.py's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyResult {
    pub i: usize,
    pub rcode: String,
    pub tsig: String,
    pub tsig_error: String,
    /// RFC 8914 Extended DNS Error as `CODE:text_with_underscores`, or "-".
    pub ede: String,
}

impl PyResult {
    pub fn parse(line: &str) -> PyResult {
        let kv: BTreeMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        PyResult {
            i: kv
                .get("i")
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX),
            rcode: kv.get("rcode").unwrap_or(&"?").to_string(),
            tsig: kv.get("tsig").unwrap_or(&"?").to_string(),
            tsig_error: kv.get("tsig_error").unwrap_or(&"?").to_string(),
            ede: kv.get("ede").unwrap_or(&"-").to_string(),
        }
    }

    /// NOERROR, answered with a TSIG that verifies and no TSIG error.
    pub fn is_signed_ok(&self) -> bool {
        self.rcode == "NOERROR" && self.tsig == "valid" && self.tsig_error == "NOERROR"
    }
}

pub fn dnsupdate_cmd(port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(fixture_path("dnsupdate.py"))
        .args(["--port", &port.to_string()])
        .args(args);
    cmd
}

/// Runs dnsupdate.py (args: `--tcp`, `--key`, `--op` ...) and returns its
/// result lines, sorted by index.
pub fn dnsupdate(port: u16, args: &[&str]) -> Vec<PyResult> {
    let o = run_bounded(&mut dnsupdate_cmd(port, args), "", Duration::from_secs(40));
    assert!(o.status.success(), "dnsupdate.py {args:?}: {}", text(&o));
    let mut v: Vec<PyResult> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(PyResult::parse)
        .collect();
    v.sort_by_key(|r| r.i);
    v
}

/// One UPDATE with `key` (dnsupdate.py `--key` form) and the ops.
pub fn py_update(port: u16, key: &str, tcp: bool, ops: &[&str]) -> PyResult {
    one_update(port, vec!["--key", key], tcp, ops)
}

/// One UPDATE of `ops` to `zone`, signed with the hmac-sha256 key `key`
/// (secret [`SECRET_SHA256`]): its result.
pub fn key_update(port: u16, key: &str, zone: &str, tcp: bool, ops: &[&str]) -> PyResult {
    let signer = py_key(key, "hmac-sha256", SECRET_SHA256);
    one_update(port, vec!["--key", &signer, "--zone", zone], tcp, ops)
}

/// dnsupdate.py with `args`, `--tcp` if asked and `--op` each op: the
/// result of its one UPDATE.
fn one_update<'a>(port: u16, mut args: Vec<&'a str>, tcp: bool, ops: &[&'a str]) -> PyResult {
    if tcp {
        args.push("--tcp");
    }
    for op in ops {
        args.push("--op");
        args.push(op);
    }
    let v = dnsupdate(port, &args);
    assert_eq!(v.len(), 1, "{v:?}");
    v[0].clone()
}

/// One acme-key UPDATE over UDP that must succeed.
pub fn py_ok(port: u16, ops: &[&str]) {
    let r = py_update(port, &acme_py(), false, ops);
    assert!(r.is_signed_ok(), "{ops:?}: {r:?}");
}

// ---------------------------------------------------------------------- git

pub fn git_try(dir: &Path, args: &[&str]) -> Output {
    run_bounded(
        Command::new("git").arg("-C").arg(dir).args(args),
        "",
        Duration::from_secs(20),
    )
}

/// Runs git in `dir`; its stdout. Panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = git_try(dir, args);
    assert!(o.status.success(), "git {args:?} in {dir:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn head(dir: &Path) -> Option<String> {
    let o = git_try(dir, &["rev-parse", "--verify", "-q", "HEAD"]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

pub fn commit_count(dir: &Path) -> usize {
    if head(dir).is_none() {
        return 0;
    }
    git(dir, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap()
}

/// Commits after `base` (exclusive) up to HEAD, oldest first.
pub fn commits_since(dir: &Path, base: &str) -> Vec<String> {
    git(dir, &["rev-list", "--reverse", &format!("{base}..HEAD")])
        .lines()
        .map(str::to_string)
        .collect()
}

/// `git status --porcelain -- file`: empty when the file is committed as is.
pub fn file_status(dir: &Path, file: &str) -> String {
    git(dir, &["status", "--porcelain", "--", file])
}

/// Waits (up to 10 s) until `dir` is a repository with a HEAD and `file`
/// is committed exactly as it is on disk.
pub fn wait_committed(dir: &Path, file: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if dir.join(".git").exists() && head(dir).is_some() && file_status(dir, file).is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            let status = if dir.join(".git").exists() {
                git_try(dir, &["status", "--porcelain"])
            } else {
                git_try(dir, &["--version"])
            };
            panic!(
                "{file} in {dir:?} not committed within 10 s (git repo: {}, HEAD: {:?}): {}",
                dir.join(".git").exists(),
                head(dir),
                text(&status)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One commit, as git prints it.
#[derive(Clone, Debug)]
pub struct Commit {
    pub id: String,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
    pub committer_email: String,
    pub subject: String,
    /// The whole message.
    pub message: String,
}

impl Commit {
    /// The `Key: value` lines of the message's last paragraph.
    pub fn trailers(&self) -> Vec<(String, String)> {
        let last = self.message.trim_end().rsplit("\n\n").next().unwrap_or("");
        last.lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    pub fn trailer(&self, key: &str) -> Option<String> {
        self.trailers()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// `Serial: old -> new`.
    pub fn serials(&self) -> Option<(u32, u32)> {
        let v = self.trailer("Serial")?;
        let (a, b) = v.split_once(" -> ")?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    }
}

pub fn commit(dir: &Path, rev: &str) -> Commit {
    let out = git(
        dir,
        &[
            "log",
            "-1",
            "--format=%H%x00%an%x00%ae%x00%cn%x00%ce%x00%s%x00%B",
            rev,
        ],
    );
    let f: Vec<&str> = out.splitn(7, '\0').collect();
    assert_eq!(f.len(), 7, "{out:?}");
    Commit {
        id: f[0].to_string(),
        author_name: f[1].to_string(),
        author_email: f[2].to_string(),
        committer_name: f[3].to_string(),
        committer_email: f[4].to_string(),
        subject: f[5].to_string(),
        message: f[6].to_string(),
    }
}

/// The changed lines of `rev` for `file` (`git show -U0`): (removed, added).
pub fn diff_lines(dir: &Path, rev: &str, file: &str) -> (Vec<String>, Vec<String>) {
    let out = git(dir, &["show", "--format=", "-U0", rev, "--", file]);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for l in out.lines() {
        if l.starts_with("+++") || l.starts_with("---") {
            continue;
        }
        if let Some(r) = l.strip_prefix('-') {
            removed.push(r.to_string());
        } else if let Some(a) = l.strip_prefix('+') {
            added.push(a.to_string());
        }
    }
    (removed, added)
}

/// A commit in `dir` made by the test itself (fixture identity).
pub fn git_commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git_commit_staged(dir, message);
}

/// Commits what is staged, as a person (`fixture`) would.
pub fn git_commit_staged(dir: &Path, message: &str) {
    git(
        dir,
        &[
            "-c",
            "user.name=fixture",
            "-c",
            "user.email=fixture@test",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}

// ----------------------------------------------------- what was (not) written

/// The zone file and the repository at one moment.
#[derive(Debug, PartialEq, Eq)]
pub struct Written {
    pub bytes: Vec<u8>,
    pub mtime: SystemTime,
    pub len: u64,
    pub head: Option<String>,
    pub commits: usize,
}

pub fn written(zones: &Path) -> Written {
    let path = zones.join(ZONE_FILE);
    let meta = std::fs::metadata(&path).unwrap();
    Written {
        bytes: std::fs::read(&path).unwrap(),
        mtime: meta.modified().unwrap(),
        len: meta.len(),
        head: head(zones),
        commits: commit_count(zones),
    }
}

/// The zone file is byte-identical with the same mtime, and no commit was made.
pub fn assert_nothing_written(before: &Written, zones: &Path, what: &str) {
    let after = written(zones);
    assert!(
        before.bytes == after.bytes,
        "{what}: the zone file changed:\n{}",
        String::from_utf8_lossy(&after.bytes)
    );
    assert_eq!(
        before.mtime, after.mtime,
        "{what}: the zone file was rewritten"
    );
    assert_eq!(before.head, after.head, "{what}: a commit was made");
    assert_eq!(before.commits, after.commits, "{what}");
}

// ------------------------------------------------------------------ serials

fn serial_gt(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < (1 << 31)
}

/// The CalVer serial after `old` on `date` (RFC 1982 comparison).
pub fn calver_next_on(old: u32, date: chrono::NaiveDate) -> u32 {
    use chrono::Datelike;
    let ymd = (date.year().rem_euclid(100) as u64) * 10_000
        + u64::from(date.month()) * 100
        + u64::from(date.day());
    let base = ((ymd * 10_000 + 1) % (1u64 << 32)) as u32;
    if serial_gt(base, old) {
        base
    } else {
        old.wrapping_add(1)
    }
}

/// The serials CalVer may give after `old` today (two around UTC midnight).
pub fn calver_next(old: u32) -> Vec<u32> {
    let now = chrono::Utc::now();
    let mut v = vec![
        calver_next_on(old, (now - chrono::TimeDelta::seconds(120)).date_naive()),
        calver_next_on(old, (now + chrono::TimeDelta::seconds(120)).date_naive()),
    ];
    v.dedup();
    v
}

// ------------------------------------------------------------------ queries

/// One query over UDP to `addr`; `None` when nothing came back in time.
pub fn udp_at(addr: SocketAddr, msg: &Message) -> Option<Message> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    sock.send_to(&msg.to_vec().unwrap(), addr).ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

/// One query over TCP to `addr` (no size limit on the answer).
pub fn tcp_at(addr: SocketAddr, msg: &Message) -> Option<Message> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).ok()?;
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp_send(&mut s, &msg.to_vec().unwrap());
    Message::from_vec(&tcp_recv(&mut s)?).ok()
}

/// The TXT strings of the answer, each RR's strings concatenated, sorted.
pub fn txt_values(resp: &Message) -> Vec<String> {
    let mut v: Vec<String> = resp
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// TXT values served at `name` (over TCP), or empty on NXDOMAIN/NODATA.
pub fn served_txt(addr: SocketAddr, name: &str) -> Vec<String> {
    let resp = tcp_at(addr, &query(name, RecordType::TXT)).expect("TCP answer");
    assert!(
        matches!(
            resp.metadata.response_code,
            ResponseCode::NoError | ResponseCode::NXDomain
        ),
        "{name} TXT: {resp:?}"
    );
    txt_values(&resp)
}

pub fn served_serial(addr: SocketAddr) -> u32 {
    let resp = tcp_at(addr, &query("example.com.", RecordType::SOA)).expect("TCP answer");
    super::soa_serial(&resp).unwrap_or_else(|| panic!("no SOA: {resp:?}"))
}

pub const ACME_NAME: &str = "_acme-challenge.example.com.";

// --------------------------------------------------------------- zone check

/// `zonewright zone check FILE --origin example.com`: Ok(serial) or the output.
pub fn zone_check(file: &Path) -> Result<u32, String> {
    let o = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_zonewright"))
            .args(["zone", "check"])
            .arg(file)
            .args(["--origin", ZONE])
            .env_remove("RUST_LOG"),
        "",
        Duration::from_secs(20),
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.status.success() {
        return Err(text(&o));
    }
    out.split("OK, serial ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| text(&o))
}

/// Checks the zone file as committed at `rev`.
pub fn zone_check_at(dir: &Path, rev: &str, scratch: &Path) -> Result<u32, String> {
    let content = git(dir, &["show", &format!("{rev}:{ZONE_FILE}")]);
    let path = scratch.join(format!("{rev}.zone"));
    std::fs::write(&path, content).unwrap();
    zone_check(&path)
}

// ------------------------------------------------ the binary as a process

/// `zonewright serve` as a child process over `dir` (holding `zones/`),
/// killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Proc {
    /// [`Proc::start_with`] with no `[git]` lines.
    pub fn start(dir: &Path) -> Proc {
        Proc::start_with(dir, "")
    }

    /// Starts the binary on a [`super::server_port`] and learns the port
    /// from the start-up line (`serving ... on 127.0.0.1:PORT`); ready
    /// once it answers the zone's SOA (all within 10 s).
    ///
    /// The port is below the kernel's ephemeral range: a port the kernel
    /// picked and the test released could be taken in between by another
    /// test's socket, for TCP any outgoing connection's source port (the
    /// likely cause of one CI failure, a TCP connect refused right after
    /// the server had answered over UDP), and dig's UDP source port can
    /// share an ephemeral port the server holds (see `server_port`).
    pub fn start_with(dir: &Path, git: &str) -> Proc {
        let config = dir.join("zonewright.toml");
        std::fs::write(
            &config,
            format!(
                "listen = [\"127.0.0.1:{}\"]\nzones_dir = \"zones\"\n[server]\nudp_workers = 1\n{}",
                super::server_port(),
                update_config_with(git)
            ),
        )
        .unwrap();
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let log = dir.join(format!("server-{stamp}.log"));
        let child = super::serve_command(&config, &log).spawn().unwrap();
        let mut p = Proc {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            dir: dir.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Bounded by the deadline; 50 ms per turn.
        loop {
            if let Some(st) = p.child.try_wait().unwrap() {
                panic!("zonewright serve exited {st}: {}", p.log_text());
            }
            if p.addr.port() == 0
                && let Some(port) = serving_port(&p.log_text())
            {
                p.addr.set_port(port);
            }
            let ready = p.addr.port() != 0
                && udp_at(p.addr, &query("example.com.", RecordType::SOA))
                    .is_some_and(|m| m.metadata.response_code == ResponseCode::NoError);
            if ready {
                return p;
            }
            if Instant::now() >= deadline {
                panic!(
                    "zonewright serve not answering after 10 s: {}",
                    p.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of the start-up line `serving ... on 127.0.0.1:PORT ...`.
fn serving_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains(" serving "))?;
    let rest = line.split(" on 127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Lines a child prints, delivered as they come, from a reader thread.
pub fn line_channel(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
