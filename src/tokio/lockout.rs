//! Failed logins counted per client address across sessions, and the lockout that
//! follows too many of them.
//!
//! The protocol session delays and counts failures within one connection; a guesser
//! defeats that by reconnecting. This table, shared by all of a server's sessions, sees
//! across connections. It must stay bounded whatever the peers do: entries expire, and
//! past a fixed number of addresses the stalest entry makes room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Addresses tracked at most; beyond it the entry with the oldest failure is dropped.
const MAX_TRACKED: usize = 16 * 1024;

/// One address's recent failures and its lockout, if any.
#[derive(Debug)]
struct Record {
    /// Failures since the last lockout ended (or since they started, within the window).
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// Failed logins per address, with lockouts. `limit` 0 turns it off.
#[derive(Debug)]
pub(crate) struct Lockouts {
    limit: u32,
    duration: Duration,
    records: HashMap<IpAddr, Record>,
}

/// The key an address is counted under: an IPv4 address itself, an IPv6 address by its
/// /64 prefix (what one subscriber is usually given), so that hopping between the
/// addresses of one's own network does not reset the count.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
    }
}

impl Lockouts {
    /// `limit` failures from one address within `duration` of each other lock it out
    /// for `duration`.
    pub(crate) fn new(limit: u32, duration: Duration) -> Lockouts {
        Lockouts {
            limit,
            duration,
            records: HashMap::new(),
        }
    }

    /// Whether `ip` is locked out at `now`: then no login from it may succeed, whatever
    /// the password.
    pub(crate) fn is_locked(&mut self, ip: IpAddr, now: Instant) -> bool {
        let key = key(ip);
        let Some(record) = self.records.get_mut(&key) else {
            return false;
        };
        match record.locked_until {
            Some(until) if now < until => true,
            Some(_) => {
                // Served its time: the count starts again.
                self.records.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Records a failed login from `ip` at `now`; returns whether it started a lockout.
    /// A success does not clear the count: otherwise a guesser could interleave
    /// anonymous logins with guesses.
    pub(crate) fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let key = key(ip);
        if !self.records.contains_key(&key) && self.records.len() >= MAX_TRACKED {
            self.make_room(now);
        }
        let record = self.records.entry(key).or_insert(Record {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if record.locked_until.is_some() {
            // Attempts during a lockout are refused without being checked; they do not
            // extend it.
            return false;
        }
        if now.saturating_duration_since(record.last_failure) > self.duration {
            record.failures = 0;
        }
        record.failures += 1;
        record.last_failure = now;
        if record.failures >= self.limit {
            record.locked_until = Some(now + self.duration);
            return true;
        }
        false
    }

    /// Drops expired entries; if none expired, the failure-only entry with the oldest
    /// failure (a flood of new addresses must not lift a lockout), and only when every
    /// entry is a lockout, the one that ends first.
    fn make_room(&mut self, now: Instant) {
        let duration = self.duration;
        self.records.retain(|_, record| match record.locked_until {
            Some(until) => now < until,
            None => now.saturating_duration_since(record.last_failure) <= duration,
        });
        if self.records.len() >= MAX_TRACKED {
            let oldest = self
                .records
                .iter()
                .min_by_key(|(_, record)| match record.locked_until {
                    None => (false, record.last_failure),
                    Some(until) => (true, until),
                })
                .map(|(ip, _)| *ip);
            if let Some(oldest) = oldest {
                self.records.remove(&oldest);
            }
        }
    }

    /// Addresses tracked now (for tests of the bound).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_limit_th_failure_locks_the_address_out_for_the_duration() {
        let mut lockouts = Lockouts::new(3, MINUTE);
        let start = Instant::now();
        let a = ip("192.0.2.1");
        assert!(!lockouts.record_failure(a, start));
        assert!(!lockouts.record_failure(a, start + Duration::from_secs(1)));
        assert!(!lockouts.is_locked(a, start + Duration::from_secs(2)));
        assert!(lockouts.record_failure(a, start + Duration::from_secs(2)));
        assert!(lockouts.is_locked(a, start + Duration::from_secs(3)));
        // Other addresses are not affected.
        assert!(!lockouts.is_locked(ip("192.0.2.2"), start + Duration::from_secs(3)));
        // Attempts during the lockout do not extend it.
        assert!(!lockouts.record_failure(a, start + Duration::from_secs(30)));
        assert!(lockouts.is_locked(a, start + Duration::from_secs(61)));
        assert!(!lockouts.is_locked(a, start + Duration::from_secs(63)));
        // The count starts again after the lockout.
        assert!(!lockouts.record_failure(a, start + Duration::from_secs(64)));
        assert!(!lockouts.is_locked(a, start + Duration::from_secs(64)));
    }

    #[test]
    fn failures_further_apart_than_the_duration_do_not_add_up() {
        let mut lockouts = Lockouts::new(2, MINUTE);
        let start = Instant::now();
        let a = ip("192.0.2.1");
        assert!(!lockouts.record_failure(a, start));
        assert!(!lockouts.record_failure(a, start + 2 * MINUTE));
        assert!(lockouts.record_failure(a, start + 2 * MINUTE + Duration::from_secs(1)));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_prefix() {
        let mut lockouts = Lockouts::new(2, MINUTE);
        let now = Instant::now();
        assert!(!lockouts.record_failure(ip("2001:db8:1:2::1"), now));
        assert!(lockouts.record_failure(ip("2001:db8:1:2:ffff::9"), now));
        assert!(lockouts.is_locked(ip("2001:db8:1:2::77"), now));
        assert!(!lockouts.is_locked(ip("2001:db8:1:3::1"), now));
        // An IPv4-mapped address is its IPv4 address.
        assert!(!lockouts.record_failure(ip("::ffff:192.0.2.7"), now));
        assert!(lockouts.record_failure(ip("192.0.2.7"), now));
    }

    #[test]
    fn a_zero_limit_never_locks() {
        let mut lockouts = Lockouts::new(0, MINUTE);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(!lockouts.record_failure(ip("192.0.2.1"), now));
        }
        assert!(!lockouts.is_locked(ip("192.0.2.1"), now));
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_lockouts_over_stale_entries() {
        let mut lockouts = Lockouts::new(2, MINUTE);
        let start = Instant::now();
        let locked = ip("198.51.100.1");
        lockouts.record_failure(locked, start);
        lockouts.record_failure(locked, start);
        for n in 0..(MAX_TRACKED as u32 + 100) {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            lockouts.record_failure(address, start + Duration::from_millis(u64::from(n)));
        }
        assert!(lockouts.tracked() <= MAX_TRACKED);
        // The locked address has the oldest failure of all, yet its lockout stays.
        assert!(lockouts.is_locked(locked, start + Duration::from_secs(30)));
    }
}
