//! The accept loop shared by the SMTP and POP3 servers: one thread per connection, a
//! maximum number of concurrent connections, and graceful shutdown (stop accepting, let
//! sessions finish up to a deadline, then close what is left).

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::ListenerOptions;

/// The sessions running, to wait for them or close them at shutdown.
#[derive(Debug, Default)]
struct Sessions {
    open: Mutex<HashMap<u64, TcpStream>>,
    changed: Condvar,
    next_id: AtomicU64,
}

/// Stops a running [`Listener::serve`] loop from another thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Stop accepting; `serve` then waits for the sessions (up to the grace period) and
    /// returns.
    pub fn shutdown(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            // Wake the blocking accept with a connection of our own.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        }
    }

    /// Whether shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A bound listening socket.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    options: ListenerOptions,
    stop: Arc<AtomicBool>,
    sessions: Arc<Sessions>,
}

impl Listener {
    /// Bind `addr` (use port 0 for any free port).
    pub fn bind(addr: impl ToSocketAddrs, options: ListenerOptions) -> io::Result<Self> {
        Ok(Listener {
            tcp: TcpListener::bind(addr)?,
            options,
            stop: Arc::new(AtomicBool::new(false)),
            sessions: Arc::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// A handle that stops [`Listener::serve`].
    pub fn shutdown_handle(&self) -> io::Result<ShutdownHandle> {
        let mut addr = self.tcp.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(ShutdownHandle {
            stop: self.stop.clone(),
            addr,
        })
    }

    /// Accept connections until shut down, running `session` on a thread for each; a
    /// connection over the limit is handed to `busy` instead (which should answer with the
    /// protocol's temporary-failure reply and return).
    pub fn serve<S, B>(self, session: S, busy: B) -> io::Result<()>
    where
        S: Fn(TcpStream) + Send + Sync + 'static,
        B: Fn(TcpStream) + Send + Sync + 'static,
    {
        let session = Arc::new(session);
        let busy = Arc::new(busy);
        for conn in self.tcp.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let tcp = match conn {
                Ok(tcp) => tcp,
                // Running out of descriptors or a reset before accept: keep serving.
                Err(_) => continue,
            };
            let open = self.sessions.open.lock().map(|m| m.len()).unwrap_or(0);
            if open >= self.options.max_connections {
                let busy = busy.clone();
                let _ = thread::Builder::new().spawn(move || busy(tcp));
                continue;
            }
            let id = self.sessions.next_id.fetch_add(1, Ordering::Relaxed);
            if let (Ok(clone), Ok(mut open)) = (tcp.try_clone(), self.sessions.open.lock()) {
                open.insert(id, clone);
            }
            let sessions = self.sessions.clone();
            let session = session.clone();
            let spawned = thread::Builder::new().spawn(move || {
                session(tcp);
                if let Ok(mut open) = sessions.open.lock() {
                    open.remove(&id);
                }
                sessions.changed.notify_all();
            });
            if spawned.is_err()
                && let Ok(mut open) = self.sessions.open.lock()
                && let Some(tcp) = open.remove(&id)
            {
                let _ = tcp.shutdown(Shutdown::Both);
            }
        }
        self.drain();
        Ok(())
    }

    /// Wait for the sessions up to the grace period, then close the rest.
    fn drain(&self) {
        let deadline = Instant::now() + self.options.shutdown_grace;
        let Ok(mut open) = self.sessions.open.lock() else {
            return;
        };
        while !open.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                for tcp in open.values() {
                    let _ = tcp.shutdown(Shutdown::Both);
                }
                break;
            }
            match self.sessions.changed.wait_timeout(open, deadline - now) {
                Ok((guard, _)) => open = guard,
                Err(_) => return,
            }
        }
    }
}
