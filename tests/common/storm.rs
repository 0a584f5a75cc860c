//! Helpers for the write-path storm tests (issue 12): the four keys of
//! [`update_config`](super::update::update_config) as signing keys, signed
//! TXT adds, one UPDATE exchanged over UDP or TCP with a bounded wait and
//! its answer read from the header, the git history as (author, values
//! added) per commit, and the lock files left in `.git`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use hickory_proto::rr::Name;
use zonewright::tsig::{self, Algorithm, Key};

use super::update::{ACME, SECRET_MD5, SECRET_SHA1, SECRET_SHA256, SECRET_SHA512, git};
use super::wire;

/// The keys of `update_config`, one per algorithm: (name, signing key).
pub fn keys() -> Vec<(&'static str, Key)> {
    [
        (ACME, Algorithm::HmacSha256, SECRET_SHA256),
        ("bind-key", Algorithm::HmacSha512, SECRET_SHA512),
        ("lego-key", Algorithm::HmacSha1, SECRET_SHA1),
        ("certbot-key", Algorithm::HmacMd5, SECRET_MD5),
    ]
    .into_iter()
    .map(|(name, alg, secret)| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .unwrap();
        let key = Key::new(Name::from_ascii(format!("{name}.")).unwrap(), alg, bytes);
        (name, key)
    })
    .collect()
}

/// `update add OWNER 60 TXT "VALUE"` in example.com, signed by `key` now.
pub fn signed_add(id: u16, owner: &str, value: &str, key: &Key) -> Vec<u8> {
    let body = wire::update(id, "example.com", None, owner, 1, Some(value));
    wire::signed(&body, key, wire::now()).0
}

/// What the header (and the TSIG RR's presence) of an UPDATE answer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub id: u16,
    pub rcode: u8,
    /// The answer carries a TSIG RR.
    pub signed: bool,
}

impl Answer {
    /// A response (QR set) to an UPDATE (opcode 5); `None` otherwise.
    pub fn parse(bytes: &[u8]) -> Option<Answer> {
        let [id0, id1, flags, low, ..] = *bytes else {
            return None;
        };
        let is_update_response = flags & 0x80 != 0 && (flags >> 3) & 0x0F == 5;
        is_update_response.then(|| Answer {
            id: u16::from_be_bytes([id0, id1]),
            rcode: low & 0x0F,
            signed: matches!(tsig::find(bytes), Ok(Some(_))),
        })
    }
}

/// Why an exchange got no answer to its request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoAnswer {
    /// Nothing within the wait.
    Timeout,
    /// The socket failed (connection refused, reset, closed).
    Io(String),
    /// Bytes came that are no UPDATE answer.
    Garbage(Vec<u8>),
}

/// Sends `msg` from `sock` to `to` and waits up to `wait` for the answer
/// with `id`. Answers with other ids (late answers to earlier requests,
/// duplicates) are returned beside it: a client that is answered exactly
/// once per request sees none.
pub fn udp_exchange(
    sock: &UdpSocket,
    to: SocketAddr,
    msg: &[u8],
    id: u16,
    wait: Duration,
) -> (Result<Answer, NoAnswer>, Vec<Answer>) {
    let mut strays = Vec::new();
    if let Err(e) = sock.send_to(msg, to) {
        return (Err(NoAnswer::Io(e.to_string())), strays);
    }
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (Err(NoAnswer::Timeout), strays);
        }
        sock.set_read_timeout(Some(left)).unwrap();
        let n = match sock.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (Err(NoAnswer::Timeout), strays);
            }
            Err(e) => return (Err(NoAnswer::Io(e.to_string())), strays),
        };
        match Answer::parse(&buf[..n]) {
            Some(a) if a.id == id => return (Ok(a), strays),
            Some(a) => strays.push(a),
            None => return (Err(NoAnswer::Garbage(buf[..n].to_vec())), strays),
        }
    }
}

/// Every datagram that arrives at `sock` within `wait` (late or duplicate
/// answers), parsed.
pub fn udp_drain(sock: &UdpSocket, wait: Duration) -> Vec<Option<Answer>> {
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65535];
    // At most one datagram per iteration; bounded by the deadline.
    while let Some(left) = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    {
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => out.push(Answer::parse(&buf[..n])),
            Err(_) => break,
        }
    }
    out
}

/// One UPDATE over a new TCP connection: connect, send, read one framed
/// answer, all within `wait`.
pub fn tcp_exchange(to: SocketAddr, msg: &[u8], wait: Duration) -> Result<Answer, NoAnswer> {
    let deadline = Instant::now() + wait;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => NoAnswer::Timeout,
        _ => NoAnswer::Io(e.to_string()),
    };
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(NoAnswer::Timeout)
    };
    let mut s = TcpStream::connect_timeout(&to, left()?).map_err(io)?;
    s.set_write_timeout(Some(left()?)).map_err(io)?;
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    s.write_all(&framed).map_err(io)?;
    s.set_read_timeout(Some(left()?)).map_err(io)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).map_err(io)?;
    Answer::parse(&buf).ok_or(NoAnswer::Garbage(buf))
}

/// One commit of HEAD's history.
#[derive(Clone, Debug)]
pub struct Logged {
    pub id: String,
    pub author: String,
    pub message: String,
}

impl Logged {
    /// The `Serial: old -> new` trailer.
    pub fn serials(&self) -> Option<(u32, u32)> {
        let v = self
            .message
            .lines()
            .find_map(|l| l.strip_prefix("Serial: "))?;
        let (a, b) = v.split_once(" -> ")?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    }

    /// The TXT values the message lists as added (`+ OWNER TTL IN TXT "v"`).
    pub fn added_txt(&self) -> Vec<String> {
        self.message
            .lines()
            .filter_map(|l| l.strip_prefix("+ "))
            .filter_map(|rr| rr.split_once(" IN TXT "))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .collect()
    }
}

/// HEAD's history in `zones`, oldest first (one `git log` run).
pub fn log(zones: &Path) -> Vec<Logged> {
    let out = git(zones, &["log", "--reverse", "--format=%H%x00%an%x00%B%x1e"]);
    out.split('\u{1e}')
        .filter_map(|c| {
            let mut f = c.trim_start_matches('\n').splitn(3, '\0');
            Some(Logged {
                id: f.next()?.to_owned(),
                author: f.next()?.to_owned(),
                message: f.next()?.to_owned(),
            })
        })
        .filter(|c| !c.id.is_empty())
        .collect()
}

/// For each TXT value added in HEAD's history, the commits (author, id)
/// that list it.
pub fn added_by(history: &[Logged]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in history {
        for v in c.added_txt() {
            out.entry(v)
                .or_default()
                .push((c.author.clone(), c.id.clone()));
        }
    }
    out
}

/// Every `*.lock` file under `zones/.git` (git's own locks: index.lock,
/// HEAD.lock, refs/heads/<branch>.lock ...).
pub fn git_locks(zones: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![zones.join(".git")];
    // Bounded by the repository's directory tree.
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(p),
                Ok(_) if p.extension().is_some_and(|x| x == "lock") => out.push(p),
                _ => {}
            }
        }
    }
    out
}
