//! Cross-checks with real resolvers' tools: ISC dig and Knot's kdig.
//! Skipped (with a note) when a tool is not installed.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn tool(path: &str) -> Option<&str> {
    if Path::new(path).exists() {
        Some(path)
    } else {
        eprintln!("{path} not installed; skipping");
        None
    }
}

fn run(bin: &str, args: &[String]) -> String {
    let o = Command::new(bin).args(args).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{bin} {args:?} failed: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn server() -> TestServer {
    TestServer::start(
        &[("example.com.zone", &example_zone(2024010101, "192.0.2.80"))],
        "[[zone]]\nname = \"example.com\"\nallow_transfer = [\"127.0.0.1\"]\n",
    )
}

/// The header flags line: dig writes `flags:`, kdig `Flags:`.
fn flags_line(out: &str) -> String {
    out.lines()
        .map(str::to_ascii_lowercase)
        .find(|l| l.contains("flags:"))
        .unwrap_or_default()
}

#[test]
fn dig_udp_answer() {
    let Some(dig) = tool("/usr/bin/dig") else {
        return;
    };
    let s = server();
    let args: Vec<String> = [
        "@127.0.0.1".to_string(),
        "-p".into(),
        s.addr.port().to_string(),
        "www.example.com".into(),
        "A".into(),
        "+norec".into(),
        "+time=2".into(),
        "+tries=1".into(),
    ]
    .into();
    let out = run(dig, &args);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(flags_line(&out).contains(" aa"), "{out}");
    assert!(out.contains("192.0.2.80"), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
}

#[test]
fn kdig_tcp_answer() {
    let Some(kdig) = tool("/usr/bin/kdig") else {
        return;
    };
    let s = server();
    let args: Vec<String> = [
        "@127.0.0.1".to_string(),
        "-p".into(),
        s.addr.port().to_string(),
        "www.example.com".into(),
        "A".into(),
        "+tcp".into(),
        "+norec".into(),
        "+time=2".into(),
        "+retry=0".into(),
    ]
    .into();
    let out = run(kdig, &args);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(flags_line(&out).contains(" aa"), "{out}");
    assert!(out.contains("192.0.2.80"), "{out}");
}

#[test]
fn dig_axfr() {
    let Some(dig) = tool("/usr/bin/dig") else {
        return;
    };
    let s = server();
    let args: Vec<String> = [
        "@127.0.0.1".to_string(),
        "-p".into(),
        s.addr.port().to_string(),
        "example.com".into(),
        "AXFR".into(),
        "+time=2".into(),
        "+tries=1".into(),
    ]
    .into();
    let out = run(dig, &args);
    let soas = out.lines().filter(|l| l.contains("\tSOA\t")).count();
    assert_eq!(soas, 2, "{out}");
    assert!(out.contains("192.0.2.80"), "{out}");
    assert!(!out.contains("Transfer failed"), "{out}");
}

#[test]
fn kdig_edns_big_answer_truncates_then_tcp() {
    let Some(kdig) = tool("/usr/bin/kdig") else {
        return;
    };
    let s = server();
    let port = s.addr.port().to_string();
    let base = [
        "@127.0.0.1",
        "-p",
        &port,
        "big.example.com",
        "TXT",
        "+norec",
        "+time=2",
        "+retry=0",
    ];
    let mut udp: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    udp.push("+notcp".into());
    udp.push("+ignore".into());
    let out = run(kdig, &udp);
    assert!(flags_line(&out).contains(" tc"), "{out}");
    let mut tcp: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    tcp.push("+tcp".into());
    let out = run(kdig, &tcp);
    assert_eq!(
        out.lines().filter(|l| l.contains("\tTXT\t")).count(),
        BIG_TXT_COUNT,
        "{out}"
    );
}
