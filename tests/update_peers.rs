//! RFC 2136 UPDATE with TSIG (RFC 8945) from the clients people use:
//! ISC nsupdate, Knot's knsupdate and dnspython (what lego and certbot's
//! RFC 2136 plugins build on), plus every way a request must be turned
//! away without changing anything. Each test has its own server and
//! zones directory; the answers are checked with dig and in git.

mod common;

use std::path::Path;

use common::update::*;
use common::*;

const TOKEN_TXT: &str = "_acme-challenge.example.com. 60 TXT \"token-1\"";

fn assert_update_ok(o: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr).to_ascii_lowercase();
    assert!(o.status.success(), "{what}: {}", text(o));
    for bad in ["tsig", "error", "fail", "refused", "notauth", "timed out"] {
        assert!(
            !stderr.contains(bad),
            "{what}: stderr mentions {bad:?}: {}",
            text(o)
        );
    }
}

/// The newest commit is one UPDATE by `author` that added (`+1 -0`) or
/// removed (`+0 -1`) one TXT record at _acme-challenge.
fn assert_head_update(zones: &Path, author: &str, counts: &str) {
    let c = commit(zones, "HEAD");
    assert_eq!(c.author_name, author, "{c:?}");
    let prefix = format!("example.com: {counts} TXT");
    assert!(c.subject.starts_with(&prefix), "want {prefix:?}: {c:?}");
    assert!(c.subject.contains("_acme-challenge.example.com"), "{c:?}");
    assert_eq!(c.trailer("Via").as_deref(), Some("rfc2136"), "{c:?}");
    assert_eq!(c.trailer("Actor").as_deref(), Some(author), "{c:?}");
}

/// nsupdate adds then deletes token-1; dig sees each step at once; each is
/// one commit.
fn nsupdate_add_then_delete(tcp: bool, zone_line: bool) {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let base = head(&zones).unwrap();
    let zone = zone_line.then_some("example.com");
    let y = acme_y();

    let add = update_script(port, zone, &[&format!("update add {TOKEN_TXT}")]);
    let o = nsupdate(&["-y", &y], tcp, &add);
    assert_update_ok(&o, "nsupdate add");
    assert_eq!(dig_short(port, ACME_NAME, "TXT", false), ["\"token-1\""]);
    assert!(zone_text(&zones).contains("token-1"));
    assert_eq!(commits_since(&zones, &base).len(), 1);
    assert_head_update(&zones, ACME, "+1 -0");

    let del = update_script(
        port,
        zone,
        &["update delete _acme-challenge.example.com. TXT \"token-1\""],
    );
    let o = nsupdate(&["-y", &y], tcp, &del);
    assert_update_ok(&o, "nsupdate delete");
    assert!(dig_short(port, ACME_NAME, "TXT", false).is_empty());
    assert!(!zone_text(&zones).contains("token-1"));
    assert_eq!(commits_since(&zones, &base).len(), 2);
    assert_head_update(&zones, ACME, "+0 -1");
}

#[test]
fn nsupdate_udp_with_zone() {
    nsupdate_add_then_delete(false, true);
}

#[test]
fn nsupdate_tcp_with_zone() {
    nsupdate_add_then_delete(true, true);
}

/// Without `zone`, nsupdate first asks for the SOA (signed) and needs a
/// signed answer before it sends the UPDATE.
#[test]
fn nsupdate_udp_without_zone() {
    nsupdate_add_then_delete(false, false);
}

#[test]
fn nsupdate_tcp_without_zone() {
    nsupdate_add_then_delete(true, false);
}

/// `nsupdate -k` with a BIND key file (tsig-keygen format), hmac-sha512.
#[test]
fn nsupdate_key_file_hmac_sha512() {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let base = head(&zones).unwrap();
    let keyfile = fixture_path("bind-key.conf");
    let keyfile = keyfile.to_str().unwrap();

    let add = update_script(
        port,
        Some("example.com"),
        &[&format!("update add {TOKEN_TXT}")],
    );
    assert_update_ok(&nsupdate(&["-k", keyfile], false, &add), "nsupdate -k add");
    assert_eq!(dig_short(port, ACME_NAME, "TXT", true), ["\"token-1\""]);
    assert_eq!(commits_since(&zones, &base).len(), 1);
    assert_head_update(&zones, "bind-key", "+1 -0");

    let del = update_script(
        port,
        Some("example.com"),
        &["update delete _acme-challenge.example.com. TXT \"token-1\""],
    );
    assert_update_ok(
        &nsupdate(&["-k", keyfile], true, &del),
        "nsupdate -k delete",
    );
    assert!(dig_short(port, ACME_NAME, "TXT", true).is_empty());
    assert_eq!(commits_since(&zones, &base).len(), 2);
    assert_head_update(&zones, "bind-key", "+0 -1");
}

fn knsupdate_add_then_delete(tcp: bool) {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let base = head(&zones).unwrap();
    let y = acme_y();

    let add = update_script(
        port,
        Some("example.com."),
        &[&format!("update add {TOKEN_TXT}")],
    );
    let o = knsupdate(&y, tcp, &add);
    assert_update_ok(&o, "knsupdate add");
    assert_eq!(dig_short(port, ACME_NAME, "TXT", false), ["\"token-1\""]);
    assert_eq!(commits_since(&zones, &base).len(), 1);
    assert_head_update(&zones, ACME, "+1 -0");

    let del = update_script(
        port,
        Some("example.com."),
        &["update delete _acme-challenge.example.com. TXT \"token-1\""],
    );
    let o = knsupdate(&y, tcp, &del);
    assert_update_ok(&o, "knsupdate delete");
    assert!(dig_short(port, ACME_NAME, "TXT", false).is_empty());
    assert_eq!(commits_since(&zones, &base).len(), 2);
    assert_head_update(&zones, ACME, "+0 -1");
}

#[test]
fn knsupdate_udp() {
    knsupdate_add_then_delete(false);
}

#[test]
fn knsupdate_tcp() {
    knsupdate_add_then_delete(true);
}

/// dnspython add/delete over UDP and TCP with one key (name, algorithm).
fn dnspython_add_then_delete(key_name: &str, alg: &str, secret: &str) {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let base = head(&zones).unwrap();
    let key = py_key(key_name, alg, secret);
    for (round, tcp) in [false, true].into_iter().enumerate() {
        let token = format!("{alg}-{}", if tcp { "tcp" } else { "udp" });
        let r = py_update(
            port,
            &key,
            tcp,
            &[&format!("add _acme-challenge 60 TXT \"{token}\"")],
        );
        assert!(r.is_signed_ok(), "{key_name} add tcp={tcp}: {r:?}");
        assert_eq!(served_txt(s.addr, ACME_NAME), std::slice::from_ref(&token));
        assert_head_update(&zones, key_name, "+1 -0");

        let r = py_update(
            port,
            &key,
            tcp,
            &[&format!("delete _acme-challenge TXT \"{token}\"")],
        );
        assert!(r.is_signed_ok(), "{key_name} delete tcp={tcp}: {r:?}");
        assert!(served_txt(s.addr, ACME_NAME).is_empty());
        assert_head_update(&zones, key_name, "+0 -1");
        assert_eq!(commits_since(&zones, &base).len(), 2 * (round + 1));
    }
    assert_eq!(zone_text(&zones).matches("_acme-challenge").count(), 0);
}

#[test]
fn dnspython_hmac_sha256() {
    dnspython_add_then_delete(ACME, "hmac-sha256", SECRET_SHA256);
}

/// lego's default algorithm.
#[test]
fn dnspython_hmac_sha1() {
    dnspython_add_then_delete("lego-key", "hmac-sha1", SECRET_SHA1);
}

/// certbot-dns-rfc2136's default algorithm.
#[test]
fn dnspython_hmac_md5() {
    dnspython_add_then_delete("certbot-key", "hmac-md5", SECRET_MD5);
}

// ------------------------------------------------------------- refusals

const ADD_TOKEN: &str = "add _acme-challenge 60 TXT \"token-1\"";

/// Runs `refuse` against a fresh server and checks that the zone file,
/// its mtime, git and the served data are all as before.
fn refused_changes_nothing(what: &str, refuse: impl FnOnce(&TestServer)) {
    let s = start();
    let zones = s.zones_dir();
    let before = written(&zones);
    let serial = served_serial(s.addr);
    refuse(&s);
    assert_nothing_written(&before, &zones, what);
    assert_eq!(served_serial(s.addr), serial, "{what}");
    assert!(served_txt(s.addr, ACME_NAME).is_empty(), "{what}");
    assert_eq!(
        served_txt(s.addr, "www.example.com."),
        Vec::<String>::new(),
        "{what}"
    );
}

/// RFC 8945 §5.2.2: an unknown key gets NOTAUTH, TSIG error BADKEY, unsigned.
#[test]
fn unknown_key_is_notauth_badkey_unsigned() {
    refused_changes_nothing("unknown key", |s| {
        for tcp in [false, true] {
            let key = py_key("nobody-key", "hmac-sha256", SECRET_SHA256);
            let r = py_update(s.addr.port(), &key, tcp, &[ADD_TOKEN]);
            assert_eq!(
                (r.rcode.as_str(), r.tsig.as_str(), r.tsig_error.as_str()),
                ("NOTAUTH", "empty-mac", "BADKEY"),
                "tcp={tcp}: {r:?}"
            );
        }
    });
}

/// A known key with the algorithm it is not configured with: BADKEY too.
#[test]
fn wrong_algorithm_is_notauth_badkey() {
    refused_changes_nothing("wrong algorithm", |s| {
        let key = py_key(ACME, "hmac-sha512", SECRET_SHA256);
        let r = py_update(s.addr.port(), &key, false, &[ADD_TOKEN]);
        assert_eq!(
            (r.rcode.as_str(), r.tsig_error.as_str()),
            ("NOTAUTH", "BADKEY"),
            "{r:?}"
        );
    });
}

/// RFC 8945 §5.2.2: a MAC that does not verify gets NOTAUTH/BADSIG, unsigned.
#[test]
fn wrong_secret_is_notauth_badsig_unsigned() {
    refused_changes_nothing("wrong secret", |s| {
        for tcp in [false, true] {
            let key = py_key(ACME, "hmac-sha256", WRONG_SECRET);
            let r = py_update(s.addr.port(), &key, tcp, &[ADD_TOKEN]);
            assert_eq!(
                (r.rcode.as_str(), r.tsig.as_str(), r.tsig_error.as_str()),
                ("NOTAUTH", "empty-mac", "BADSIG"),
                "tcp={tcp}: {r:?}"
            );
        }
        // nsupdate reports it as a failure too.
        let script = update_script(
            s.addr.port(),
            Some("example.com"),
            &[&format!("update add {TOKEN_TXT}")],
        );
        let o = nsupdate(
            &["-y", &format!("hmac-sha256:{ACME}:{WRONG_SECRET}")],
            false,
            &script,
        );
        assert!(!o.status.success(), "{}", text(&o));
    });
}

/// RFC 8945 §5.2.3: a time outside the fudge gets NOTAUTH/BADTIME, and
/// that answer is signed (with the request's key).
#[test]
fn skewed_clock_is_notauth_badtime_signed() {
    refused_changes_nothing("skewed clock", |s| {
        for (skew, tcp) in [("-1000", false), ("1000", true), ("-301", false)] {
            let key = acme_py();
            let r = dnsupdate(
                s.addr.port(),
                &["--key", &key, "--skew", skew, "--op", ADD_TOKEN]
                    .into_iter()
                    .chain(tcp.then_some("--tcp"))
                    .collect::<Vec<_>>(),
            );
            assert_eq!(r.len(), 1);
            assert_eq!(
                (
                    r[0].rcode.as_str(),
                    r[0].tsig.as_str(),
                    r[0].tsig_error.as_str()
                ),
                ("NOTAUTH", "valid", "BADTIME"),
                "skew {skew}: {:?}",
                r[0]
            );
        }
    });
}

/// Within the fudge is fine: a client clock 250 s ahead, and one behind.
/// (A clock behind ours is refused for that long after the server starts:
/// the replay cache cannot vouch for requests signed before its start, see
/// security_tsig.rs. So the late clock here is 1 s late, 2 s after start.)
#[test]
fn clock_within_fudge_is_accepted() {
    let s = start();
    let r = dnsupdate(
        s.addr.port(),
        &["--key", &acme_py(), "--skew", "250", "--op", ADD_TOKEN],
    );
    assert!(r[0].is_signed_ok(), "{r:?}");
    assert_eq!(served_txt(s.addr, ACME_NAME), ["token-1"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let r = dnsupdate(
        s.addr.port(),
        &[
            "--key",
            &acme_py(),
            "--skew",
            "-1",
            "--op",
            "add _acme-challenge 60 TXT \"token-2\"",
        ],
    );
    assert!(r[0].is_signed_ok(), "{r:?}");
}

/// An unsigned UPDATE is REFUSED (nsupdate without a key; dnspython).
#[test]
fn unsigned_update_is_refused() {
    refused_changes_nothing("unsigned", |s| {
        let script = update_script(
            s.addr.port(),
            Some("example.com"),
            &[&format!("update add {TOKEN_TXT}")],
        );
        for tcp in [false, true] {
            let o = nsupdate(&[], tcp, &script);
            assert!(!o.status.success(), "{}", text(&o));
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("REFUSED"),
                "tcp={tcp}: {}",
                text(&o)
            );
        }
        let o = run_bounded(
            &mut dnsupdate_cmd(s.addr.port(), &["--op", ADD_TOKEN]),
            "",
            std::time::Duration::from_secs(20),
        );
        let r = PyResult::parse(String::from_utf8_lossy(&o.stdout).trim());
        assert_eq!(
            (r.rcode.as_str(), r.tsig.as_str()),
            ("REFUSED", "none"),
            "{}",
            text(&o)
        );
    });
}

/// Outside the grant (another type, another name, or one bad RR among good
/// ones): REFUSED, signed, and nothing at all is applied.
#[test]
fn out_of_grant_is_refused_signed_and_atomic() {
    refused_changes_nothing("out of grant", |s| {
        let port = s.addr.port();
        for ops in [
            &["add _acme-challenge 60 A 192.0.2.99"][..],
            &["add www 60 TXT \"hijack\""],
            &["add x._acme-challenge 60 TXT \"below-the-label\""],
            &[ADD_TOKEN, "add www 60 TXT \"hijack\""],
            &["delete www A"],
            &["delete _acme-challenge"],
        ] {
            for tcp in [false, true] {
                let r = py_update(port, &acme_py(), tcp, ops);
                assert_eq!(
                    (r.rcode.as_str(), r.tsig.as_str(), r.tsig_error.as_str()),
                    ("REFUSED", "valid", "NOERROR"),
                    "{ops:?} tcp={tcp}: {r:?}"
                );
            }
        }
        let script = update_script(
            port,
            Some("example.com"),
            // (nsupdate itself refuses an A record at an _underscore name.)
            &["update add www.example.com. 60 A 192.0.2.99"],
        );
        let o = nsupdate(&["-y", &acme_y()], false, &script);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("REFUSED"),
            "{}",
            text(&o)
        );
        assert_eq!(
            a_addrs(&s.udp(&query("www.example.com.", hickory_proto::rr::RecordType::A))),
            [std::net::Ipv4Addr::new(192, 0, 2, 80)]
        );
    });
}

/// RFC 8914: a refused UPDATE that came with EDNS says why in an Extended
/// DNS Error (what libdns shows Caddy's users), read back by dnspython with
/// the TSIG still verifying; without EDNS there is no OPT (RFC 6891 §7).
#[test]
fn rfc8914_refusals_carry_an_extended_dns_error_when_asked_with_edns() {
    let s = start();
    let port = s.addr.port();
    let key = acme_py();
    let run = |edns: bool, zone: &str, op: &str| {
        let mut args = vec!["--key", key.as_str(), "--zone", zone, "--op", op];
        if edns {
            args.push("--edns");
        }
        let v = dnsupdate(port, &args);
        v[0].clone()
    };
    let r = run(true, "example.com.", "add www 60 TXT \"hijack\"");
    assert_eq!(
        (r.rcode.as_str(), r.tsig.as_str()),
        ("REFUSED", "valid"),
        "{r:?}"
    );
    assert!(
        r.ede
            .starts_with("18:key_acme-key_may_not_change_TXT_at_www.example.com."),
        "{r:?}"
    );
    let r = run(true, "nothere.example.", "add x 60 TXT \"x\"");
    assert_eq!(r.rcode, "NOTAUTH", "{r:?}");
    assert!(
        r.ede.starts_with("20:zone_nothere.example._is_not_served"),
        "{r:?}"
    );
    let r = run(false, "example.com.", "add www 60 TXT \"hijack\"");
    assert_eq!(
        (r.rcode.as_str(), r.ede.as_str()),
        ("REFUSED", "-"),
        "{r:?}"
    );
    // A granted write with EDNS is answered as before.
    let r = run(true, "example.com.", ADD_TOKEN);
    assert!(r.is_signed_ok(), "{r:?}");
}

/// Outside attack, round 14: dnspython 2.3 compresses an SRV record's
/// target name (a pointer to the zone name); the add was FORMERR and the
/// delete of the same record answered NOERROR and removed nothing. RFC
/// 3597 §4: receivers SHOULD decompress SRV. Both now work as sent.
#[test]
fn dnspython_srv_with_a_compressed_target_is_added_and_deleted() {
    let srv_key = "c3J2LWtleS1zZWNyZXQtZm9yLXRoZS1zcnYtdGVzdHM=";
    let config = format!(
        "{}[[key]]\nname = \"srv-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{srv_key}\"\n\
         rate_limit = \"off\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_sip._tcp\"], types = [\"SRV\"] }} ]\n",
        update_config()
    );
    let s = TestServer::start(&[(ZONE_FILE, &fixture_zone())], &config);
    let port = s.addr.port();
    let key = py_key("srv-key", "hmac-sha256", srv_key);
    let add = py_update(
        port,
        &key,
        false,
        &["add _sip._tcp 60 SRV '0 5 5060 www.example.com.'"],
    );
    assert!(add.is_signed_ok(), "{add:?}");
    assert_eq!(
        dig_short(port, "_sip._tcp.example.com", "SRV", false),
        ["0 5 5060 www.example.com."]
    );
    let del = py_update(
        port,
        &key,
        false,
        &["delete _sip._tcp SRV '0 5 5060 www.example.com.'"],
    );
    assert!(del.is_signed_ok(), "{del:?}");
    assert!(
        dig_short(port, "_sip._tcp.example.com", "SRV", false).is_empty(),
        "the delete removed the record"
    );
    wait_committed(&s.zones_dir(), ZONE_FILE);
    assert!(!zone_text(&s.zones_dir()).contains("_sip"));
}
