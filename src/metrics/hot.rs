//! The per-query counting path, without locks or shared writes.
//!
//! # Design
//!
//! Every query answered bumps two labelled counters and observes one
//! histogram. Through `prometheus-client` alone that is, per query, three
//! family read locks (one shared lock word that both UDP threads write),
//! three SipHash label hashes, two clones of the zone's name `Arc` and a
//! histogram mutex. Under dnsperf over 5,000 zones (`scripts/bench-zones.sh`
//! data) leaving the counting out took the server's CPU per query from
//! about 8.6 to 7.8 µs; this path gets most of that (figures in the
//! README's Performance section).
//!
//! ```text
//!  query ─► thread's cache: (metrics id, zone ptr, type, proto, rcode)
//!             hit  ─► the two Counters it holds: two atomic adds
//!             miss ─► Family::get_or_create (as before), kept in the cache
//!        ─► AnswerTimes: the thread's stripe, three atomic adds
//!  scrape ─► the families as always; AnswerTimes sums its stripes
//! ```
//!
//! The cache keeps a clone of the zone's name `Arc`, so the address it is
//! keyed by cannot be reused by another name while the entry lives, and it
//! holds the very counters the family registered (the query families never
//! drop an entry), so a scrape reads the same numbers either way.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::zone::KeyHasher;

/// Entries a thread's cache holds before it starts over (5,000 zones with
/// a few query types each fit).
const CACHE_ENTRIES: usize = 1 << 16;

/// A query's label values as the cache keys them: the [`super::Metrics`]
/// instance, the zone label's address, then type, transport and rcode.
type CacheKey = (u64, usize, u16, u8, u16);

/// The `dns_requests` and `dns_responses` counters of one label set, and
/// the zone label they were made for (kept alive, see the module docs).
type CacheEntry = (Counter, Counter, Arc<str>);

type Cache = HashMap<CacheKey, CacheEntry, BuildHasherDefault<KeyHasher>>;

thread_local! {
    static QUERY_COUNTERS: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Bumps the two counters of a query's label set, made by `make` the first
/// time this thread sees the set.
pub(super) fn count_query(
    key: CacheKey,
    zone: &Arc<str>,
    make: impl FnOnce() -> (Counter, Counter),
) {
    let mut make = Some(make);
    let _ = QUERY_COUNTERS.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return;
        };
        if let Some((requests, responses, _)) = cache.get(&key) {
            make = None;
            requests.inc();
            responses.inc();
            return;
        }
        let Some(make) = make.take() else {
            return;
        };
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        let (requests, responses) = make();
        requests.inc();
        responses.inc();
        cache.insert(key, (requests, responses, zone.clone()));
    });
    if let Some(make) = make {
        // Not cached: the thread is being torn down, or the cache is in
        // use further up this thread's stack. Counted all the same.
        let (requests, responses) = make();
        requests.inc();
        responses.inc();
    }
}

/// Stripes of an [`AnswerTimes`]: threads spread over them, so two
/// threads rarely write one cache line.
const STRIPES: usize = 8;

/// Which stripe this thread writes.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    MINE.try_with(|s| *s).unwrap_or(0)
}

/// One thread group's share of a histogram, on cache lines of its own.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Stripe {
    count: AtomicU64,
    sum_ns: AtomicU64,
    /// One per bound, then +Inf.
    buckets: Box<[AtomicU64]>,
}

/// A Prometheus histogram of durations whose observation is three relaxed
/// atomic adds on the calling thread's stripe (the crate's `Histogram`
/// takes a mutex each time). Encodes exactly as that `Histogram` does.
#[derive(Clone, Debug)]
pub(super) struct AnswerTimes {
    inner: Arc<Times>,
}

#[derive(Debug)]
struct Times {
    /// Upper bounds in nanoseconds (what `observe` compares) and seconds
    /// (what the scrape prints), ascending.
    bounds_ns: Box<[u64]>,
    bounds: Box<[f64]>,
    stripes: [Stripe; STRIPES],
}

impl AnswerTimes {
    /// Buckets with these upper bounds, in seconds, plus +Inf.
    pub(super) fn new(bounds: impl IntoIterator<Item = f64>) -> AnswerTimes {
        let bounds: Box<[f64]> = bounds.into_iter().collect();
        let bounds_ns = bounds
            .iter()
            .map(|b| Duration::try_from_secs_f64(*b).map_or(u64::MAX, nanos))
            .collect();
        let stripes = std::array::from_fn(|_| Stripe {
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            ..Stripe::default()
        });
        AnswerTimes {
            inner: Arc::new(Times {
                bounds_ns,
                bounds,
                stripes,
            }),
        }
    }

    pub(super) fn observe(&self, took: Duration) {
        let ns = nanos(took);
        let t = &self.inner;
        let Some(s) = t.stripes.get(stripe()) else {
            return;
        };
        // The first bucket whose bound is at least the value (as the
        // crate's histogram counts), +Inf past the last.
        let i = t.bounds_ns.partition_point(|b| *b < ns);
        if let Some(b) = s.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        s.sum_ns.fetch_add(ns, Ordering::Relaxed);
        s.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (sum in seconds, count, per-bucket counts with their upper bounds).
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let t = &self.inner;
        let mut sum_ns = 0u64;
        let mut count = 0u64;
        let mut buckets: Vec<(f64, u64)> = t
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .map(|b| (b, 0))
            .collect();
        for s in &t.stripes {
            sum_ns = sum_ns.wrapping_add(s.sum_ns.load(Ordering::Relaxed));
            count = count.wrapping_add(s.count.load(Ordering::Relaxed));
            for (total, b) in buckets.iter_mut().zip(s.buckets.iter()) {
                total.1 = total.1.wrapping_add(b.load(Ordering::Relaxed));
            }
        }
        (Duration::from_nanos(sum_ns).as_secs_f64(), count, buckets)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl TypedMetric for AnswerTimes {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AnswerTimes {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
    use prometheus_client::registry::Registry;

    fn text(
        name: &str,
        metric: impl EncodeMetric + Send + Sync + std::fmt::Debug + 'static,
    ) -> String {
        let mut r = Registry::default();
        r.register(name, "h", metric);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).expect("encode");
        out
    }

    /// Same bounds, same observations (bucket edges, the largest bucket,
    /// past it, from several threads): the same text as the crate's.
    #[test]
    fn answer_times_encode_as_the_crates_histogram_does() {
        let bounds = || exponential_buckets(0.000_025, 2.0, 16);
        let ours = AnswerTimes::new(bounds());
        let theirs = Histogram::new(bounds());
        let values = [
            Duration::ZERO,
            Duration::from_micros(25),
            Duration::from_nanos(25_001),
            Duration::from_micros(50),
            Duration::from_millis(3),
            Duration::from_millis(819),
            Duration::from_secs(5),
        ];
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for v in values {
                        ours.observe(v);
                        theirs.observe(v.as_secs_f64());
                    }
                });
            }
        });
        let (sum, count, buckets) = ours.snapshot();
        assert_eq!(count, 21);
        assert_eq!(
            buckets.last().map(|b| b.1),
            Some(3),
            "5 s is past every bound"
        );
        assert!((sum - 3.0 * values.iter().map(Duration::as_secs_f64).sum::<f64>()).abs() < 1e-6);
        // The sums may differ in the last digits (ns vs f64 adds); the
        // buckets and count must match to the line.
        let lines = |t: String| -> Vec<String> {
            t.lines()
                .filter(|l| !l.contains("_sum"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(lines(text("t", ours)), lines(text("t", theirs)));
    }
}
