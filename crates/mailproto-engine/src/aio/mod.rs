//! The async side of the engine, written once for every async runtime: the driver loop
//! over a machine, the SMTP and POP3 servers (with [`AsyncSmtpHandler`] and
//! [`AsyncPop3Backend`]) and clients, and the accept loop with its limits and graceful
//! shutdown.
//!
//! A runtime adapter (`mailproto-smol`, `mailproto-tokio`) implements [`Runtime`] (TCP
//! sockets, timers, spawning) and [`Tls`] (the TLS streams of its ecosystem) and
//! re-exports these types with its runtime filled in. Streams are futures-io
//! `AsyncRead + AsyncWrite`; an adapter whose runtime has its own traits wraps its
//! streams (tokio's through its compat layer).
//!
//! [`AsyncSmtpHandler`]: crate::smtp_server::AsyncSmtpHandler
//! [`AsyncPop3Backend`]: crate::pop3_server::AsyncPop3Backend

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use futures_lite::io::{AsyncRead, AsyncWrite};
use rustls::pki_types::ServerName;

mod driver;
mod listener;
mod pop3;
mod smtp;
mod transport;

pub use driver::{Closing, Driver};
pub use listener::{GOODBYE, Listener, ShutdownHandle};
pub use pop3::{Pop3Client, Pop3Server};
pub use smtp::{SmtpClient, SmtpServer};
pub use transport::SmtpTransport;

/// What an async runtime gives the engine: TCP sockets, timers and spawning. A value of
/// the type says where sessions run (an executor the user supplies, or the runtime's
/// default); [`Default`] is the runtime's global or current executor.
pub trait Runtime: Clone + Default + Send + Sync + 'static {
    /// A connected TCP stream.
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A bound listening socket.
    type TcpListener: Send + Sync + 'static;

    /// Complete after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;

    /// Run `task` to its end on this runtime's executor, detached.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static);

    /// The addresses of `host` (a name or a literal) at `port`.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// Open a TCP connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> + Send;

    /// Bind a listening socket.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpListener>> + Send;

    /// The address a listener is bound to.
    fn local_addr(listener: &Self::TcpListener) -> io::Result<SocketAddr>;

    /// Accept one connection.
    fn accept(
        &self,
        listener: &Self::TcpListener,
    ) -> impl Future<Output = io::Result<(Self::Tcp, SocketAddr)>> + Send;

    /// The peer's address of a connected stream.
    fn peer_addr(tcp: &Self::Tcp) -> io::Result<SocketAddr>;

    /// Set the socket options every session uses ([`crate::adapter::tune_tcp`]: no
    /// Nagle delay, TCP keepalive).
    fn tune(tcp: &Self::Tcp);
}

/// The TLS streams of a runtime over the plaintext stream `S`.
pub trait Tls<S>: Runtime {
    /// The server side of a TLS session over `S`.
    type ServerTls: AsyncRead + AsyncWrite + Unpin + Send;
    /// The client side of a TLS session over `S`.
    type ClientTls: AsyncRead + AsyncWrite + Unpin + Send;

    /// Run the server handshake over `plain`.
    fn accept_tls(
        &self,
        config: Arc<rustls::ServerConfig>,
        plain: S,
    ) -> impl Future<Output = io::Result<Self::ServerTls>> + Send;

    /// Run the client handshake over `plain`, checking the certificate against `name`.
    fn connect_tls(
        &self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        plain: S,
    ) -> impl Future<Output = io::Result<Self::ClientTls>> + Send;
}

/// `fut`'s output, or `None` when `limit` passes first.
pub async fn with_timeout<R: Runtime, T>(
    runtime: &R,
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        runtime.sleep(limit).await;
        None
    })
    .await
}

/// Connect to `host:port` (every resolved address in turn), with a timeout per attempt;
/// the stream is tuned with [`Runtime::tune`].
pub async fn connect_tcp<R: Runtime>(
    runtime: &R,
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<R::Tcp> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut last = None;
    for addr in runtime.resolve(host, port).await? {
        match with_timeout(runtime, timeout, runtime.connect(addr)).await {
            Some(Ok(tcp)) => {
                R::tune(&tcp);
                return Ok(tcp);
            }
            Some(Err(e)) => last = Some(e),
            None => last = Some(io::ErrorKind::TimedOut.into()),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// Name the engine's async types for one runtime, in the crate that implements it:
/// `Driver`, `Listener`, `ShutdownHandle`, the `smtp` and `pop3` modules with the
/// servers and clients, and `connect_tcp`. `runtime_types!(Smol, "smol")`
/// in `mailproto-smol` is its whole public surface beside the runtime itself.
#[macro_export]
macro_rules! runtime_types {
    ($runtime:ident, $name:literal) => {
        pub use $crate::aio::ShutdownHandle;

        #[doc = concat!("The engine's driver loop on ", $name, ".")]
        pub type Driver<M, S = <$runtime as $crate::aio::Runtime>::Tcp> =
            $crate::aio::Driver<M, S, $runtime>;

        #[doc = concat!("A listening socket whose sessions run on ", $name, ".")]
        pub type Listener = $crate::aio::Listener<$runtime>;

        #[doc = concat!("SMTP on ", $name, ": the server (an [`AsyncSmtpHandler`](",
                    "$crate::smtp_server::AsyncSmtpHandler) per connection; [`Inline`](",
                    "$crate::smtp_server::Inline) or [`Offload`]($crate::smtp_server::Offload) ",
                    "wrap a blocking handler) and the client.")]
        pub mod smtp {
            use super::$runtime;

            /// An async SMTP server: one task per connection.
            pub type SmtpServer<H, F> = $crate::aio::SmtpServer<$runtime, H, F>;

            /// An async SMTP client session.
            pub type SmtpClient<S = <$runtime as $crate::aio::Runtime>::Tcp> =
                $crate::aio::SmtpClient<$runtime, S>;

            /// A pooled async SMTP transport, shared between tasks.
            pub type SmtpTransport = $crate::aio::SmtpTransport<$runtime>;
        }

        /// Sending mail: the pooled transport, its configuration, the traits and the
        /// test doubles.
        pub mod transport {
            pub use $crate::transport::*;

            /// A pooled async SMTP transport, shared between tasks.
            pub type SmtpTransport = $crate::aio::SmtpTransport<super::$runtime>;
        }

        #[doc = concat!("POP3 on ", $name, ": the server (an [`AsyncPop3Backend`](",
                    "$crate::pop3_server::AsyncPop3Backend); [`InlineBackend`](",
                    "$crate::pop3_server::InlineBackend) or [`OffloadBackend`](",
                    "$crate::pop3_server::OffloadBackend) wrap a blocking one) and the client.")]
        pub mod pop3 {
            use super::$runtime;

            /// An async POP3 server: one task per connection.
            pub type Pop3Server<B> = $crate::aio::Pop3Server<$runtime, B>;

            /// An async POP3 client session.
            pub type Pop3Client<S = <$runtime as $crate::aio::Runtime>::Tcp> =
                $crate::aio::Pop3Client<$runtime, S>;
        }

        /// Connect to `host:port` (every resolved address in turn), with a timeout per
        /// attempt.
        pub async fn connect_tcp(
            host: &str,
            port: u16,
            timeout: ::std::time::Duration,
        ) -> ::std::io::Result<<$runtime as $crate::aio::Runtime>::Tcp> {
            $crate::aio::connect_tcp(&<$runtime>::default(), host, port, timeout).await
        }
    };
}
