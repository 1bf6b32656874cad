//! Listener policy: the limits every adapter's listener enforces, and the table of open
//! connections per client address they are counted in.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits of a listener.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// Connections served at once; one more is turned away with the protocol's "busy"
    /// reply. Default 256.
    pub max_connections: usize,
    /// Connections served at once from one client address (IPv6: one
    /// [`ListenerOptions::ipv6_prefix`] network), so one client cannot take every slot;
    /// one more from there is turned away with the busy reply. Default 32 (Postfix's
    /// anvil allows 50 per client by default, over a larger process limit).
    pub max_per_address: usize,
    /// How many leading bits of an IPv6 address count as one client: a host usually
    /// holds a whole /64. Default 64.
    pub ipv6_prefix: u8,
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

    /// Set the shutdown grace period.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// The client a connection is counted for: an IPv4 address, or an IPv6 network of the
/// configured prefix (an IPv4-mapped IPv6 address counts as its IPv4 address).
fn client_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6);
                let mask = match ipv6_prefix {
                    0 => 0,
                    p => u128::MAX << (128 - u32::from(p.min(128))),
                };
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        },
    }
}

/// The connections a listener serves, in total and per client: an entry exists only
/// while its client has a connection open, so the table never holds more entries than
/// the connection limit.
#[derive(Debug)]
pub struct Connections {
    options: ListenerOptions,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees its slot.
#[derive(Debug)]
#[must_use = "the slot is freed when this is dropped"]
pub struct Admitted {
    table: Arc<Connections>,
    key: IpAddr,
}

impl Connections {
    /// An empty table under `options`.
    pub fn new(options: ListenerOptions) -> Arc<Self> {
        Arc::new(Connections {
            options,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Admit a connection from `peer`, or `None` when the total or the client's limit
    /// is reached (turn it away with the busy reply).
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        let key = client_key(peer, self.options.ipv6_prefix);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_client) = &mut *open;
        if *total >= self.options.max_connections {
            return None;
        }
        let count = per_client.entry(key).or_insert(0);
        if *count >= self.options.max_per_address {
            return None;
        }
        *count += 1;
        *total += 1;
        Some(Admitted {
            table: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().map_or(0, |open| open.0)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per_client) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(count) = per_client.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_client_cannot_take_every_slot() {
        let table = Connections::new(ListenerOptions::default().max_per_address(2));
        let a1 = table.admit(ip("127.0.0.1")).unwrap();
        let _a2 = table.admit(ip("127.0.0.1")).unwrap();
        assert!(
            table.admit(ip("127.0.0.1")).is_none(),
            "third from one address"
        );
        let _b = table
            .admit(ip("127.0.0.2"))
            .expect("another address is served");
        drop(a1);
        let _a3 = table
            .admit(ip("127.0.0.1"))
            .expect("a freed slot is reused");
        assert_eq!(table.open(), 3);
    }

    #[test]
    fn the_total_limit_holds_across_clients() {
        let options = ListenerOptions::default()
            .max_connections(2)
            .max_per_address(10);
        let table = Connections::new(options);
        let _a = table.admit(ip("10.0.0.1")).unwrap();
        let _b = table.admit(ip("10.0.0.2")).unwrap();
        assert!(table.admit(ip("10.0.0.3")).is_none());
    }

    #[test]
    fn ipv6_counts_by_prefix_and_mapped_v4_as_v4() {
        let table = Connections::new(ListenerOptions::default().max_per_address(1));
        let _a = table.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(
            table.admit(ip("2001:db8:1:2:ffff::9")).is_none(),
            "same /64"
        );
        let _b = table.admit(ip("2001:db8:1:3::1")).expect("another /64");
        let _c = table.admit(ip("192.0.2.7")).unwrap();
        assert!(table.admit(ip("::ffff:192.0.2.7")).is_none(), "mapped v4");
    }

    #[test]
    fn entries_go_when_their_last_connection_does() {
        let table = Connections::new(ListenerOptions::default());
        for i in 0..100u8 {
            drop(table.admit(IpAddr::from([10, 0, 0, i])).unwrap());
        }
        assert_eq!(table.open.lock().unwrap().1.len(), 0);
    }
}
