//! Test harness: a temp config + zones dir, the real server started
//! in-process on 127.0.0.1:0 (same `serve::run` as the binary), and small
//! blocking UDP/TCP clients built on hickory-proto messages. Every wait is
//! bounded by a socket timeout or a poll limit; only loopback is used.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tempfile::TempDir;
use tokio::sync::oneshot;

use zonewright::config::Config;
use zonewright::serve;
use zonewright::served::State;
use zonewright::server::Listeners;
use zonewright::store::Store;

pub const IO_TIMEOUT: Duration = Duration::from_secs(3);

/// The example zone used by most tests: SOA, NS, A records and a TXT RRset
/// too big for 512 or 1232 bytes.
pub fn example_zone(serial: u32, www: &str) -> String {
    let mut z = format!(
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ IN SOA ns1.example.com. hostmaster.example.com. ( {serial} 7200 3600 1209600 300 )\n\
         \x20 IN NS ns1.example.com.\n\
         ns1 IN A 192.0.2.1\n\
         www IN A {www}\n\
         mail IN MX 10 ns1.example.com.\n"
    );
    for i in 0..BIG_TXT_COUNT {
        z.push_str(&format!("big IN TXT \"{i:03}-{}\"\n", "x".repeat(200)));
    }
    z
}

pub const BIG_TXT_COUNT: usize = 20;

pub fn simple_zone(origin: &str, serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n\
         @ IN SOA ns1.{origin}. hostmaster.{origin}. {serial} 7200 3600 1209600 300\n\
         \x20 IN NS ns1.{origin}.\n\
         ns1 IN A 192.0.2.1\n\
         www IN A {www}\n"
    )
}

/// `zonewright serve --config CONFIG` as the tests run the binary: INFO
/// lines to `log`, stdin and stdout closed. Not spawned yet.
#[allow(dead_code)]
pub fn serve_command(config: &Path, log: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zonewright"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    cmd
}

/// A port for a test server's DNS listener: below the kernel's ephemeral
/// range (`net.ipv4.ip_local_port_range`), free for UDP and TCP on
/// 127.0.0.1 when picked, and never handed out twice by this process.
///
/// Not port 0, and not a port the kernel picked and the test released:
/// the servers' UDP sockets set SO_REUSEPORT, and so does dig (BIND's
/// network manager sets it on its client sockets). Linux lets a socket of
/// the same user with SO_REUSEPORT bind a port such sockets hold, and its
/// port-0 search treats those ports as free. A dig whose random source port
/// was the server's own port sent its query to itself and read it back
/// (CI: `;; Warning: query response not set` and no answer, in
/// `coexist::a_racing_editor_loses_no_acknowledged_update_udp`). No
/// client's source port is ever below the ephemeral range. Bounded: one
/// pass over the range.
pub fn server_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (start, len) = server_port_range();
    let offset = (std::process::id().wrapping_mul(7919)) % len;
    for _ in 0..len {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(start + (offset + n) % len).unwrap_or(0);
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, port));
        let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        if port != 0 && udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no port below the ephemeral range is free for UDP and TCP");
}

/// (first port, count): 12,000 ports below the ephemeral range, or, when
/// that range starts too low, the ports above it.
fn server_port_range() -> (u32, u32) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = text
        .split_whitespace()
        .filter_map(|t| t.parse::<u32>().ok());
    let low = bounds.next().unwrap_or(32768);
    let high = bounds.next().unwrap_or(60999);
    if low >= 1024 + 2000 {
        let start = low.saturating_sub(12_000).max(1024);
        (start, low - start)
    } else {
        (high + 1, 65535 - high)
    }
}

pub struct TestServer {
    pub dir: TempDir,
    pub addr: SocketAddr,
    /// The REST API's address when the config has `[rest]`.
    pub rest_addr: Option<SocketAddr>,
    /// The admin listener's address when the config has `[admin]`.
    pub admin_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Binds `config`'s listeners, each DNS address with port 0 on a
/// [`server_port`] instead (written back into `config`); a port another
/// process took since it was picked is replaced, up to 5 times.
fn bind_listeners(config: &mut Config) -> Listeners {
    let wanted = config.listen.clone();
    let mut last = None;
    for _ in 0..5 {
        for (addr, want) in config.listen.iter_mut().zip(&wanted) {
            if want.port() == 0 {
                addr.set_port(server_port());
            }
        }
        let bound = Listeners::bind(&config.listen, config.server.udp_workers)
            .and_then(|l| l.with_rest(config.rest.as_ref().map(|r| r.listen)))
            .and_then(|l| l.with_admin(config.admin.as_ref().map(|a| a.listen)));
        match bound {
            Ok(l) => return l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => panic!("binding {:?}: {e}", config.listen),
        }
    }
    panic!("binding {:?}: {last:?}", config.listen);
}

impl TestServer {
    /// Starts a server over `zones` (file name, text) with `extra` appended
    /// to the config (e.g. `[[zone]]` entries or `[server]` settings).
    pub fn start(zones: &[(&str, &str)], extra: &str) -> TestServer {
        TestServer::start_prepared(zones, extra, |_| {})
    }

    /// [`TestServer::start`], with `prepare` run on the zones directory
    /// (zone files written) before the server starts: e.g. to give it a git
    /// history.
    pub fn start_prepared(
        zones: &[(&str, &str)],
        extra: &str,
        prepare: impl FnOnce(&Path),
    ) -> TestServer {
        TestServer::start_listening("127.0.0.1:0", zones, extra, prepare)
    }

    /// [`TestServer::start_prepared`] on `listen` (e.g. `[::1]:0`) instead
    /// of `127.0.0.1:0`.
    pub fn start_listening(
        listen: &str,
        zones: &[(&str, &str)],
        extra: &str,
        prepare: impl FnOnce(&Path),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zones")).unwrap();
        for (name, text) in zones {
            std::fs::write(dir.path().join("zones").join(name), text).unwrap();
        }
        prepare(&dir.path().join("zones"));
        let has_server_table = extra.contains("[server]");
        let mut config = format!("listen = [\"{listen}\"]\nzones_dir = \"zones\"\n");
        if !has_server_table {
            config.push_str("[server]\nudp_workers = 2\n");
        }
        config.push_str(extra);
        let path = dir.path().join("zonewright.toml");
        std::fs::write(&path, config).unwrap();
        TestServer::start_in(dir)
    }

    /// Stops the server and starts it again over the same directory and
    /// config (the same zone files and git repository; new ports).
    pub fn restart(self) -> TestServer {
        self.restart_prepared(|_| {})
    }

    /// [`TestServer::restart`], with `prepare` run on the zones directory
    /// while the server is stopped (e.g. to rewrite its git history).
    pub fn restart_prepared(mut self, prepare: impl FnOnce(&Path)) -> TestServer {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        prepare(&dir.path().join("zones"));
        TestServer::start_in(dir)
    }

    /// Starts a server over the `zonewright.toml` in `dir`.
    fn start_in(dir: TempDir) -> TestServer {
        let path = dir.path().join("zonewright.toml");
        let mut config = Config::load(&path).unwrap();
        let listeners = bind_listeners(&mut config);
        let rest_addr = listeners.rest_addr();
        let admin_addr = listeners.admin_addr();
        let addr = listeners.local_addrs()[0];
        let state = Arc::new(State::new(Arc::new(config)));
        state.reload();
        // As `zonewright serve` does: zone files not yet in git are
        // committed as an external change before serving.
        let store = Store::new(state.clone());
        store.commit_external_changes();
        let store = Arc::new(store);
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                serve::run(state, store, listeners, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        TestServer {
            dir,
            addr,
            rest_addr,
            admin_addr,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn zones_dir(&self) -> PathBuf {
        self.dir.path().join("zones")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("zonewright.toml")
    }

    /// Saves like vim does by default on many setups: write a new file,
    /// rename it over the old one (the inode changes).
    pub fn save_by_rename(&self, name: &str, text: &str) {
        let tmp = self.zones_dir().join(format!(".{name}.swp-new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.zones_dir().join(name)).unwrap();
    }

    pub fn udp(&self, msg: &Message) -> Message {
        let bytes = self.udp_raw(&msg.to_vec().unwrap()).expect("UDP answer");
        Message::from_vec(&bytes).unwrap()
    }

    /// Sends raw bytes over UDP; `None` if no answer within a short wait.
    pub fn udp_raw(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.udp_raw_wait(bytes, IO_TIMEOUT)
    }

    pub fn udp_raw_wait(&self, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(wait)).unwrap();
        sock.send_to(bytes, self.addr).unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    pub fn tcp_connect(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s
    }

    pub fn tcp(&self, msg: &Message) -> Message {
        let mut s = self.tcp_connect();
        tcp_send(&mut s, &msg.to_vec().unwrap());
        Message::from_vec(&tcp_recv(&mut s).expect("TCP answer")).unwrap()
    }

    /// Queries `name`/`rtype` over UDP until `pred` holds, up to 3 s in
    /// 50 ms steps; returns the last response and whether it held.
    pub fn poll_udp(
        &self,
        name: &str,
        rtype: RecordType,
        pred: impl Fn(&Message) -> bool,
    ) -> (Message, bool) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let resp = self.udp(&query(name, rtype));
            if pred(&resp) {
                return (resp, true);
            }
            if Instant::now() >= deadline {
                return (resp, false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn query(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

pub fn query_edns(name: &str, rtype: RecordType, payload: u16, version: u8) -> Message {
    let mut m = query(name, rtype);
    let mut e = Edns::new();
    e.set_max_payload(payload);
    e.set_version(version);
    m.set_edns(e);
    m
}

pub fn tcp_send(s: &mut TcpStream, bytes: &[u8]) {
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    s.write_all(&framed).unwrap();
}

/// One framed message, or `None` on EOF/timeout.
pub fn tcp_recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

pub fn is_response_to(resp: &Message, req: &Message) -> bool {
    resp.metadata.id == req.metadata.id && resp.metadata.message_type == MessageType::Response
}

pub fn rcode(resp: &Message) -> ResponseCode {
    resp.metadata.response_code
}

/// The IPv4 addresses in the answer section.
pub fn a_addrs(resp: &Message) -> Vec<Ipv4Addr> {
    resp.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

pub fn soa_serial(resp: &Message) -> Option<u32> {
    resp.answers.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    })
}

pub fn opcode_message(op: u8) -> Vec<u8> {
    let mut bytes = query("www.example.com.", RecordType::A).to_vec().unwrap();
    bytes[2] = (bytes[2] & !0x78) | (op << 3);
    bytes
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
pub mod storm;
pub mod update;
pub mod wire;

/// The serial of an SOA record (`None` for any other).
pub fn serial_of(r: &hickory_proto::rr::Record) -> Option<u32> {
    match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    }
}

/// Sends `q` on `conn` and reads the whole zone-transfer answer stream:
/// done at the SOA that ends it (one SOA alone; AXFR form: the second SOA;
/// incremental: the third copy of the current SOA), at most 1,000
/// messages, each answering `q`.
pub fn read_transfer(
    conn: &mut TcpStream,
    q: &Message,
) -> (Vec<hickory_proto::rr::Record>, ResponseCode) {
    tcp_send(conn, &q.to_vec().unwrap());
    let mut records = Vec::new();
    for _ in 0..1000 {
        let Some(bytes) = tcp_recv(conn) else {
            break;
        };
        let msg = Message::from_vec(&bytes).unwrap();
        assert!(is_response_to(&msg, q));
        if rcode(&msg) != ResponseCode::NoError {
            return (records, rcode(&msg));
        }
        records.extend(msg.answers);
        let current = records.first().and_then(serial_of);
        let copies = records
            .iter()
            .filter(|r| serial_of(r).is_some() && serial_of(r) == current)
            .count();
        let incremental = records
            .get(1)
            .and_then(serial_of)
            .is_some_and(|s| Some(s) != current);
        if records.len() == 1 || copies == if incremental { 3 } else { 2 } {
            break;
        }
    }
    (records, ResponseCode::NoError)
}
