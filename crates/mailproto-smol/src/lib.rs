//! Async adapter: drives the `mailproto-core` machines over `smol` / futures-io streams,
//! with TLS from rustls (futures-rustls).
//!
//! Built on futures-io `AsyncRead`/`AsyncWrite`, so it also runs under other executors
//! through their compat layers. What is not I/O (handler and backend traits, client
//! options and results, TLS configuration, the error type, the listener limits) comes
//! from `mailproto-engine`, re-exported here as [`engine`] and at the same module paths
//! as in the blocking adapter (`smtp_server`, `pop3_server`, `smtp_client`,
//! `pop3_client`); this crate depends on no other adapter.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mailproto_core as core;
pub use mailproto_engine as engine;
pub use mailproto_engine::{
    Direction, Error, ListenerOptions, Tap, TlsRole, pop3_client, pop3_server, smtp_client,
    smtp_server, tls,
};

mod driver;
mod listener;
pub mod pop3;
pub mod smtp;

pub use driver::Driver;
pub use listener::{Listener, ShutdownHandle};

/// Connect to `host:port` (every resolved address in turn), with a timeout per attempt.
pub async fn connect_tcp(
    host: &str,
    port: u16,
    timeout: std::time::Duration,
) -> std::io::Result<smol::net::TcpStream> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut last = None;
    for addr in smol::net::resolve((host, port)).await? {
        let connect = async { Some(smol::net::TcpStream::connect(addr).await) };
        let expire = async {
            smol::Timer::after(timeout).await;
            None
        };
        match futures_lite::future::or(connect, expire).await {
            Some(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Some(Err(e)) => last = Some(e),
            None => last = Some(std::io::ErrorKind::TimedOut.into()),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))
}
