//! Async adapter on `smol`: TCP sockets, timers and spawning from smol (on its global
//! executor or on one the application supplies), TLS from rustls through futures-rustls.
//!
//! Everything else is the engine's async side ([`engine::aio`]), written once for every
//! async runtime: the driver loop, the servers with their async handlers, the clients,
//! the accept loop. This crate implements [`engine::aio::Runtime`] for [`Smol`] and
//! names the engine's types with it filled in. What is not I/O (handler and backend
//! traits, client options and results, TLS configuration, the error type, the listener
//! limits) is re-exported at the same module paths as in the blocking adapter
//! (`smtp_server`, `pop3_server`, `smtp_client`, `pop3_client`); this crate depends on
//! no other adapter.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use mailproto_engine::aio;
use rustls::pki_types::ServerName;
use smol::net::{TcpListener, TcpStream};

pub use mailproto_core as core;
pub use mailproto_engine as engine;
pub use mailproto_engine::{
    Direction, Error, ListenerOptions, Network, ProxyOptions, Refusal, Refused, Tap, TlsRole,
    message, pop3_client, pop3_server, smtp_client, smtp_server, tls,
};

/// The smol runtime: sessions spawn on smol's global executor, or on the executor given
/// to [`Smol::on`].
#[derive(Clone, Default)]
pub struct Smol {
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl std::fmt::Debug for Smol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smol")
            .field("own_executor", &self.executor.is_some())
            .finish()
    }
}

impl Smol {
    /// Spawn sessions on `executor` (run it on as many threads as you like).
    pub fn on(executor: Arc<smol::Executor<'static>>) -> Self {
        Smol {
            executor: Some(executor),
        }
    }
}

impl aio::Runtime for Smol {
    type Tcp = TcpStream;
    type TcpListener = TcpListener;

    async fn sleep(&self, duration: Duration) {
        smol::Timer::after(duration).await;
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        match &self.executor {
            Some(executor) => executor.spawn(task).detach(),
            None => smol::spawn(task).detach(),
        }
    }

    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let host = host.to_owned();
        async move { smol::net::resolve((host.as_str(), port)).await }
    }

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> + Send {
        TcpStream::connect(addr)
    }

    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind(addr)
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn accept(
        &self,
        listener: &TcpListener,
    ) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        listener.accept()
    }

    fn peer_addr(tcp: &TcpStream) -> io::Result<SocketAddr> {
        tcp.peer_addr()
    }

    fn tune(tcp: &TcpStream) {
        mailproto_engine::adapter::tune_tcp(tcp);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> aio::Tls<S> for Smol {
    type ServerTls = futures_rustls::server::TlsStream<S>;
    type ClientTls = futures_rustls::client::TlsStream<S>;

    fn accept_tls(
        &self,
        config: Arc<rustls::ServerConfig>,
        plain: S,
    ) -> impl Future<Output = io::Result<Self::ServerTls>> + Send {
        futures_rustls::TlsAcceptor::from(config).accept(plain)
    }

    fn connect_tls(
        &self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        plain: S,
    ) -> impl Future<Output = io::Result<Self::ClientTls>> + Send {
        futures_rustls::TlsConnector::from(config).connect(name, plain)
    }
}

mailproto_engine::runtime_types!(Smol, "smol");
