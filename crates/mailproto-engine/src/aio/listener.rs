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

use super::{Closing, Runtime};
use crate::{Connections, ListenerOptions};

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

/// The first wait after an accept error, doubled on each error in a row.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
/// The longest wait after accept errors in a row.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

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

    /// Accept connections until shut down, spawning `session` for each; a connection
    /// over the limit is handed to `busy` instead (which should answer with the
    /// protocol's temporary-failure reply). Each session gets a [`Closing`] that closes
    /// when the grace period is over: it then says goodbye and ends (within [`GOODBYE`],
    /// or it is dropped).
    pub async fn serve<S, SF, B, BF>(self, session: S, busy: B) -> io::Result<()>
    where
        S: Fn(R::Tcp, SocketAddr, Closing) -> SF,
        SF: Future<Output = ()> + Send + 'static,
        B: Fn(R::Tcp) -> BF,
        BF: Future<Output = ()> + Send + 'static,
    {
        let connections = Connections::new(self.options.clone());
        // Every session holds a sender; the channel closes when the last one ends.
        let (alive, all_done) = async_channel::bounded::<()>(1);
        // Closed when the grace period is over: the sessions still running say goodbye.
        let (closing, told) = async_channel::bounded::<()>(1);
        // Closed when the goodbye period is over: the sessions still running are dropped.
        let (kill, killed) = async_channel::bounded::<()>(1);
        let mut backoff = ACCEPT_BACKOFF;
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
                    backoff = ACCEPT_BACKOFF;
                    conn
                }
                Err(_) => {
                    // Out of descriptors (EMFILE/ENFILE) or memory: accepting again at
                    // once would fail again and spin; wait, longer each time in a row.
                    let wait = async {
                        self.runtime.sleep(backoff).await;
                        true
                    };
                    let stopped = async {
                        let _ = self.stop.1.recv().await;
                        false
                    };
                    if !future::or(wait, stopped).await {
                        break;
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            R::tune(&tcp);
            let Some(admitted) = connections.admit(peer.ip()) else {
                self.runtime.spawn(busy(tcp));
                continue;
            };
            let alive = alive.clone();
            let killed = killed.clone();
            let fut = session(tcp, peer, told.clone());
            self.runtime.spawn(async move {
                future::or(fut, async {
                    let _ = killed.recv().await;
                })
                .await;
                drop(admitted);
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
