//! The TSIG layer (RFC 8945) around the dispatcher: the configured keys
//! with their rate limiters and grants, the answers to rejected
//! signatures, and the one place responses are signed ([`Out::seal`]).
//! Handlers build their answers unsigned and hand them out as an [`Out`]
//! saying how to sign them; nothing else signs. The MAC arithmetic is
//! [`crate::tsig`]'s; this module only decides what to sign, with what,
//! and when not to.
//!
//! ```text
//!  source over its budget (guard) ───────────────► UDP: empty TC / TCP: REFUSED, no MAC computed
//!  verify_request ─► Err(BadKey|BadSig|BadTrunc) ─► NOTAUTH + unsigned TSIG (§5.2.1, §5.2.2, §5.3.2)
//!                 ├► Err(BadTime)                ─► NOTAUTH + signed TSIG, server time in Other (§5.2.3)
//!                 ├► Err(Malformed)              ─► FORMERR (§5.1; a MAC of a forbidden length, §5.2.2.1)
//!                 ├► Ok(None) ─► answer ─► Out::Final (unsigned request, unsigned answer)
//!                 └► Ok(Some(v)) ─► answer (errors, SERVFAIL after a panic, each transfer
//!                                   message) ─► Out::Sign ─► seal: Signing::sign_stream
//!                                   (§4.3, §5.3, §5.3.1) ─► replay cache (UPDATE)
//! ```

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::replay::InFlight;
use crate::config::KeyConfig;
use crate::policy::Grants;
use crate::rcode::Rcode;
use crate::response::error_for;
use crate::rr::Name;
use crate::tsig::{self, Context, Key, Rejection, SignParams, Verified};

/// One configured key, with what it may do.
pub struct KeyEntry {
    pub key: Key,
    pub grants: Grants,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl KeyEntry {
    /// Takes one token from the key's bucket; false when the key is over
    /// its rate limit. Keys with `rate_limit = "off"` always pass.
    pub fn take_token(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.check().is_ok())
    }

    /// The key name as the git author and in logs: no trailing dot.
    pub fn actor(&self) -> String {
        let name = self.key.name.to_ascii();
        name.trim_end_matches('.').to_string()
    }
}

/// The keys of the configuration, looked up by name (case-insensitively).
pub struct Keyring {
    entries: Vec<KeyEntry>,
}

impl Keyring {
    pub fn new(keys: &[KeyConfig]) -> Keyring {
        let entries = keys
            .iter()
            .map(|k| KeyEntry {
                key: k.key.clone(),
                grants: k.grants.clone(),
                limiter: k.rate_limit.and_then(|(n, per)| limiter(n, per)),
            })
            .collect();
        Keyring { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entry(&self, name: &Name) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| names_equal(&e.key.name, name))
    }

    pub fn lookup(&self, name: &Name) -> Option<&Key> {
        self.entry(name).map(|e| &e.key)
    }
}

/// The keyring of the configuration in effect: rebuilt on the first
/// request after a config reload (SIGHUP) put a new one in the state, so a
/// key added there works at once and a key removed stops at once.
pub struct LiveKeys {
    current: arc_swap::ArcSwap<(Arc<crate::config::Config>, Keyring)>,
}

impl LiveKeys {
    pub fn new(config: Arc<crate::config::Config>) -> LiveKeys {
        let ring = Keyring::new(&config.keys);
        LiveKeys {
            current: arc_swap::ArcSwap::from_pointee((config, ring)),
        }
    }

    /// The keyring for `config` (the state's, now).
    pub fn get(
        &self,
        config: Arc<crate::config::Config>,
    ) -> Arc<(Arc<crate::config::Config>, Keyring)> {
        let now = self.current.load_full();
        if Arc::ptr_eq(&now.0, &config) {
            return now;
        }
        let ring = Keyring::new(&config.keys);
        let fresh = Arc::new((config, ring));
        self.current.store(fresh.clone());
        fresh
    }
}

/// Case-insensitive, trailing dot or not.
fn names_equal(a: &Name, b: &Name) -> bool {
    a.num_labels() == b.num_labels()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// A token bucket of `n` requests per `per`, refilled one at a time.
fn limiter(n: u32, per: Duration) -> Option<DefaultDirectRateLimiter> {
    let burst = NonZeroU32::new(n)?;
    let one = (per / n).max(Duration::from_nanos(1));
    Quota::with_period(one).map(|q| RateLimiter::direct(q.allow_burst(burst)))
}

/// A handler's answer on its way out through the TSIG layer.
pub enum Out {
    /// Sent as it is: the answer to an unsigned request, a rejection
    /// [`reject`] built (RFC 8945 §5.2 says which of those carry a MAC), or
    /// a replayed UPDATE's cached answer (signed when first sent).
    Final(Vec<Vec<u8>>),
    /// The answer to a verified request, to sign: RFC 8945 §5.3, "the
    /// server MUST sign the response", errors included; each message of a
    /// stream chained to the one before (§5.3.1).
    Sign(Box<ToSign>),
}

/// Messages to sign, how, and where to keep the signed answer.
pub struct ToSign {
    msgs: Vec<Vec<u8>>,
    signing: Signing,
    /// The replay-cache entry that keeps the signed answer (an UPDATE's
    /// answer for good).
    record: Option<InFlight>,
}

impl Out {
    /// `msgs` to sign with `signing`, the first kept in `record`.
    pub fn sign(msgs: Vec<Vec<u8>>, signing: Signing, record: Option<InFlight>) -> Out {
        Out::Sign(Box::new(ToSign {
            msgs,
            signing,
            record,
        }))
    }

    /// One message to sign.
    pub fn sign_one(msg: Vec<u8>, signing: &Signing) -> Out {
        Out::sign(vec![msg], signing.clone(), None)
    }

    /// The messages to send. The only place a response is signed.
    pub fn seal(self) -> Vec<Vec<u8>> {
        match self {
            Out::Final(msgs) => msgs,
            Out::Sign(to) => {
                let ToSign {
                    mut msgs,
                    signing,
                    record,
                } = *to;
                signing.sign_stream(&mut msgs);
                if let (Some(r), Some(first)) = (record, msgs.first()) {
                    r.finish(first.clone());
                }
                msgs
            }
        }
    }
}

/// How to sign the responses to one verified request.
#[derive(Clone, Debug)]
pub struct Signing {
    pub key: Key,
    pub request_mac: Vec<u8>,
    /// Time signed of our responses (now).
    pub time: u64,
    /// The configured fudge (`[tsig] fudge`).
    pub fudge: u16,
}

impl Signing {
    pub fn new(v: &Verified, time: u64, fudge: u16) -> Signing {
        Signing {
            key: v.key.clone(),
            request_mac: v.tsig.mac.clone(),
            time,
            fudge,
        }
    }

    /// Length of the TSIG RR `Signing::sign` appends: room to leave when
    /// encoding the response (RFC 8945 §5.3).
    pub fn rr_len(&self) -> usize {
        let alg = Name::from_ascii(self.key.algorithm.wire_name()).unwrap_or_else(|_| Name::root());
        // owner, type+class+ttl+rdlength, algorithm, time(6), fudge, mac size,
        // MAC, original ID, error, other len.
        wire_len(&self.key.name)
            + 10
            + wire_len(&alg)
            + 6
            + 2
            + 2
            + self.key.algorithm.output_len()
            + 6
    }

    /// Signs one response (RFC 8945 §4.3.1: the request MAC comes first).
    fn sign(&self, msg: &mut Vec<u8>) -> Vec<u8> {
        let ctx = Context::Response {
            request_mac: &self.request_mac,
        };
        tsig::sign(msg, &self.key, ctx, self.params())
    }

    /// Signs every message of a response: the first as a response, each
    /// later one chained to the MAC before it (RFC 8945 §5.3.1; we sign all
    /// of them, which the RFC allows and dig/kdig/BIND accept).
    fn sign_stream(&self, msgs: &mut [Vec<u8>]) {
        let mut prior: Option<Vec<u8>> = None;
        for msg in msgs {
            prior = Some(match &prior {
                None => self.sign(msg),
                Some(prior_mac) => {
                    let ctx = Context::Continuation {
                        prior_mac: prior_mac.as_slice(),
                    };
                    tsig::sign(msg, &self.key, ctx, self.params())
                }
            });
        }
    }

    fn params(&self) -> SignParams<'static> {
        SignParams {
            time: self.time,
            fudge: self.fudge,
            error: Rcode::NoError.code(),
            other: &[],
        }
    }
}

fn wire_len(name: &Name) -> usize {
    name.iter().map(|l| l.len() + 1).sum::<usize>() + 1
}

/// The answer to a request whose TSIG was rejected. `now` is our clock,
/// `fudge` the configured one.
pub fn reject(bytes: &[u8], r: &Rejection, now: u64, fudge: u16) -> Vec<u8> {
    // RFC 8945 §5.1: a malformed TSIG (not last, unreadable) is FORMERR.
    let Ok(Some(found)) = tsig::find(bytes) else {
        return error_for(bytes, Rcode::FormErr);
    };
    let mut msg = error_for(bytes, Rcode::NotAuth);
    match r {
        Rejection::Malformed(_) => return error_for(bytes, Rcode::FormErr),
        // §5.2.1 (BADKEY), §5.2.2 (BADSIG, BADTRUNC): "the server MUST
        // generate an error response with RCODE 9 (NOTAUTH) and TSIG ERROR
        // 17 (BADKEY) [16 (BADSIG)]. This response MUST be unsigned as
        // specified in Section 5.3.2." §5.3.2: "the server SHOULD send back
        // an unsigned error message (MAC size == 0 and empty MAC)".
        //
        // The time fields echo the request's: an unsigned answer to anyone
        // must not tell our clock (only BADTIME, signed, does, §5.2.3).
        Rejection::BadKey | Rejection::BadSig | Rejection::BadTrunc => {
            let p = SignParams {
                time: found.tsig.time_signed,
                fudge,
                error: r.error_code(),
                other: &[],
            };
            tsig::append_unsigned(&mut msg, &found.tsig.key_name, &found.tsig.algorithm, p);
        }
        // §5.2.3: "A response indicating a BADTIME error MUST be signed by
        // the same key as the request. It MUST include the client's current
        // time in the Time Signed field, the server's current time (an
        // unsigned 48-bit integer) in the Other Data field, and 6 in the
        // Other Len field. [...] In addition, the Fudge field MUST be set to
        // the fudge value received from the client."
        Rejection::BadTime { key, request_mac } => {
            let other = tsig::badtime_other(now);
            let p = SignParams {
                time: found.tsig.time_signed,
                fudge: found.tsig.fudge,
                error: Rcode::BadTime.code(),
                other: &other,
            };
            let ctx = Context::Response { request_mac };
            tsig::sign(&mut msg, key, ctx, p);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsig::Algorithm;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn keyring() -> Keyring {
        Keyring::new(&[KeyConfig {
            key: Key::new(n("acme-key."), Algorithm::HmacSha256, vec![7; 32]),
            rate_limit: Some((2, Duration::from_secs(60))),
            grants: Grants::default(),
        }])
    }

    #[test]
    fn keys_match_case_insensitively_with_or_without_dot() {
        let k = keyring();
        assert!(k.lookup(&n("ACME-key.")).is_some());
        assert!(k.lookup(&n("acme-key")).is_some());
        assert!(k.lookup(&n("other.")).is_none());
        assert_eq!(
            k.entry(&n("acme-key.")).map(KeyEntry::actor),
            Some("acme-key".into())
        );
    }

    #[test]
    fn rate_limit_is_a_token_bucket_per_key() {
        let k = keyring();
        let e = k.entry(&n("acme-key.")).expect("key");
        assert!(e.take_token());
        assert!(e.take_token());
        assert!(!e.take_token());
    }

    #[test]
    fn rr_len_matches_what_sign_appends() {
        for alg in Algorithm::ALL {
            let s = Signing {
                key: Key::new(n("some.key.name."), alg, vec![1; 16]),
                request_mac: vec![9; alg.output_len()],
                time: 1_700_000_000,
                fudge: 300,
            };
            let mut msg = crate::response::error_response(1, 0, false, Rcode::NoError, None, None);
            let before = msg.len();
            s.sign(&mut msg);
            assert_eq!(msg.len() - before, s.rr_len(), "{alg}");
        }
    }
}
