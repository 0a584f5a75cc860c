//! Large UPDATE messages over TCP (issue 17: controllers such as octoDNS
//! and external-dns send hundreds of changes per message): 1,000 changes in
//! one ~55 KB message are applied as one write and one commit, whose
//! message stays readable (a summary line, then one line per RR).

mod common;

use common::update::*;

#[test]
fn an_update_of_1000_changes_over_tcp_is_one_write_and_one_readable_commit() {
    let s = start();
    let zones = s.zones_dir();
    let before = commit_count(&zones);
    let ops: Vec<String> = (0..1000)
        .map(|i| format!("add _acme-challenge.h{i} 60 TXT \"bulk-value-{i:04}\""))
        .collect();
    let refs: Vec<&str> = ops.iter().map(String::as_str).collect();
    let r = py_update(s.addr.port(), &acme_py(), true, &refs);
    assert!(r.is_signed_ok(), "{r:?}");
    assert_eq!(
        commit_count(&zones),
        before + 1,
        "one commit for the message"
    );
    let head = commit(&zones, "HEAD");
    assert_eq!(head.author_name, ACME);
    // The summary names a few owners and says how many more.
    assert!(
        head.subject.starts_with("example.com: +1000 -0 TXT ") && head.subject.contains("more"),
        "{}",
        head.subject
    );
    assert!(head.subject.len() < 200, "{}", head.subject);
    let listed = head
        .message
        .lines()
        .filter(|l| l.starts_with("+ _acme-challenge.h"))
        .count();
    assert_eq!(listed, 1000, "every RR listed");
    let file = zone_text(&zones);
    for i in [0, 499, 999] {
        assert!(
            file.contains(&format!("\"bulk-value-{i:04}\"")),
            "h{i} missing"
        );
    }
    // And removed again in one message: one more commit.
    let ops: Vec<String> = (0..1000)
        .map(|i| format!("delete _acme-challenge.h{i} TXT \"bulk-value-{i:04}\""))
        .collect();
    let refs: Vec<&str> = ops.iter().map(String::as_str).collect();
    let r = py_update(s.addr.port(), &acme_py(), true, &refs);
    assert!(r.is_signed_ok(), "{r:?}");
    assert_eq!(commit_count(&zones), before + 2);
    assert!(!zone_text(&zones).contains("bulk-value-"));
}
