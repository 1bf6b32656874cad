//! The async accept loop shared by the SMTP and POP3 servers of every async runtime: one
//! task per connection, a maximum number of concurrent connections in total and per
//! client address (the busy reply costs a short task, no session), back-off on accept errors, and graceful shutdown (stop
//! accepting, let sessions finish up to a deadline, then close what is left).

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures_lite::future;

use std::sync::Arc;

use super::{Closing, Runtime};
use crate::listener::{Backoff, ProxyClient, proxy_client, proxy_wanted, refuse};
use crate::{Admitted, Connections, ListenerOptions, Refused};

/// Stops a running [`Listener::serve`] loop.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Sender<()>,
}

impl ShutdownHandle {
    /// Stop accepting; `serve` then waits for the sessions (up to the grace period),
    /// closes the ones still running, and returns.
    pub fn shutdown(&self) {
        self.stop.close();
    }
}

/// A bound listening socket on the runtime `R`.
pub struct Listener<R: Runtime> {
    runtime: R,
    tcp: R::TcpListener,
    options: ListenerOptions,
    stop: (Sender<()>, Receiver<()>),
}

impl<R: Runtime> std::fmt::Debug for Listener<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &R::local_addr(&self.tcp).ok())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How long sessions told to close (at the end of the grace period) have to say the
/// protocol's goodbye before they are dropped.
pub const GOODBYE: Duration = Duration::from_secs(5);

impl<R: Runtime> Listener<R> {
    /// Bind `addr` (use port 0 for any free port) on the runtime's default executor.
    pub async fn bind(addr: impl ToSocketAddrs, options: ListenerOptions) -> io::Result<Self> {
        Self::bind_on(R::default(), addr, options).await
    }

    /// Bind `addr`; sessions run on `runtime` (an executor of the caller's). A host name
    /// in `addr` is looked up once, here, blocking.
    pub async fn bind_on(
        runtime: R,
        addr: impl ToSocketAddrs,
        options: ListenerOptions,
    ) -> io::Result<Self> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match runtime.bind(addr).await {
                Ok(tcp) => {
                    return Ok(Listener {
                        runtime,
                        tcp,
                        options,
                        stop: async_channel::bounded(1),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        R::local_addr(&self.tcp)
    }

    /// The runtime the sessions run on.
    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// A handle that stops [`Listener::serve`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.0.clone(),
        }
    }

    /// Accept connections until shut down, spawning `session` for each with its
    /// [`Admitted`] client; a connection over a limit is handed to `busy` instead with
    /// the reason (it should answer with the protocol's temporary-failure reply). Behind
    /// a PROXY-protocol listener the header is read first, in the connection's own task,
    /// within its deadline. Each session gets a [`Closing`] that closes when the grace
    /// period is over: it then says goodbye and ends (within [`GOODBYE`], or it is
    /// dropped).
    pub async fn serve<S, SF, B, BF>(self, session: S, busy: B) -> io::Result<()>
    where
        S: Fn(R::Tcp, Admitted, Closing) -> SF + Send + Sync + 'static,
        SF: Future<Output = ()> + Send + 'static,
        B: Fn(R::Tcp, Refused) -> BF + Send + Sync + 'static,
        BF: Future<Output = ()> + Send + 'static,
    {
        let connections = Connections::new(self.options.clone());
        let session = Arc::new(session);
        let busy = Arc::new(busy);
        // Every session holds a sender; the channel closes when the last one ends.
        let (alive, all_done) = async_channel::bounded::<()>(1);
        // Closed when the grace period is over: the sessions still running say goodbye.
        let (closing, told) = async_channel::bounded::<()>(1);
        // Closed when the goodbye period is over: the sessions still running are dropped.
        let (kill, killed) = async_channel::bounded::<()>(1);
        let mut backoff = Backoff::default();
        loop {
            let accept = async { Some(self.runtime.accept(&self.tcp).await) };
            let stopped = async {
                let _ = self.stop.1.recv().await;
                None
            };
            let Some(conn) = future::or(accept, stopped).await else {
                break;
            };
            let (tcp, peer) = match conn {
                Ok(conn) => {
                    backoff.reset();
                    conn
                }
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or memory: accepting again at
                    // once would fail again and spin; wait, longer each time in a row.
                    let delay = backoff.next();
                    tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "accept failed; backing off");
                    let wait = async {
                        self.runtime.sleep(delay).await;
                        true
                    };
                    let stopped = async {
                        let _ = self.stop.1.recv().await;
                        false
                    };
                    if !future::or(wait, stopped).await {
                        break;
                    }
                    continue;
                }
            };
            R::tune(&tcp);
            let slot = match connections.reserve() {
                Ok(slot) => slot,
                Err(refused) => {
                    refuse(peer, refused);
                    self.runtime.spawn(busy(tcp, refused));
                    continue;
                }
            };
            let proxy = self.options.proxy.clone();
            let (session, busy) = (session.clone(), busy.clone());
            let (alive, killed, told) = (alive.clone(), killed.clone(), told.clone());
            let runtime = self.runtime.clone();
            self.runtime.spawn(async move {
                let mut tcp = tcp;
                let admitted = match proxy {
                    None => slot.admit(peer),
                    Some(proxy) if !proxy.trusts(peer.ip()) => {
                        drop(slot);
                        Err(Refused::Untrusted)
                    }
                    Some(proxy) => {
                        let header = read_proxy(&mut tcp);
                        let deadline = async {
                            runtime.sleep(proxy.header_timeout).await;
                            Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "no PROXY header in time",
                            ))
                        };
                        match future::or(header, deadline).await {
                            Ok(client) => {
                                let source = client.source.unwrap_or(peer);
                                slot.admit(source).map(|mut a| {
                                    a.set_tls_by_proxy(client.tls);
                                    a
                                })
                            }
                            Err(e) => {
                                tracing::info!(proxy = %peer, error = %e, "PROXY header refused");
                                return;
                            }
                        }
                    }
                };
                let admitted = match admitted {
                    Ok(a) => a,
                    Err(refused) => {
                        refuse(peer, refused);
                        busy(tcp, refused).await;
                        return;
                    }
                };
                let fut = session(tcp, admitted, told);
                future::or(fut, async {
                    let _ = killed.recv().await;
                })
                .await;
                drop(alive);
            });
        }
        drop(alive);
        let drained = async {
            let _ = all_done.recv().await;
            true
        };
        let grace = async {
            self.runtime.sleep(self.options.shutdown_grace).await;
            false
        };
        if future::or(drained, grace).await {
            return Ok(());
        }
        closing.close();
        let drained = async {
            let _ = all_done.recv().await;
            true
        };
        let goodbye = async {
            self.runtime.sleep(GOODBYE).await;
            false
        };
        if !future::or(drained, goodbye).await {
            // Dropping the sessions still running closes their connections.
            kill.close();
            let _ = all_done.recv().await;
        }
        Ok(())
    }
}

/// Read a PROXY header, not one octet past it.
async fn read_proxy<T: futures_lite::AsyncRead + Unpin>(tcp: &mut T) -> io::Result<ProxyClient> {
    use futures_lite::AsyncReadExt;
    let mut buf = Vec::new();
    loop {
        let want = proxy_wanted(&buf);
        let start = buf.len();
        buf.resize(start + want, 0);
        tcp.read_exact(&mut buf[start..]).await?;
        match proxy_client(&buf) {
            Ok(Some(client)) => return Ok(client),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
}
