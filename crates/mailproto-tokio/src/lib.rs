//! Async adapter on tokio: TCP sockets, timers and spawning from tokio (on the current
//! runtime or on one whose [`tokio::runtime::Handle`] the application gives), TLS from
//! tokio-rustls.
//!
//! Everything else is the engine's async side ([`engine::aio`]), written once for every
//! async runtime and shared with `mailproto-smol`: the driver loop, the servers with
//! their async handlers, the clients, the accept loop. This crate implements
//! [`engine::aio::Runtime`] for [`Tokio`] and names the engine's types with it filled in.
//! The engine speaks futures-io; tokio streams go through tokio-util's compat layer
//! ([`Compat`]): to serve a stream of your own, pass `stream.compat()`
//! ([`TokioAsyncReadCompatExt`]). What is not I/O is re-exported at the same module paths
//! as in the other adapters; this crate depends on no other adapter.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailproto_engine::aio;
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};

pub use mailproto_core as core;
pub use mailproto_engine as engine;
pub use mailproto_engine::{
    Direction, Error, ListenerOptions, Network, ProxyOptions, Refusal, Refused, Tap, TlsRole,
    message, pop3_client, pop3_server, smtp_client, smtp_server, tls,
};
pub use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// A tokio TCP stream as the engine sees it.
pub type Tcp = Compat<TcpStream>;

/// The tokio runtime: sessions spawn on the runtime current where they are started, or
/// on the one given to [`Tokio::on`]. Timers need tokio's time driver enabled.
#[derive(Debug, Clone, Default)]
pub struct Tokio {
    handle: Option<tokio::runtime::Handle>,
}

impl Tokio {
    /// Spawn sessions on the runtime behind `handle`.
    pub fn on(handle: tokio::runtime::Handle) -> Self {
        Tokio {
            handle: Some(handle),
        }
    }
}

impl aio::Runtime for Tokio {
    type Tcp = Tcp;
    type TcpListener = TcpListener;

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        match &self.handle {
            Some(handle) => drop(handle.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let host = host.to_owned();
        async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        }
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Tcp> {
        Ok(TcpStream::connect(addr).await?.compat())
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(Tcp, SocketAddr)> {
        let (tcp, peer) = listener.accept().await?;
        Ok((tcp.compat(), peer))
    }

    fn peer_addr(tcp: &Tcp) -> io::Result<SocketAddr> {
        tcp.get_ref().peer_addr()
    }

    fn tune(tcp: &Tcp) {
        mailproto_engine::adapter::tune_tcp(tcp.get_ref());
    }
}

impl<T> aio::Tls<Compat<T>> for Tokio
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    type ServerTls = Compat<tokio_rustls::server::TlsStream<T>>;
    type ClientTls = Compat<tokio_rustls::client::TlsStream<T>>;

    async fn accept_tls(
        &self,
        config: Arc<rustls::ServerConfig>,
        plain: Compat<T>,
    ) -> io::Result<Self::ServerTls> {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        Ok(acceptor.accept(plain.into_inner()).await?.compat())
    }

    async fn connect_tls(
        &self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        plain: Compat<T>,
    ) -> io::Result<Self::ClientTls> {
        let connector = tokio_rustls::TlsConnector::from(config);
        Ok(connector.connect(name, plain.into_inner()).await?.compat())
    }
}

mailproto_engine::runtime_types!(Tokio, "tokio");
