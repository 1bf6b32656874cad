//! The session logic of the mailproto adapters that is not I/O, shared by every
//! adapter (`mailproto-std`, `mailproto-smol`) so that none depends on another:
//!
//! - server handler and backend traits and the glue that turns the machines' events into
//!   their calls ([`smtp_server`], [`pop3_server`]), with the service each adapter's
//!   server wraps;
//! - the client flows over the machines ([`smtp_client`], [`pop3_client`]): what each
//!   event means for a transaction or a session step, options, results;
//! - listener policy ([`ListenerOptions`]), TLS configuration ([`tls`], [`TlsRole`]),
//!   the I/O policy every driver follows ([`adapter`]: buffer size, handshake deadline,
//!   which errors mean the peer is gone) and the one [`Error`] type.
//!
//! An adapter is only the pump: sockets, TLS streams, timers and spawning.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

use mailproto_core::sasl::{ClientCredentials, Mechanism};
use rustls::pki_types::ServerName;

pub use mailproto_core as core;

pub mod adapter;
pub mod aio;
mod error;
pub mod listener;
pub mod message;
pub mod pop3_client;
pub mod pop3_server;
pub mod smtp_client;
pub mod smtp_server;
pub mod tls;
pub mod trace;
pub mod transport;

pub use error::{Error, Refusal};
pub use listener::{Admitted, Connections, ListenerOptions, Network, ProxyOptions, Refused, Slot};

/// Which way bytes went, for a [`Tap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Written to the peer.
    Sent,
    /// Read from the peer.
    Received,
}

/// Sees every protocol byte an adapter's driver writes or reads (inside TLS: the plaintext), for
/// transcripts and logs.
pub type Tap = Box<dyn FnMut(Direction, &[u8]) + Send>;

/// Which side of TLS this connection plays, with its configuration.
#[derive(Debug, Clone)]
pub enum TlsRole {
    /// No TLS can be negotiated on this connection.
    None,
    /// Server side: present this configuration's certificate.
    Server(Arc<rustls::ServerConfig>),
    /// Client side: verify the server against this configuration and name.
    Client(Arc<rustls::ClientConfig>, ServerName<'static>),
}

/// The SASL mechanism a client uses among the names a server `offered` (SMTP's EHLO
/// AUTH keyword, POP3's CAPA SASL tag), preferring what is safe over the connection.
fn choose_offered(
    offered: &[String],
    credentials: &ClientCredentials,
    tls: bool,
) -> Option<Mechanism> {
    let offered: Vec<Mechanism> = offered
        .iter()
        .filter_map(|m| Mechanism::parse(m.as_bytes()).ok())
        .collect();
    Mechanism::choose(&offered, true, credentials.token.is_some(), tls)
}
