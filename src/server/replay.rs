//! The UPDATE replay and retransmission cache.
//!
//! A signed UPDATE is identified by its key and request MAC: the MAC covers
//! the whole message and its time signed, so two different requests never
//! share one. An UPDATE whose (key, MAC) was already answered is not
//! applied again and gets the very bytes it got the first time, so a UDP
//! retransmission (RFC 2136 §3.8 lets clients retry) and a replay by
//! someone on the path both change nothing. An identical request still
//! being written waits for the first one's answer.
//!
//! An entry is kept while its request could still pass TSIG verification,
//! i.e. until the request's time signed plus its fudge (RFC 8945 §5.2.3);
//! after that the request is BADTIME anyway. The cache holds at most
//! `capacity` entries; when every one is still live, the answered entries
//! closest to expiry are evicted (down to 7/8 of the capacity, so the scan
//! is amortised). Filling the cache takes new requests with valid MACs,
//! i.e. the key itself, so eviction gives an outsider nothing to replay;
//! refusing instead would lock every writer out under a sustained rate of
//! more than `capacity` UPDATEs per fudge window. Only when every entry is
//! still in flight is a new UPDATE refused. The clock is an argument.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// Entries the server keeps (each a few hundred bytes).
pub const CAPACITY: usize = 4096;

/// (lower-case key name, request MAC).
pub type CacheKey = (String, Vec<u8>);

/// The answer of an in-flight UPDATE, once known.
pub type Waiter = watch::Receiver<Option<Arc<Vec<u8>>>>;

enum Entry {
    Done {
        response: Arc<Vec<u8>>,
        expires: u64,
    },
    InFlight {
        rx: Waiter,
        expires: u64,
    },
}

impl Entry {
    fn expires(&self) -> u64 {
        match self {
            Entry::Done { expires, .. } | Entry::InFlight { expires, .. } => *expires,
        }
    }
}

pub struct ReplayCache {
    capacity: usize,
    entries: Mutex<HashMap<CacheKey, Entry>>,
}

/// What [`ReplayCache::begin`] found.
pub enum Seen {
    /// Never seen: go ahead, and [`InFlight::finish`] with the answer.
    New(InFlight),
    /// Already answered: send these bytes again.
    Done(Arc<Vec<u8>>),
    /// The same request is being written: wait for its answer.
    Pending(Waiter),
    /// Every slot holds a live entry.
    Full,
}

/// A request being processed. Dropping it unfinished (an error or a
/// panic) forgets the request, so a retry is processed afresh.
pub struct InFlight {
    cache: Arc<ReplayCache>,
    key: CacheKey,
    expires: u64,
    tx: Option<watch::Sender<Option<Arc<Vec<u8>>>>>,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Entry>> {
        // Nothing panics under the lock; if it ever did, the map is still whole.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks `key` up and, if new, records it as in flight until `expires`.
    pub fn begin(self: &Arc<Self>, key: CacheKey, expires: u64, now: u64) -> Seen {
        let mut map = self.lock();
        match map.get(&key) {
            Some(Entry::Done { response, expires }) if *expires >= now => {
                return Seen::Done(response.clone());
            }
            Some(Entry::InFlight { rx, .. }) => return Seen::Pending(rx.clone()),
            _ => {}
        }
        if map.len() >= self.capacity {
            map.retain(|_, e| matches!(e, Entry::InFlight { .. }) || e.expires() >= now);
        }
        if map.len() >= self.capacity {
            let target = self.capacity - self.capacity / 8;
            let mut done: Vec<(u64, CacheKey)> = map
                .iter()
                .filter(|(_, e)| matches!(e, Entry::Done { .. }))
                .map(|(k, e)| (e.expires(), k.clone()))
                .collect();
            done.sort_unstable_by_key(|(expires, _)| *expires);
            let excess = map.len().saturating_sub(target);
            for (_, k) in done.into_iter().take(excess) {
                map.remove(&k);
            }
            if map.len() >= self.capacity {
                return Seen::Full;
            }
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), Entry::InFlight { rx, expires });
        Seen::New(InFlight {
            cache: self.clone(),
            key,
            expires,
            tx: Some(tx),
        })
    }
}

impl InFlight {
    /// Records the answer and hands it to anyone waiting on the same request.
    pub fn finish(mut self, response: Vec<u8>) {
        let response = Arc::new(response);
        let done = Entry::Done {
            response: response.clone(),
            expires: self.expires,
        };
        self.cache.lock().insert(self.key.clone(), done);
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Some(response));
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.tx.is_some() {
            let mut map = self.cache.lock();
            if matches!(map.get(&self.key), Some(Entry::InFlight { .. })) {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(mac: u8) -> CacheKey {
        ("acme-key.".to_string(), vec![mac; 32])
    }

    fn new(s: Seen) -> InFlight {
        match s {
            Seen::New(f) => f,
            _ => panic!("expected a new entry"),
        }
    }

    #[test]
    fn retransmission_gets_the_first_answer() {
        let c = Arc::new(ReplayCache::new(8));
        let f = new(c.begin(key(1), 1300, 1000));
        assert!(matches!(c.begin(key(1), 1300, 1001), Seen::Pending(_)));
        f.finish(b"answer".to_vec());
        match c.begin(key(1), 1300, 1002) {
            Seen::Done(r) => assert_eq!(r.as_slice(), b"answer"),
            _ => panic!("expected the cached answer"),
        }
        // Another MAC is another request.
        assert!(matches!(c.begin(key(2), 1300, 1002), Seen::New(_)));
    }

    #[test]
    fn waiters_receive_the_answer() {
        let c = Arc::new(ReplayCache::new(8));
        let f = new(c.begin(key(1), 1300, 1000));
        let Seen::Pending(rx) = c.begin(key(1), 1300, 1000) else {
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
        let c = Arc::new(ReplayCache::new(8));
        let f = new(c.begin(key(1), 1300, 1000));
        drop(f);
        assert!(c.is_empty());
        assert!(matches!(c.begin(key(1), 1300, 1000), Seen::New(_)));
    }

    #[test]
    fn bounded_and_expired_entries_make_room() {
        let c = Arc::new(ReplayCache::new(2));
        new(c.begin(key(1), 1100, 1000)).finish(vec![1]);
        new(c.begin(key(2), 1200, 1000)).finish(vec![2]);
        // Key 1 has expired at 1101: its slot is reused.
        assert!(matches!(c.begin(key(3), 1300, 1101), Seen::New(_)));
        // An expired entry is not an answer.
        assert!(matches!(c.begin(key(2), 1200, 1201), Seen::New(_)));
    }

    #[test]
    fn when_full_of_live_answers_the_oldest_is_evicted_not_the_writer_refused() {
        let c = Arc::new(ReplayCache::new(8));
        for i in 0..8 {
            new(c.begin(key(i), 1100 + u64::from(i), 1000)).finish(vec![i]);
        }
        // All live: a new UPDATE still gets in; the entry closest to
        // expiry (key 0) made room.
        assert!(matches!(c.begin(key(100), 1300, 1050), Seen::New(_)));
        assert!(c.len() <= 8);
        assert!(matches!(c.begin(key(7), 1107, 1050), Seen::Done(_)));
        assert!(matches!(c.begin(key(0), 1100, 1050), Seen::New(_)));
    }

    #[test]
    fn full_of_requests_in_flight_refuses() {
        let c = Arc::new(ReplayCache::new(2));
        let _a = new(c.begin(key(1), 1100, 1000));
        let _b = new(c.begin(key(2), 1100, 1000));
        assert!(matches!(c.begin(key(3), 1300, 1050), Seen::Full));
    }
}
