//! The async accept loop shared by the SMTP and POP3 servers: one task per connection, a
//! maximum number of concurrent connections, and graceful shutdown (stop accepting, let
//! sessions finish up to a deadline, then close what is left).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_lite::future;
use mailproto_engine::ListenerOptions;
use smol::channel::{Receiver, Sender};
use smol::net::{AsyncToSocketAddrs, TcpListener, TcpStream};

/// Stops a running [`Listener::serve`] loop.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Sender<()>,
}

impl ShutdownHandle {
    /// Stop accepting; `serve` then waits for the sessions (up to the grace period) and
    /// returns.
    pub fn shutdown(&self) {
        self.stop.close();
    }
}

/// A bound listening socket.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    options: ListenerOptions,
    stop: (Sender<()>, Receiver<()>),
}

impl Listener {
    /// Bind `addr` (use port 0 for any free port).
    pub async fn bind(addr: impl AsyncToSocketAddrs, options: ListenerOptions) -> io::Result<Self> {
        Ok(Listener {
            tcp: TcpListener::bind(addr).await?,
            options,
            stop: smol::channel::bounded(1),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// A handle that stops [`Listener::serve`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.0.clone(),
        }
    }

    /// Accept connections until shut down, spawning `session` for each on the global
    /// executor; a connection over the limit is handed to `busy` instead (which should
    /// answer with the protocol's temporary-failure reply).
    pub async fn serve<S, SF, B, BF>(self, session: S, busy: B) -> io::Result<()>
    where
        S: Fn(TcpStream) -> SF,
        SF: Future<Output = ()> + Send + 'static,
        B: Fn(TcpStream) -> BF,
        BF: Future<Output = ()> + Send + 'static,
    {
        let open: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        let next_id = AtomicU64::new(0);
        // Every session holds a sender; the channel closes when the last one ends.
        let (alive, all_done) = smol::channel::bounded::<()>(1);
        loop {
            let accept = async { Some(self.tcp.accept().await) };
            let stopped = async {
                let _ = self.stop.1.recv().await;
                None
            };
            let Some(conn) = future::or(accept, stopped).await else {
                break;
            };
            let Ok((tcp, _peer)) = conn else {
                continue;
            };
            let count = open.lock().map(|m| m.len()).unwrap_or(0);
            if count >= self.options.max_connections {
                smol::spawn(busy(tcp)).detach();
                continue;
            }
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut map) = open.lock() {
                map.insert(id, tcp.clone());
            }
            let open = open.clone();
            let alive = alive.clone();
            let fut = session(tcp);
            smol::spawn(async move {
                fut.await;
                if let Ok(mut map) = open.lock() {
                    map.remove(&id);
                }
                drop(alive);
            })
            .detach();
        }
        drop(alive);
        let drained = async {
            let _ = all_done.recv().await;
            true
        };
        let grace = async {
            smol::Timer::after(self.options.shutdown_grace).await;
            false
        };
        if !future::or(drained, grace).await
            && let Ok(map) = open.lock()
        {
            for tcp in map.values() {
                let _ = tcp.shutdown(Shutdown::Both);
            }
        }
        Ok(())
    }
}
