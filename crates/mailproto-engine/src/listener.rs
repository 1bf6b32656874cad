//! Listener policy: the limits every adapter's listener enforces.

use std::time::Duration;

/// Limits of a listener.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// Connections served at once; one more is turned away with the protocol's "busy"
    /// reply.
    pub max_connections: usize,
    /// How long shutdown waits for running sessions before closing their sockets.
    pub shutdown_grace: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            max_connections: 256,
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

    /// Set the shutdown grace period.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}
