//! Per-source bounds on connections: one client cannot take every slot.
//!
//! # Design
//!
//! A *source* is what one client plausibly controls: an IPv4 address, or
//! an IPv6 /64 (the smallest prefix a site is normally given, RFC 6177,
//! so a host cannot escape its cap by cycling through the addresses of
//! its own /64). An IPv4-mapped IPv6 address counts as its IPv4 address.
//!
//! [`PerSource`] counts the open connections of each source; a listener
//! asks it for a [`SourceSlot`] at accept, before reading anything, and
//! closes the connection when the source is at its cap. The slot gives its
//! count back when dropped, so the map only holds sources with an open
//! connection: its size is bounded by the listener's global cap, which
//! stays a separate semaphore (the server waits on it at shutdown).
//!
//! The TCP DNS listeners (`[server] tcp_max_per_source`) and the REST
//! API (`[rest] max_per_source`) each have their own.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

/// A client as counted for limits: an IPv4 address or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    V4(Ipv4Addr),
    /// The upper 64 bits of the address.
    V6(u64),
}

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4),
                None => Source::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::V4(a) => write!(f, "{a}"),
            Source::V6(p) => {
                let net = std::net::Ipv6Addr::from(u128::from(*p) << 64);
                write!(f, "{net}/64")
            }
        }
    }
}

/// Open connections per source, each at most `max`.
#[derive(Debug)]
pub struct PerSource {
    max: usize,
    open: Mutex<HashMap<Source, usize>>,
}

/// One open connection of a source; dropping it gives the count back.
#[derive(Debug)]
pub struct SourceSlot {
    owner: Arc<PerSource>,
    source: Source,
}

impl PerSource {
    pub fn new(max: usize) -> Arc<PerSource> {
        Arc::new(PerSource {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `ip`, or `None` when its source
    /// already has `max` open.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SourceSlot> {
        let source = Source::of(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(source).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            owner: self.clone(),
            source,
        })
    }

    /// Open connections of `ip`'s source.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&Source::of(ip)).copied().unwrap_or(0)
    }

    /// Sources with an open connection.
    pub fn sources(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:192.0.2.1")),
            Source::of(ip("192.0.2.1"))
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_source_at_its_cap_is_refused_and_others_are_not() {
        let limits = PerSource::new(2);
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        let s1 = limits.try_acquire(a).expect("first");
        let _s2 = limits.try_acquire(a).expect("second");
        assert!(limits.try_acquire(a).is_none(), "third from a");
        let _t = limits.try_acquire(b).expect("b is its own source");
        drop(s1);
        assert_eq!(limits.open(a), 1);
        let _s3 = limits.try_acquire(a).expect("after one closed");
    }

    #[test]
    fn the_map_forgets_sources_without_connections() {
        let limits = PerSource::new(1);
        let slots: Vec<_> = (0..100u8)
            .filter_map(|i| limits.try_acquire(IpAddr::from([10, 0, 0, i])))
            .collect();
        assert_eq!(limits.sources(), 100);
        drop(slots);
        assert_eq!(limits.sources(), 0);
    }
}
