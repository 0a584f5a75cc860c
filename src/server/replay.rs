//! The UPDATE replay and retransmission cache.
//!
//! A signed UPDATE is identified by its key and the full MAC the server
//! computes over it (not the MAC the client sent, which may be truncated:
//! keyed on that, a captured request re-sent with its MAC cut one octet
//! shorter would be a "new" request). The MAC covers the whole message and
//! its time signed, so two different requests never share one. An UPDATE
//! already answered is not applied again and gets the very bytes it got the
//! first time, so a UDP retransmission (RFC 2136 §3.8 lets clients retry)
//! and a replay by someone on the path both change nothing. An identical
//! request still being written waits for the first one's answer.
//!
//! An entry is kept while its request could still pass TSIG verification,
//! i.e. until the request's time signed plus its fudge (RFC 8945 §5.2.3);
//! after that the request is BADTIME anyway.
//!
//! The cache is partitioned per key, each partition holding at most
//! `capacity` entries, so one key (even one with `rate_limit = "off"`)
//! can never push another key's entries out. When a key's partition is
//! full of live entries, its answered entries signed earliest are evicted
//! (down to 7/8 of the capacity, so the scan is amortised) and the
//! partition remembers the latest time signed it evicted: a request of
//! that key signed at or before that time, and not in the cache, might be
//! an evicted one replayed, so it is refused ([`Seen::Forgotten`]) rather
//! than applied. Only the key itself can fill its partition (every entry
//! needs a valid MAC), so the worst a flood does is make that key's own
//! clients re-sign.
//!
//! The cache lives in memory, so a restart forgets it: every partition
//! starts as if it had evicted everything signed before the second the
//! server started, that is, took the zones folder's lock and its sockets
//! (`State::created_at`), before its zones load: an UPDATE that waited
//! for a long start-up is applied once it serves. An UPDATE signed before
//! then is refused ([`Seen::Forgotten`]): it may be one the previous
//! process answered, replayed within its fudge. A client whose clock is behind ours is
//! refused for at most that much time after a start, then signs late
//! enough again. Left open: a request the previous process answered in the
//! very second the new one started (a restart in under a second), replayed
//! in that second; refusing that second too would refuse every client that
//! signs its first request in it. The clock is an argument.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// Entries kept per key (each a few hundred bytes).
pub const CAPACITY: usize = 4096;

/// (lower-case key name, full computed MAC).
pub type CacheKey = (String, Vec<u8>);

/// The answer of an in-flight UPDATE, once known.
pub type Waiter = watch::Receiver<Option<Arc<Vec<u8>>>>;

enum State {
    Done(Arc<Vec<u8>>),
    InFlight(Waiter),
}

struct Entry {
    state: State,
    signed: u64,
    expires: u64,
}

/// One key's entries.
struct Partition {
    entries: HashMap<Vec<u8>, Entry>,
    /// The latest time signed among evicted live entries: an unknown
    /// request signed at or before it may be one of them.
    evicted_up_to: Option<u64>,
}

pub struct ReplayCache {
    capacity: usize,
    /// When the server started: nothing signed up to then is known.
    started: u64,
    keys: Mutex<HashMap<String, Partition>>,
}

/// What [`ReplayCache::begin`] found.
pub enum Seen {
    /// Never seen: go ahead, and [`InFlight::finish`] with the answer.
    New(InFlight),
    /// Already answered: send these bytes again.
    Done(Arc<Vec<u8>>),
    /// The same request is being written: wait for its answer.
    Pending(Waiter),
    /// Signed no later than an entry this key's partition had to evict
    /// while it was still live: it may be a replay, so it is refused.
    Forgotten,
    /// Every slot of this key's partition holds a request in flight.
    Full,
}

/// A request being processed. Dropping it unfinished (an error or a
/// panic) forgets the request, so a retry is processed afresh.
pub struct InFlight {
    cache: Arc<ReplayCache>,
    key: CacheKey,
    tx: Option<watch::Sender<Option<Arc<Vec<u8>>>>>,
}

/// When a request is signed and until when it is live.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub signed: u64,
    pub expires: u64,
}

impl ReplayCache {
    /// A cache of `capacity` entries per key, for a server that started
    /// at `started` (seconds since the epoch).
    pub fn new(capacity: usize, started: u64) -> ReplayCache {
        ReplayCache {
            capacity: capacity.max(1),
            started,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// When the server started (requests signed before then are refused).
    pub fn started(&self) -> u64 {
        self.started
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Partition>> {
        // Nothing panics under the lock; if it ever did, the map is still whole.
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().values().map(|p| p.entries.len()).sum()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks `key` up and, if new, records it as in flight.
    pub fn begin(self: &Arc<Self>, key: CacheKey, w: Window, now: u64) -> Seen {
        let mut keys = self.lock();
        let started = self.started;
        let part = keys.entry(key.0.clone()).or_insert_with(|| Partition {
            entries: HashMap::new(),
            evicted_up_to: started.checked_sub(1),
        });
        match part.entries.get(&key.1) {
            Some(Entry {
                state: State::Done(response),
                expires,
                ..
            }) if *expires >= now => return Seen::Done(response.clone()),
            Some(Entry {
                state: State::InFlight(rx),
                ..
            }) => return Seen::Pending(rx.clone()),
            _ => {}
        }
        if part.evicted_up_to.is_some_and(|t| w.signed <= t) {
            return Seen::Forgotten;
        }
        if part.entries.len() >= self.capacity && !part.make_room(self.capacity, now) {
            return Seen::Full;
        }
        let (tx, rx) = watch::channel(None);
        let entry = Entry {
            state: State::InFlight(rx),
            signed: w.signed,
            expires: w.expires,
        };
        part.entries.insert(key.1.clone(), entry);
        Seen::New(InFlight {
            cache: self.clone(),
            key,
            tx: Some(tx),
        })
    }
}

impl Partition {
    /// Drops expired entries, then (if still full) the answered entries
    /// signed earliest, remembering how far it went. False when every
    /// entry is in flight.
    fn make_room(&mut self, capacity: usize, now: u64) -> bool {
        self.entries
            .retain(|_, e| matches!(e.state, State::InFlight(_)) || e.expires >= now);
        if self.entries.len() < capacity {
            return true;
        }
        let target = capacity - (capacity / 8).max(1);
        let mut done: Vec<(u64, Vec<u8>)> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Done(_)))
            .map(|(mac, e)| (e.signed, mac.clone()))
            .collect();
        done.sort_unstable_by_key(|(signed, _)| *signed);
        let excess = self.entries.len().saturating_sub(target);
        for (signed, mac) in done.into_iter().take(excess) {
            self.entries.remove(&mac);
            self.evicted_up_to = Some(self.evicted_up_to.map_or(signed, |t| t.max(signed)));
        }
        self.entries.len() < capacity
    }
}

impl InFlight {
    /// Records the answer and hands it to anyone waiting on the same request.
    pub fn finish(mut self, response: Vec<u8>) {
        let response = Arc::new(response);
        if let Some(e) = self
            .cache
            .lock()
            .get_mut(&self.key.0)
            .and_then(|p| p.entries.get_mut(&self.key.1))
        {
            e.state = State::Done(response.clone());
        }
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Some(response));
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.tx.is_some() {
            let mut keys = self.cache.lock();
            if let Some(p) = keys.get_mut(&self.key.0)
                && matches!(
                    p.entries.get(&self.key.1),
                    Some(Entry {
                        state: State::InFlight(_),
                        ..
                    })
                )
            {
                p.entries.remove(&self.key.1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(mac: u8) -> CacheKey {
        keyed("acme-key.", mac)
    }

    fn keyed(name: &str, mac: u8) -> CacheKey {
        (name.to_string(), vec![mac; 32])
    }

    fn at(signed: u64) -> Window {
        Window {
            signed,
            expires: signed + 300,
        }
    }

    fn new(s: Seen) -> InFlight {
        match s {
            Seen::New(f) => f,
            _ => panic!("expected a new entry"),
        }
    }

    #[test]
    fn retransmission_gets_the_first_answer() {
        let c = Arc::new(ReplayCache::new(8, 0));
        let f = new(c.begin(key(1), at(1000), 1000));
        assert!(matches!(c.begin(key(1), at(1000), 1001), Seen::Pending(_)));
        f.finish(b"answer".to_vec());
        match c.begin(key(1), at(1000), 1002) {
            Seen::Done(r) => assert_eq!(r.as_slice(), b"answer"),
            _ => panic!("expected the cached answer"),
        }
        // Another MAC is another request.
        assert!(matches!(c.begin(key(2), at(1000), 1002), Seen::New(_)));
    }

    #[test]
    fn waiters_receive_the_answer() {
        let c = Arc::new(ReplayCache::new(8, 0));
        let f = new(c.begin(key(1), at(1000), 1000));
        let Seen::Pending(rx) = c.begin(key(1), at(1000), 1000) else {
            panic!("expected pending");
        };
        assert!(rx.borrow().is_none());
        f.finish(b"x".to_vec());
        // The sender is gone after finishing; the value stays readable
        // (`wait_for` checks the current value first).
        assert_eq!(rx.borrow().as_deref().map(Vec::as_slice), Some(&b"x"[..]));
    }

    #[test]
    fn an_abandoned_request_is_forgotten() {
        let c = Arc::new(ReplayCache::new(8, 0));
        let f = new(c.begin(key(1), at(1000), 1000));
        drop(f);
        assert!(c.is_empty());
        assert!(matches!(c.begin(key(1), at(1000), 1000), Seen::New(_)));
    }

    #[test]
    fn expired_entries_make_room_without_forgetting_anything_live() {
        let c = Arc::new(ReplayCache::new(2, 0));
        new(c.begin(key(1), at(800), 1000)).finish(vec![1]);
        new(c.begin(key(2), at(900), 1000)).finish(vec![2]);
        // Key 1's entry has expired at 1101 (800 + 300): its slot is reused,
        // and a request signed at 850 is still accepted (nothing live was
        // evicted).
        assert!(matches!(c.begin(key(3), at(850), 1101), Seen::New(_)));
        // An expired entry is not an answer.
        assert!(matches!(c.begin(key(2), at(900), 1201), Seen::New(_)));
    }

    #[test]
    fn when_full_of_live_answers_the_earliest_are_evicted_and_their_replays_refused() {
        let c = Arc::new(ReplayCache::new(8, 0));
        for i in 0..8 {
            new(c.begin(key(i), at(1000 + u64::from(i)), 1010)).finish(vec![i]);
        }
        // All live: a new UPDATE still gets in; the entry signed earliest
        // (key 0) made room.
        assert!(matches!(c.begin(key(100), at(1050), 1050), Seen::New(_)));
        assert!(c.len() <= 8);
        assert!(matches!(c.begin(key(7), at(1007), 1050), Seen::Done(_)));
        // Key 0 replayed while its time is still valid: refused, not applied.
        assert!(matches!(c.begin(key(0), at(1000), 1050), Seen::Forgotten));
        // A request signed later than anything evicted is new.
        assert!(matches!(c.begin(key(101), at(1051), 1051), Seen::New(_)));
    }

    #[test]
    fn one_key_filling_its_partition_never_evicts_another_keys_entries() {
        let c = Arc::new(ReplayCache::new(4, 0));
        new(c.begin(keyed("victim.", 1), at(1000), 1000)).finish(vec![1]);
        for i in 0..50 {
            let f = new(c.begin(keyed("flood.", i), at(1000 + u64::from(i)), 1060));
            f.finish(vec![i]);
        }
        assert!(matches!(
            c.begin(keyed("victim.", 1), at(1000), 1100),
            Seen::Done(_)
        ));
    }

    #[test]
    fn requests_signed_before_the_server_started_are_refused() {
        // After a restart the previous process's answers are gone: anything
        // signed up to the start may be a replay of one of them.
        let c = Arc::new(ReplayCache::new(8, 1000));
        assert!(matches!(c.begin(key(1), at(990), 1001), Seen::Forgotten));
        assert!(matches!(c.begin(key(2), at(999), 1001), Seen::Forgotten));
        // Signed in the second it started: a client right after the start.
        assert!(matches!(c.begin(key(3), at(1000), 1001), Seen::New(_)));
        assert_eq!(c.started(), 1000);
    }

    #[test]
    fn full_of_requests_in_flight_refuses() {
        let c = Arc::new(ReplayCache::new(2, 0));
        let _a = new(c.begin(key(1), at(1000), 1000));
        let _b = new(c.begin(key(2), at(1000), 1000));
        assert!(matches!(c.begin(key(3), at(1050), 1050), Seen::Full));
        // Another key is not affected.
        assert!(matches!(
            c.begin(keyed("other.", 3), at(1050), 1050),
            Seen::New(_)
        ));
    }
}
