//! Listener policy: the limits every adapter's listener enforces, and the table of
//! clients they are counted in (open connections, connection and message rates, failed
//! logins), one per listener, shared by its sessions.
//!
//! Rates and penalties run on the listener's own clock ([`Connections::now`], the core's
//! [`Instant`]); every method that moves them has an `_at` form taking the time, so
//! tests use a virtual clock.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailproto_core::Instant;

/// Limits of a listener.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// Connections served at once; one more is turned away with the protocol's "busy"
    /// reply, written by the accept loop itself (no session, no thread). Default 256.
    pub max_connections: usize,
    /// Connections served at once from one client address (IPv6: one
    /// [`ListenerOptions::ipv6_prefix`] network), so one client cannot take every slot;
    /// one more from there is turned away with the busy reply. Default 32 (Postfix's
    /// anvil allows 50 per client by default, over a larger process limit).
    pub max_per_address: usize,
    /// How many leading bits of an IPv6 address count as one client: a host usually
    /// holds a whole /64. Default 64.
    pub ipv6_prefix: u8,
    /// New connections a minute from one client (a token bucket of this size, refilled
    /// evenly); one more is turned away (SMTP `421 4.7.0`, POP3 `-ERR [SYS/TEMP]`).
    /// Default 120; 0 for no limit.
    pub connections_per_minute: u32,
    /// Messages a minute from one client (counted at `MAIL`); one more is refused with
    /// `451 4.7.1` (the client retries later). Default 600; 0 for no limit.
    pub messages_per_minute: u32,
    /// The delay before the answer to a failed login, doubled for each failure from the
    /// same client in a row, up to [`ListenerOptions::login_failure_delay_max`]; kept
    /// across sessions for [`ListenerOptions::login_failure_memory`] (Dovecot's auth
    /// penalty). Default 2 s; zero for none.
    pub login_failure_delay: Duration,
    /// The longest failed-login delay. Default 15 s.
    pub login_failure_delay_max: Duration,
    /// How long failed logins of a client are remembered after its last one. A
    /// successful login forgets them. Default 1 hour.
    pub login_failure_memory: Duration,
    /// Clients remembered at most (the ones with connections open always are); when
    /// full, the longest quiet are forgotten first. Default 16,384.
    pub max_tracked: usize,
    /// The PROXY protocol (v1 and v2) from trusted proxies; `None` (the default): no
    /// header is expected and the socket's peer is the client.
    pub proxy: Option<ProxyOptions>,
    /// How long shutdown waits for running sessions before telling them to close.
    /// Default 10 s.
    pub shutdown_grace: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            max_connections: 256,
            max_per_address: 32,
            ipv6_prefix: 64,
            connections_per_minute: 120,
            messages_per_minute: 600,
            login_failure_delay: Duration::from_secs(2),
            login_failure_delay_max: Duration::from_secs(15),
            login_failure_memory: Duration::from_secs(3600),
            max_tracked: 16_384,
            proxy: None,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ListenerOptions {
    /// Set the connection limit.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Set the limit of connections from one client address.
    pub fn max_per_address(mut self, n: usize) -> Self {
        self.max_per_address = n.max(1);
        self
    }

    /// Set how many leading bits of an IPv6 address count as one client (0 to 128).
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = bits.min(128);
        self
    }

    /// Set the new connections allowed a minute from one client (0: no limit).
    pub fn connections_per_minute(mut self, n: u32) -> Self {
        self.connections_per_minute = n;
        self
    }

    /// Set the messages allowed a minute from one client (0: no limit).
    pub fn messages_per_minute(mut self, n: u32) -> Self {
        self.messages_per_minute = n;
        self
    }

    /// Set the first failed-login delay and the longest one.
    pub fn login_failure_delay(mut self, first: Duration, max: Duration) -> Self {
        self.login_failure_delay = first;
        self.login_failure_delay_max = max.max(first);
        self
    }

    /// Accept the PROXY protocol from these proxies.
    pub fn proxy(mut self, proxy: ProxyOptions) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Set the shutdown grace period.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// The PROXY protocol on a listener (HAProxy's, v1 and v2; what Postfix, Dovecot and
/// cloud load balancers speak): a connection from a trusted proxy must begin with a
/// header naming the client, which then counts as the peer for the handler, the limits
/// and the logs; a v2 header whose SSL TLV says the client spoke TLS to the proxy makes
/// the session count as inside TLS (HAProxy terminating 465/995). A connection from any
/// other address is refused at once: a client must not choose its own address.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyOptions {
    /// The proxies' addresses or networks.
    pub trusted: Vec<Network>,
    /// The time a proxy has to send its whole header. Default 5 s.
    pub header_timeout: Duration,
}

impl ProxyOptions {
    /// Headers accepted from `trusted`.
    pub fn new(trusted: Vec<Network>) -> Self {
        ProxyOptions {
            trusted,
            header_timeout: Duration::from_secs(5),
        }
    }

    /// Set the header deadline.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Whether `peer` may send a header.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.trusted.iter().any(|n| n.contains(peer))
    }
}

/// An IP network: an address and how many leading bits count (`10.0.0.0/8`,
/// `2001:db8::/32`; a bare address is the host alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), self.prefix, 32)
                    == masked(u128::from(u32::from(ip)), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The leading `prefix` of `width` bits of `bits`.
fn masked(bits: u128, prefix: u8, width: u32) -> u128 {
    let prefix = u32::from(prefix).min(width);
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?}: not an IP address or network"))?;
        let addr = canonical(addr);
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("{s:?}: the prefix must be 0 to {width}"))?,
        };
        Ok(Network { addr, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The client a connection is counted for: an IPv4 address, or an IPv6 network of the
/// configured prefix (an IPv4-mapped IPv6 address counts as its IPv4 address).
fn client_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match canonical(ip) {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = match ipv6_prefix {
                0 => 0,
                p => u128::MAX << (128 - u32::from(p.min(128))),
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// The listener serves its maximum of connections.
    Busy,
    /// The client has its maximum of connections open.
    TooMany,
    /// The client connects faster than its rate allows.
    TooFast,
    /// A PROXY-protocol listener and a peer that is not a trusted proxy.
    Untrusted,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Busy => "too many connections",
            Refused::TooMany => "too many connections from this client",
            Refused::TooFast => "too many connections a minute from this client",
            Refused::Untrusted => "not a trusted proxy",
        })
    }
}

/// A token bucket of `per_minute` tokens, in thousandths of a token.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli: u64,
    at: Instant,
}

impl Bucket {
    fn full(per_minute: u32, now: Instant) -> Bucket {
        Bucket {
            milli: u64::from(per_minute) * 1000,
            at: now,
        }
    }

    /// The level at `now`.
    fn level(&self, per_minute: u32, now: Instant) -> u64 {
        let cap = u64::from(per_minute) * 1000;
        let elapsed = now.saturating_duration_since(self.at).as_millis();
        let refill = u64::try_from(elapsed * u128::from(per_minute) / 60).unwrap_or(u64::MAX);
        self.milli.saturating_add(refill).min(cap)
    }

    /// Take one token at `now`; false (nothing taken) when empty. No limit when 0.
    fn take(&mut self, per_minute: u32, now: Instant) -> bool {
        if per_minute == 0 {
            return true;
        }
        let level = self.level(per_minute, now);
        self.at = now.max(self.at);
        if level < 1000 {
            self.milli = level;
            return false;
        }
        self.milli = level - 1000;
        true
    }

    fn is_full(&self, per_minute: u32, now: Instant) -> bool {
        per_minute == 0 || self.level(per_minute, now) >= u64::from(per_minute) * 1000
    }
}

/// What the table knows of one client.
#[derive(Debug, Clone, Copy)]
struct Client {
    open: usize,
    connections: Bucket,
    messages: Bucket,
    failures: u32,
    last_failure: Instant,
    seen: Instant,
}

/// The clients of a listener (see the module documentation).
#[derive(Debug)]
pub struct Connections {
    options: ListenerOptions,
    origin: std::time::Instant,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    clients: HashMap<IpAddr, Client>,
}

/// A connection counted in the total, its client not yet known (a PROXY header comes
/// first); dropping it frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed when this is dropped"]
pub struct Slot {
    table: Arc<Connections>,
    counted: bool,
}

/// One admitted connection and its client: the limits the session applies (message
/// rate, failed-login delay) go through it; dropping it frees its slot.
#[derive(Debug)]
#[must_use = "the slot is freed when this is dropped"]
pub struct Admitted {
    slot: Slot,
    key: IpAddr,
    peer: SocketAddr,
    tls_by_proxy: bool,
}

impl Connections {
    /// An empty table under `options`.
    pub fn new(options: ListenerOptions) -> Arc<Self> {
        Arc::new(Connections {
            options,
            origin: std::time::Instant::now(),
            state: Mutex::new(State::default()),
        })
    }

    /// The options.
    pub fn options(&self) -> &ListenerOptions {
        &self.options
    }

    /// The listener's clock.
    pub fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count a connection in the total, or [`Refused::Busy`].
    pub fn reserve(self: &Arc<Self>) -> Result<Slot, Refused> {
        let mut state = self.state();
        if state.total >= self.options.max_connections {
            return Err(Refused::Busy);
        }
        state.total += 1;
        Ok(Slot {
            table: self.clone(),
            counted: true,
        })
    }

    /// Admit a connection from `peer` now: [`Connections::reserve`] and
    /// [`Slot::admit`].
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Admitted, Refused> {
        self.reserve()?.admit(peer)
    }

    /// [`Connections::admit`] at `now`.
    pub fn admit_at(self: &Arc<Self>, peer: SocketAddr, now: Instant) -> Result<Admitted, Refused> {
        self.reserve()?.admit_at(peer, now)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.state().total
    }

    /// Clients remembered now.
    pub fn tracked(&self) -> usize {
        self.state().clients.len()
    }

    /// Make room for one more client: forget those that have no connection and nothing
    /// worth keeping at `now`, or else the longest quiet.
    fn make_room(&self, state: &mut State, now: Instant) {
        let o = &self.options;
        let limit = o.max_tracked.max(o.max_connections + 1);
        if state.clients.len() < limit {
            return;
        }
        state.clients.retain(|_, c| {
            c.open > 0
                || !c.connections.is_full(o.connections_per_minute, now)
                || !c.messages.is_full(o.messages_per_minute, now)
                || (c.failures > 0 && now < c.last_failure + o.login_failure_memory)
        });
        while state.clients.len() >= limit {
            let oldest = state
                .clients
                .iter()
                .filter(|(_, c)| c.open == 0)
                .min_by_key(|(_, c)| c.seen)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    state.clients.remove(&k);
                }
                None => break,
            }
        }
    }
}

impl Slot {
    /// Admit the connection for client `peer` now (the socket's peer, or the client a
    /// PROXY header named): its per-address limit and connection rate.
    pub fn admit(self, peer: SocketAddr) -> Result<Admitted, Refused> {
        let now = self.table.now();
        self.admit_at(peer, now)
    }

    /// [`Slot::admit`] at `now`.
    pub fn admit_at(self, peer: SocketAddr, now: Instant) -> Result<Admitted, Refused> {
        let table = self.table.clone();
        let o = &table.options;
        let key = client_key(peer.ip(), o.ipv6_prefix);
        let mut state = table.state();
        if !state.clients.contains_key(&key) {
            table.make_room(&mut state, now);
        }
        let client = state.clients.entry(key).or_insert(Client {
            open: 0,
            connections: Bucket::full(o.connections_per_minute, now),
            messages: Bucket::full(o.messages_per_minute, now),
            failures: 0,
            last_failure: Instant::ZERO,
            seen: now,
        });
        client.seen = now;
        if client.open >= o.max_per_address {
            return Err(Refused::TooMany);
        }
        if !client.connections.take(o.connections_per_minute, now) {
            return Err(Refused::TooFast);
        }
        client.open += 1;
        drop(state);
        Ok(Admitted {
            slot: self,
            key,
            peer,
            tls_by_proxy: false,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.counted {
            let mut state = self.table.state();
            state.total = state.total.saturating_sub(1);
        }
    }
}

impl Admitted {
    /// The client: the socket's peer, or the client a PROXY header named.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether a PROXY header said the client spoke TLS to the proxy (which terminated
    /// it): the session counts as inside TLS.
    pub fn tls_by_proxy(&self) -> bool {
        self.tls_by_proxy
    }

    /// Mark the session as inside TLS terminated by the proxy.
    pub fn set_tls_by_proxy(&mut self, tls: bool) {
        self.tls_by_proxy = tls;
    }

    /// The listener's clock.
    pub fn now(&self) -> Instant {
        self.slot.table.now()
    }

    fn with<T>(&self, f: impl FnOnce(&ListenerOptions, &mut Client) -> T) -> Option<T> {
        let table = &self.slot.table;
        let mut state = table.state();
        state
            .clients
            .get_mut(&self.key)
            .map(|c| f(&table.options, c))
    }

    /// Whether the client may start one more message now (it is counted).
    pub fn message_allowed(&self) -> bool {
        self.message_allowed_at(self.now())
    }

    /// [`Admitted::message_allowed`] at `now`.
    pub fn message_allowed_at(&self, now: Instant) -> bool {
        self.with(|o, c| c.messages.take(o.messages_per_minute, now))
            .unwrap_or(true)
    }

    /// A login failed now: the delay before its answer (see
    /// [`ListenerOptions::login_failure_delay`]).
    pub fn login_failed(&self) -> Duration {
        self.login_failed_at(self.now())
    }

    /// [`Admitted::login_failed`] at `now`.
    pub fn login_failed_at(&self, now: Instant) -> Duration {
        self.with(|o, c| {
            if c.failures > 0 && now >= c.last_failure + o.login_failure_memory {
                c.failures = 0;
            }
            c.failures = c.failures.saturating_add(1);
            c.last_failure = now;
            let doublings = (c.failures - 1).min(16);
            o.login_failure_delay
                .saturating_mul(1 << doublings)
                .min(o.login_failure_delay_max)
        })
        .unwrap_or_default()
    }

    /// The delay the next failure would get now (none when the client has no failure
    /// remembered): for the logs.
    pub fn failures(&self) -> u32 {
        self.with(|_, c| c.failures).unwrap_or(0)
    }

    /// A login succeeded: the client's failures are forgotten.
    pub fn login_succeeded(&self) {
        self.with(|_, c| c.failures = 0);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut state = self.slot.table.state();
        if let Some(c) = state.clients.get_mut(&self.key) {
            c.open = c.open.saturating_sub(1);
        }
    }
}

/// What a PROXY header said of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyClient {
    /// The client's address, `None` for a proxy's own connection (v2 `LOCAL`, v1
    /// `UNKNOWN`): the socket's peer then counts.
    pub source: Option<SocketAddr>,
    /// The client spoke TLS to the proxy (v2 SSL TLV with `PP2_CLIENT_SSL`).
    pub tls: bool,
}

/// How many more octets to read for the PROXY header that `buf` begins, never past its
/// end (so the protocol after it stays unread): the 15 of the shortest header first,
/// then a v2 header's fixed part and its stated length, a v1 line an octet at a time.
pub fn proxy_wanted(buf: &[u8]) -> usize {
    const V2_FIXED: usize = 16;
    const SHORTEST: usize = 15;
    if buf.len() < SHORTEST {
        return SHORTEST - buf.len();
    }
    if buf.starts_with(b"\r\n\r\n\0\r\nQUIT\n") {
        if buf.len() < V2_FIXED {
            return V2_FIXED - buf.len();
        }
        let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        return (V2_FIXED + len).saturating_sub(buf.len()).max(1);
    }
    1
}

/// The client named by the PROXY header in `buf`: `Ok(None)` while incomplete.
pub fn proxy_client(buf: &[u8]) -> Result<Option<ProxyClient>, mailproto_core::proxy::Error> {
    let Some((header, _)) = mailproto_core::proxy::parse(buf)? else {
        return Ok(None);
    };
    Ok(Some(ProxyClient {
        source: header.addresses.map(|(source, _)| source),
        tls: header.ssl.as_ref().is_some_and(|ssl| ssl.client_ssl),
    }))
}

/// Read a PROXY header from a blocking stream (the caller set its read deadline), not
/// one octet past it.
pub fn read_proxy_blocking(stream: &mut impl std::io::Read) -> std::io::Result<ProxyClient> {
    let mut buf = Vec::new();
    loop {
        let want = proxy_wanted(&buf);
        let start = buf.len();
        buf.resize(start + want, 0);
        stream.read_exact(&mut buf[start..])?;
        match proxy_client(&buf) {
            Ok(Some(client)) => return Ok(client),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
    }
}

/// The waits after accept errors in a row: 5 ms, doubled each time, at most 1 s, back
/// to the start after a success (go-smtp's and net/http's accept back-off).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(5);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_secs(1);

    /// The wait after this error in a row.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    /// An accept succeeded.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::FIRST }
    }
}

/// Log a connection turned away.
pub fn refuse(peer: SocketAddr, refused: Refused) {
    tracing::warn!(client = %peer.ip(), reason = %refused, "connection refused by a limit");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 40_000)
    }

    const T0: Instant = Instant::ZERO;

    fn secs(n: u64) -> Instant {
        Instant::from_secs(n)
    }

    #[test]
    fn one_client_cannot_take_every_slot() {
        let table = Connections::new(ListenerOptions::default().max_per_address(2));
        let a1 = table.admit_at(at("127.0.0.1"), T0).unwrap();
        let _a2 = table.admit_at(at("127.0.0.1"), T0).unwrap();
        assert_eq!(
            table.admit_at(at("127.0.0.1"), T0).unwrap_err(),
            Refused::TooMany
        );
        let _b = table
            .admit_at(at("127.0.0.2"), T0)
            .expect("another address is served");
        drop(a1);
        let _a3 = table
            .admit_at(at("127.0.0.1"), T0)
            .expect("a freed slot is reused");
        assert_eq!(table.open(), 3);
    }

    #[test]
    fn the_total_limit_holds_across_clients() {
        let options = ListenerOptions::default()
            .max_connections(2)
            .max_per_address(10);
        let table = Connections::new(options);
        let _a = table.admit_at(at("10.0.0.1"), T0).unwrap();
        let _b = table.admit_at(at("10.0.0.2"), T0).unwrap();
        assert_eq!(
            table.admit_at(at("10.0.0.3"), T0).unwrap_err(),
            Refused::Busy
        );
        assert_eq!(table.open(), 2, "a refused connection holds no slot");
    }

    #[test]
    fn ipv6_counts_by_prefix_and_mapped_v4_as_v4() {
        let table = Connections::new(ListenerOptions::default().max_per_address(1));
        let _a = table.admit_at(at("2001:db8:1:2::1"), T0).unwrap();
        assert!(
            table.admit_at(at("2001:db8:1:2:ffff::9"), T0).is_err(),
            "same /64"
        );
        let _b = table
            .admit_at(at("2001:db8:1:3::1"), T0)
            .expect("another /64");
        let _c = table.admit_at(at("192.0.2.7"), T0).unwrap();
        assert!(
            table.admit_at(at("::ffff:192.0.2.7"), T0).is_err(),
            "mapped v4"
        );
    }

    #[test]
    fn the_connection_rate_refills_evenly() {
        let table = Connections::new(ListenerOptions::default().connections_per_minute(3));
        for _ in 0..3 {
            drop(table.admit_at(at("10.0.0.1"), T0).unwrap());
        }
        assert_eq!(
            table.admit_at(at("10.0.0.1"), T0).unwrap_err(),
            Refused::TooFast
        );
        drop(table.admit_at(at("10.0.0.2"), T0).expect("another client"));
        // One token every 20 s.
        assert!(table.admit_at(at("10.0.0.1"), secs(19)).is_err());
        drop(table.admit_at(at("10.0.0.1"), secs(20)).unwrap());
        assert!(table.admit_at(at("10.0.0.1"), secs(21)).is_err());
        for _ in 0..3 {
            drop(table.admit_at(at("10.0.0.1"), secs(1000)).unwrap());
        }
        assert!(
            table.admit_at(at("10.0.0.1"), secs(1000)).is_err(),
            "capped"
        );
    }

    #[test]
    fn the_message_rate_is_per_client_across_its_sessions() {
        let table = Connections::new(ListenerOptions::default().messages_per_minute(2));
        let a1 = table.admit_at(at("10.0.0.1"), T0).unwrap();
        let a2 = table.admit_at(at("10.0.0.1"), T0).unwrap();
        let b = table.admit_at(at("10.0.0.2"), T0).unwrap();
        assert!(a1.message_allowed_at(T0));
        assert!(a2.message_allowed_at(T0));
        assert!(!a1.message_allowed_at(T0));
        assert!(b.message_allowed_at(T0));
        assert!(a2.message_allowed_at(secs(30)));
    }

    #[test]
    fn failed_logins_are_slowed_per_client_across_sessions() {
        let options = ListenerOptions::default()
            .login_failure_delay(Duration::from_secs(2), Duration::from_secs(15));
        let table = Connections::new(options);
        let a = table.admit_at(at("10.0.0.1"), T0).unwrap();
        let delays: Vec<_> = (0..5)
            .map(|i| a.login_failed_at(secs(i)).as_secs())
            .collect();
        assert_eq!(delays, [2, 4, 8, 15, 15]);
        drop(a);
        // A new session of the same client carries on from there.
        let a = table.admit_at(at("10.0.0.1"), secs(10)).unwrap();
        assert_eq!(a.login_failed_at(secs(10)), Duration::from_secs(15));
        // Another client starts afresh.
        let b = table.admit_at(at("10.0.0.2"), secs(10)).unwrap();
        assert_eq!(b.login_failed_at(secs(10)), Duration::from_secs(2));
        // Forgotten after an hour of quiet, or at a success.
        assert_eq!(a.login_failed_at(secs(10 + 3600)), Duration::from_secs(2));
        b.login_succeeded();
        assert_eq!(b.login_failed_at(secs(20)), Duration::from_secs(2));
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_what_matters() {
        let options = ListenerOptions::default()
            .max_connections(4)
            .connections_per_minute(0);
        let mut options = options;
        options.max_tracked = 8;
        let table = Connections::new(options);
        let open = table.admit_at(at("10.0.0.1"), T0).unwrap();
        let penalised = table.admit_at(at("10.0.0.2"), T0).unwrap();
        penalised.login_failed_at(T0);
        drop(penalised);
        for i in 0..200u8 {
            drop(
                table
                    .admit_at(SocketAddr::from(([10, 1, 0, i], 1)), secs(1))
                    .unwrap(),
            );
            assert!(table.tracked() <= 8);
        }
        let again = table.admit_at(at("10.0.0.2"), secs(2)).unwrap();
        assert_eq!(
            again.login_failed_at(secs(2)),
            Duration::from_secs(4),
            "kept"
        );
        drop(open);
    }

    #[test]
    fn accept_errors_back_off_with_growing_delays() {
        // The accept loops wait `next()` after each error: on the listener's clock that
        // is 5 ms, 10 ms, ... up to 1 s, never zero (no spin), and back to 5 ms after a
        // connection was accepted.
        let mut backoff = Backoff::default();
        let mut clock = T0;
        let waits: Vec<u64> = (0..10)
            .map(|_| {
                let wait = backoff.next();
                clock += wait;
                wait.as_millis() as u64
            })
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        // A storm of 1,000 errors in a row takes over 16 minutes of waiting, not a spin.
        for _ in 0..990 {
            clock += backoff.next();
        }
        assert!(clock > Instant::from_secs(990), "{clock}");
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(5));
    }

    #[test]
    fn proxy_headers_are_read_to_their_end_only() {
        let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.2 4000 25\r\nEHLO x\r\n";
        let mut reader = &v1[..];
        let client = read_proxy_blocking(&mut reader).unwrap();
        assert_eq!(client.source, Some("192.0.2.1:4000".parse().unwrap()));
        assert!(!client.tls);
        assert_eq!(
            reader, b"EHLO x\r\n",
            "the protocol after it is left unread"
        );
        let mut v2 = Vec::new();
        let header = mailproto_core::proxy::Header::tcp(
            "[2001:db8::1]:5000".parse().unwrap(),
            "[2001:db8::2]:995".parse().unwrap(),
        );
        header.encode_v2(&mut v2).unwrap();
        let len = v2.len();
        v2.extend_from_slice(b"CAPA\r\n");
        let mut reader = &v2[..];
        let client = read_proxy_blocking(&mut reader).unwrap();
        assert_eq!(client.source, Some("[2001:db8::1]:5000".parse().unwrap()));
        assert_eq!(reader, &v2[len..]);
        let mut junk = &b"EHLO attacker.example\r\n"[..];
        assert!(read_proxy_blocking(&mut junk).is_err());
    }

    #[test]
    fn networks_parse_and_match() {
        let n: Network = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        let host: Network = "127.0.0.1".parse().unwrap();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let v6: Network = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("example.org".parse::<Network>().is_err());
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
    }
}
