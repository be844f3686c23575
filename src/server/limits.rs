//! Limits across all of a server's sessions: how many control connections at once, how
//! many from one address, which session makes room when every place is taken, and the
//! login lockout of an address after too many failed logins.
//!
//! A [`Session`](super::Session) sees one connection; these limits need a view across
//! all of them, so they live apart from it. They are pure: no clock (the time is an
//! input), no lock, no I/O. An adapter keeps one [`Admissions`] and one [`Lockouts`] per
//! server behind its own lock and carries out what they say: it sends a [`Refusal`]'s
//! reply and closes the connection, closes the session an admission evicts, and answers
//! a login with what [`Lockouts::screen_login`] gives. Every table here stays bounded
//! whatever the peers do.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::events::Response;
use crate::reply::{Reply, ReplyCode};

/// The limits across a server's sessions. `Limits::default()` suits a server facing the
/// internet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Control connections at most at once. When they are all taken, a new connection
    /// takes the place of the oldest one that has not logged in (which is closed), so
    /// that connections that never log in cannot lock out users who do; when every
    /// place is held by a logged-in session, the new one is refused
    /// ([`Refusal::TooManySessions`]). Default 512.
    pub max_sessions: usize,
    /// Control connections at most from one IP address; more are refused
    /// ([`Refusal::TooManyFromAddress`]). Default 128: parallel transfers
    /// (`lftp mirror --parallel`, FileZilla, download managers) and offices behind one
    /// NAT address open dozens, while one address still cannot take more than a quarter
    /// of the default `max_sessions`.
    pub max_sessions_per_ip: usize,
    /// Failed logins from one address (an IPv6 address by its /64 prefix), counted
    /// across its sessions, after which it is locked out: for [`lockout_duration`],
    /// every login from it is refused (530) without the password being checked, the
    /// right one included. Failures further apart than `lockout_duration` do not add
    /// up; a successful login does not clear the count. 0 turns lockouts off.
    /// Default 10.
    ///
    /// [`lockout_duration`]: Limits::lockout_duration
    pub max_failed_logins_per_ip: u32,
    /// How long a lockout lasts (see [`max_failed_logins_per_ip`]). Default 10 minutes.
    ///
    /// [`max_failed_logins_per_ip`]: Limits::max_failed_logins_per_ip
    pub lockout_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 512,
            max_sessions_per_ip: 128,
            max_failed_logins_per_ip: 10,
            lockout_duration: Duration::from_secs(600),
        }
    }
}

/// Why a new control connection is refused. Send [`Refusal::reply`] and close it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Every place is taken, and by sessions that have logged in.
    TooManySessions,
    /// The address holds [`Limits::max_sessions_per_ip`] connections already.
    TooManyFromAddress,
}

impl Refusal {
    /// The reply to send before closing the connection (421, as RFC 959 has for a
    /// service that cannot take the connection).
    pub fn reply(self) -> Reply<'static> {
        let text = match self {
            Refusal::TooManySessions => "Too many connections, try later.",
            Refusal::TooManyFromAddress => "Too many connections from your address, try later.",
        };
        Reply::new(ReplyCode::SERVICE_NOT_AVAILABLE, text)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::TooManySessions => "too many sessions",
            Refusal::TooManyFromAddress => "too many sessions from one address",
        })
    }
}

/// A connection [`Admissions::admit`] let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "an evicted session must be closed"]
pub struct Admission {
    /// The session (by the number the adapter gave it) to close to make room: the
    /// oldest one that has not logged in. It keeps its place until the adapter
    /// [`release`](Admissions::release)s it, so the count runs over by the evictions
    /// in flight, each made once.
    pub evict: Option<u64>,
}

/// The places taken by control connections: in all, per address, and which sessions
/// have not logged in yet (the ones that may be evicted).
///
/// The adapter numbers its connections in the order it accepts them (the numbers only
/// grow): the lowest number not logged in is the oldest, the first evicted. Every
/// admitted connection must be released once, whatever ends it. The tables hold an
/// entry per connection admitted and not yet released, so they are bounded by
/// `max_sessions` plus the evictions in flight.
#[derive(Debug)]
pub struct Admissions {
    max_sessions: usize,
    max_per_address: usize,
    total: usize,
    per_address: HashMap<IpAddr, usize>,
    not_logged_in: BTreeSet<u64>,
}

impl Admissions {
    /// No connection yet, under these limits.
    pub fn new(limits: &Limits) -> Admissions {
        Admissions {
            max_sessions: limits.max_sessions,
            max_per_address: limits.max_sessions_per_ip,
            total: 0,
            per_address: HashMap::new(),
            not_logged_in: BTreeSet::new(),
        }
    }

    /// Takes a place for connection `number` from `ip`, if one is free or can be made
    /// by evicting the oldest session that has not logged in; the new session counts as
    /// not logged in until [`Admissions::logged_in`].
    pub fn admit(&mut self, number: u64, ip: IpAddr) -> Result<Admission, Refusal> {
        let from_address = self.per_address.get(&ip).copied().unwrap_or(0);
        if from_address >= self.max_per_address {
            return Err(Refusal::TooManyFromAddress);
        }
        let mut evict = None;
        if self.total >= self.max_sessions {
            let Some(oldest) = self.not_logged_in.pop_first() else {
                return Err(Refusal::TooManySessions);
            };
            evict = Some(oldest);
        }
        self.total += 1;
        *self.per_address.entry(ip).or_default() += 1;
        self.not_logged_in.insert(number);
        Ok(Admission { evict })
    }

    /// Session `number` logged in: it keeps its place and is never evicted.
    pub fn logged_in(&mut self, number: u64) {
        self.not_logged_in.remove(&number);
    }

    /// Session `number` from `ip` ended (or was evicted and is gone): its place is free.
    pub fn release(&mut self, number: u64, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        self.not_logged_in.remove(&number);
        if let Some(count) = self.per_address.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&ip);
            }
        }
    }

    /// Places taken now (evicted sessions not yet released included).
    pub fn sessions(&self) -> usize {
        self.total
    }
}

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

/// Failed logins counted per client address across sessions, and the lockout that
/// follows too many of them.
///
/// A session delays and counts failures within one connection; a guesser defeats that
/// by reconnecting. This table sees across connections. It stays bounded whatever the
/// peers do: entries expire, and past 16,384 addresses the stalest entry makes room.
///
/// For a login ([`Request::Authenticate`](super::Request::Authenticate)), ask
/// [`screen_login`](Lockouts::screen_login) first and answer with what it gives, if
/// anything; otherwise check the credentials and tell
/// [`record_login`](Lockouts::record_login) the answer.
///
/// ```
/// use std::net::IpAddr;
/// use std::time::Instant;
/// use ftp_proto::server::Response;
/// use ftp_proto::server::limits::{Limits, Lockouts};
///
/// let mut limits = Limits::default();
/// limits.max_failed_logins_per_ip = 2;
/// let mut lockouts = Lockouts::new(&limits);
/// let (ip, now): (IpAddr, _) = ("192.0.2.1".parse().unwrap(), Instant::now());
/// for _ in 0..2 {
///     assert_eq!(lockouts.screen_login(ip, now), None);
///     lockouts.record_login(ip, &Response::LoginDenied, now);
/// }
/// assert_eq!(lockouts.screen_login(ip, now), Some(Response::LoginDenied));
/// ```
#[derive(Debug)]
pub struct Lockouts {
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
    /// `limits.max_failed_logins_per_ip` failures from one address within
    /// `limits.lockout_duration` of each other lock it out for that duration.
    pub fn new(limits: &Limits) -> Lockouts {
        Lockouts {
            limit: limits.max_failed_logins_per_ip,
            duration: limits.lockout_duration,
            records: HashMap::new(),
        }
    }

    /// The answer to a login from `ip` at `now` without checking its credentials:
    /// [`Response::LoginDenied`] while the address is locked out, `None` when the
    /// credentials are to be checked.
    pub fn screen_login(&mut self, ip: IpAddr, now: Instant) -> Option<Response> {
        self.is_locked(ip, now).then_some(Response::LoginDenied)
    }

    /// Counts the answer given to a login from `ip` at `now`: a
    /// [`Response::LoginDenied`] is a failure. Returns whether it started a lockout (for
    /// the adapter's log).
    pub fn record_login(&mut self, ip: IpAddr, response: &Response, now: Instant) -> bool {
        match response {
            Response::LoginDenied => self.record_failure(ip, now),
            _ => false,
        }
    }

    /// Whether `ip` is locked out at `now`: then no login from it may succeed, whatever
    /// the password.
    pub fn is_locked(&mut self, ip: IpAddr, now: Instant) -> bool {
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
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
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
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        if record.failures >= self.limit {
            // A duration too long for an `Instant` is taken as a year, not a panic.
            const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
            record.locked_until = Some(
                now.checked_add(self.duration)
                    .or_else(|| now.checked_add(YEAR))
                    .unwrap_or(now),
            );
            return true;
        }
        false
    }

    /// Addresses (IPv6 prefixes) tracked now: at most 16,384.
    pub fn tracked(&self) -> usize {
        self.records.len()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn lockouts(limit: u32, duration: Duration) -> Lockouts {
        Lockouts::new(&Limits {
            max_failed_logins_per_ip: limit,
            lockout_duration: duration,
            ..Limits::default()
        })
    }

    fn admissions(max_sessions: usize, max_sessions_per_ip: usize) -> Admissions {
        Admissions::new(&Limits {
            max_sessions,
            max_sessions_per_ip,
            ..Limits::default()
        })
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let limits = Limits::default();
        assert_eq!(limits.max_sessions, 512);
        assert_eq!(limits.max_sessions_per_ip, 128);
        assert_eq!(limits.max_failed_logins_per_ip, 10);
        assert_eq!(limits.lockout_duration, Duration::from_secs(600));
    }

    #[test]
    fn refusals_are_421_with_their_own_text() {
        let total = Refusal::TooManySessions.reply();
        let address = Refusal::TooManyFromAddress.reply();
        assert_eq!(total.code(), ReplyCode::SERVICE_NOT_AVAILABLE);
        assert_eq!(address.code(), ReplyCode::SERVICE_NOT_AVAILABLE);
        assert_eq!(total.text(), "Too many connections, try later.");
        assert_eq!(
            address.text(),
            "Too many connections from your address, try later."
        );
        let mut bytes = Vec::new();
        total.encode(&mut bytes);
        assert_eq!(bytes, b"421 Too many connections, try later.\r\n");
    }

    #[test]
    fn a_full_server_evicts_the_oldest_session_not_logged_in() {
        let mut admissions = admissions(3, 10);
        let a = ip("192.0.2.1");
        for number in 1..=3 {
            assert_eq!(admissions.admit(number, a), Ok(Admission { evict: None }));
        }
        admissions.logged_in(1);
        // Full: 2 is the oldest not logged in (1 logged in and keeps its place).
        assert_eq!(admissions.admit(4, a), Ok(Admission { evict: Some(2) }));
        assert_eq!(admissions.admit(5, a), Ok(Admission { evict: Some(3) }));
        // 2 and 3 are still counted until released: the next one evicts 4.
        assert_eq!(admissions.sessions(), 5);
        admissions.release(2, a);
        admissions.release(3, a);
        assert_eq!(admissions.sessions(), 3);
        assert_eq!(admissions.admit(6, a), Ok(Admission { evict: Some(4) }));
        admissions.release(4, a);
        // Everyone logged in: no one to evict.
        admissions.logged_in(5);
        admissions.logged_in(6);
        assert_eq!(admissions.admit(7, a), Err(Refusal::TooManySessions));
        // A refused connection took no place.
        assert_eq!(admissions.sessions(), 3);
        admissions.release(5, a);
        assert_eq!(admissions.admit(8, a), Ok(Admission { evict: None }));
    }

    #[test]
    fn one_address_is_held_to_its_own_limit_and_others_are_not_affected() {
        let mut admissions = admissions(10, 2);
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        assert!(admissions.admit(1, a).is_ok());
        assert!(admissions.admit(2, a).is_ok());
        assert_eq!(admissions.admit(3, a), Err(Refusal::TooManyFromAddress));
        assert!(admissions.admit(4, b).is_ok());
        admissions.release(1, a);
        assert!(admissions.admit(5, a).is_ok());
    }

    #[test]
    fn released_addresses_leave_the_table() {
        let mut admissions = admissions(10_000, 10);
        for n in 0..5_000u32 {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            assert!(admissions.admit(u64::from(n), address).is_ok());
            admissions.release(u64::from(n), address);
        }
        assert_eq!(admissions.sessions(), 0);
        assert!(admissions.per_address.is_empty());
        assert!(admissions.not_logged_in.is_empty());
        // A release too many does not wrap the count.
        admissions.release(1, ip("192.0.2.1"));
        assert_eq!(admissions.sessions(), 0);
    }

    #[test]
    fn the_limit_th_failure_locks_the_address_out_for_the_duration() {
        let mut lockouts = lockouts(3, MINUTE);
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
    fn logins_are_screened_and_only_denials_count() {
        let mut lockouts = lockouts(2, MINUTE);
        let now = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(lockouts.screen_login(a, now), None);
        let granted = Response::LoggedIn { writable: false };
        for _ in 0..10 {
            assert!(!lockouts.record_login(a, &granted, now));
        }
        assert_eq!(lockouts.screen_login(a, now), None);
        assert!(!lockouts.record_login(a, &Response::LoginDenied, now));
        assert!(lockouts.record_login(a, &Response::LoginDenied, now));
        assert_eq!(lockouts.screen_login(a, now), Some(Response::LoginDenied));
        assert_eq!(lockouts.screen_login(a, now + MINUTE), None);
    }

    #[test]
    fn failures_further_apart_than_the_duration_do_not_add_up() {
        let mut lockouts = lockouts(2, MINUTE);
        let start = Instant::now();
        let a = ip("192.0.2.1");
        assert!(!lockouts.record_failure(a, start));
        assert!(!lockouts.record_failure(a, start + 2 * MINUTE));
        assert!(lockouts.record_failure(a, start + 2 * MINUTE + Duration::from_secs(1)));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_prefix() {
        let mut lockouts = lockouts(2, MINUTE);
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
        let mut lockouts = lockouts(0, MINUTE);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(!lockouts.record_failure(ip("192.0.2.1"), now));
        }
        assert!(!lockouts.is_locked(ip("192.0.2.1"), now));
        assert_eq!(lockouts.tracked(), 0);
    }

    #[test]
    fn a_huge_lockout_duration_does_not_overflow() {
        let mut lockouts = lockouts(1, Duration::MAX);
        let now = Instant::now();
        assert!(lockouts.record_failure(ip("192.0.2.1"), now));
        assert!(lockouts.is_locked(ip("192.0.2.1"), now + 1000 * MINUTE));
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_lockouts_over_stale_entries() {
        let mut lockouts = lockouts(2, MINUTE);
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

    #[test]
    fn expired_entries_make_room_first() {
        let mut lockouts = lockouts(5, MINUTE);
        let start = Instant::now();
        for n in 0..MAX_TRACKED as u32 {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            lockouts.record_failure(address, start);
        }
        assert_eq!(lockouts.tracked(), MAX_TRACKED);
        // Past the window, every earlier entry has expired: one sweep clears them.
        lockouts.record_failure(ip("192.0.2.1"), start + 2 * MINUTE);
        assert_eq!(lockouts.tracked(), 1);
    }
}
