//! Blocking adapter: drives the `mailproto-core` machines over `std::net` sockets, with
//! TLS from rustls. The session logic that is not I/O (handler traits, client flows,
//! listener policy, TLS configuration) is `mailproto-engine`'s, re-exported here.
//!
//! - [`Driver`] runs any machine over a TCP connection: output, events, reads with the
//!   machine's timeout, the STARTTLS/STLS handshake, implicit TLS, close.
//! - [`tls`] builds rustls configurations (PEM files, self-signed certificates, system or
//!   supplied roots, an explicit switch to accept invalid certificates for local tests).
//! - [`transport`]: [`SmtpTransport`](transport::SmtpTransport), a pooled SMTP
//!   transport configured once and shared, behind the [`Transport`](transport::Transport)
//!   trait with test doubles; [`message`]: messages with their envelope.
//! - [`Error`] says what failed (a server's refusal kept whole) and converts to
//!   `io::Error`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mailproto_core as core;
pub use mailproto_engine::{
    Direction, Error, ListenerOptions, Network, ProxyOptions, Refusal, Refused, Tap, TlsRole,
    adapter, message, tls, trace,
};

mod driver;
mod listener;
pub mod pop3_client;
pub mod pop3_server;
pub mod smtp_client;
pub mod smtp_server;
pub mod transport;

pub use driver::{Closing, Driver};
pub use listener::{GOODBYE, Listener, ShutdownHandle};

/// Connect to `host:port` (every resolved address in turn), with a timeout per attempt.
pub fn connect_tcp(
    host: &str,
    port: u16,
    timeout: std::time::Duration,
) -> std::io::Result<std::net::TcpStream> {
    use std::net::ToSocketAddrs;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match std::net::TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))
}
