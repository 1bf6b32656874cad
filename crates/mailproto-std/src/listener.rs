//! The accept loop shared by the SMTP and POP3 servers: one thread per connection, a
//! maximum number of concurrent connections in total and per client address, and graceful shutdown (stop accepting, let
//! sessions finish up to a deadline, then close what is left).

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::ListenerOptions;
use crate::driver::Closing;
use mailproto_engine::listener::{Backoff, refuse};
use mailproto_engine::{Admitted, Connections, Refused, Slot};

/// How long sessions told to close (at the end of the grace period) have to say the
/// protocol's goodbye before their sockets are shut.
pub const GOODBYE: Duration = Duration::from_secs(5);

/// The sessions running, to wait for them or close them at shutdown.
#[derive(Debug, Default)]
struct Sessions {
    open: Mutex<HashMap<u64, TcpStream>>,
    changed: Condvar,
    next_id: AtomicU64,
    /// Set at the end of the grace period: every session says goodbye.
    closing: Closing,
}

/// Stops a running [`Listener::serve`] loop from another thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Stop accepting; `serve` then waits for the sessions (up to the grace period),
    /// tells the ones still running to say goodbye, and returns.
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

/// A connection accepted and counted, its client known or still to be read from a
/// PROXY header.
enum Pending {
    Admitted(Admitted),
    Proxied(Slot, Duration),
}

impl Pending {
    /// The admitted client: read the PROXY header first if one is due (within its
    /// deadline, not one octet past it). `None` when the connection is to be dropped.
    fn admit(
        self,
        tcp: &TcpStream,
        peer: SocketAddr,
        busy: &dyn Fn(Refused) -> Vec<u8>,
    ) -> Option<Admitted> {
        let (slot, timeout) = match self {
            Pending::Admitted(admitted) => return Some(admitted),
            Pending::Proxied(slot, timeout) => (slot, timeout),
        };
        let _ = tcp.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
        let header = mailproto_engine::listener::read_proxy_blocking(&mut &*tcp);
        let _ = tcp.set_read_timeout(None);
        let client = match header {
            Ok(client) => client,
            Err(e) => {
                tracing::info!(proxy = %peer, error = %e, "PROXY header refused");
                return None;
            }
        };
        match slot.admit(client.source.unwrap_or(peer)) {
            Ok(mut admitted) => {
                admitted.set_tls_by_proxy(client.tls);
                Some(admitted)
            }
            Err(refused) => {
                let source = client.source.unwrap_or(peer);
                if let Ok(tcp) = tcp.try_clone() {
                    turn_away(tcp, source, refused, busy);
                }
                None
            }
        }
    }
}

/// Answer a connection turned away with the busy reply, without blocking (a reply this
/// short fits an empty socket buffer), and close it.
fn turn_away(
    tcp: TcpStream,
    peer: SocketAddr,
    refused: Refused,
    busy: &dyn Fn(Refused) -> Vec<u8>,
) {
    use std::io::Write;
    refuse(peer, refused);
    let _ = tcp.set_nonblocking(true);
    let _ = (&tcp).write(&busy(refused));
}

/// A bound listening socket.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    options: ListenerOptions,
    stop: Arc<AtomicBool>,
    sessions: Arc<Sessions>,
    /// Where [`ShutdownHandle::shutdown`] connects to wake the blocking accept.
    wake: SocketAddr,
}

impl Listener {
    /// Bind `addr` (use port 0 for any free port).
    pub fn bind(addr: impl ToSocketAddrs, options: ListenerOptions) -> io::Result<Self> {
        let tcp = TcpListener::bind(addr)?;
        let mut wake = tcp.local_addr()?;
        if wake.ip().is_unspecified() {
            wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(Listener {
            tcp,
            options,
            stop: Arc::new(AtomicBool::new(false)),
            sessions: Arc::default(),
            wake,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// A handle that stops [`Listener::serve`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
            addr: self.wake,
        }
    }

    /// Accept connections until shut down, running `session` on a thread for each with
    /// its [`Admitted`] client; a connection over a limit is answered by the accept
    /// loop itself with `busy`'s reply for the reason (written without blocking, no
    /// thread) and closed. Behind a PROXY-protocol listener the header is read first,
    /// on the session's thread, within its deadline. Each session gets a [`Closing`]
    /// set when the grace period is over: it then says goodbye and ends (within
    /// [`GOODBYE`], or its socket is shut).
    pub fn serve<S, B>(self, session: S, busy: B) -> io::Result<()>
    where
        S: Fn(TcpStream, Admitted, Closing) + Send + Sync + 'static,
        B: Fn(Refused) -> Vec<u8> + Send + Sync + 'static,
    {
        let session = Arc::new(session);
        let busy = Arc::new(busy);
        let mut backoff = Backoff::default();
        let connections = Connections::new(self.options.clone());
        for conn in self.tcp.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let tcp = match conn {
                Ok(tcp) => {
                    backoff.reset();
                    tcp
                }
                // Out of descriptors (EMFILE/ENFILE) or memory: accepting again at once
                // would fail again and spin; wait, longer each time in a row.
                Err(e) => {
                    let delay = backoff.next();
                    tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "accept failed; backing off");
                    thread::sleep(delay);
                    continue;
                }
            };
            let Ok(peer) = tcp.peer_addr() else {
                continue;
            };
            let slot = match connections.reserve() {
                Ok(slot) => slot,
                Err(refused) => {
                    turn_away(tcp, peer, refused, &*busy);
                    continue;
                }
            };
            let pending = match &self.options.proxy {
                None => match slot.admit(peer) {
                    Ok(admitted) => Pending::Admitted(admitted),
                    Err(refused) => {
                        turn_away(tcp, peer, refused, &*busy);
                        continue;
                    }
                },
                Some(proxy) if !proxy.trusts(peer.ip()) => {
                    drop(slot);
                    turn_away(tcp, peer, Refused::Untrusted, &*busy);
                    continue;
                }
                Some(proxy) => Pending::Proxied(slot, proxy.header_timeout),
            };
            let id = self.sessions.next_id.fetch_add(1, Ordering::Relaxed);
            if let (Ok(clone), Ok(mut open)) = (tcp.try_clone(), self.sessions.open.lock()) {
                open.insert(id, clone);
            }
            let sessions = self.sessions.clone();
            let (session, busy) = (session.clone(), busy.clone());
            let closing = self.sessions.closing.clone();
            let spawned = thread::Builder::new().spawn(move || {
                if let Some(admitted) = pending.admit(&tcp, peer, &*busy) {
                    session(tcp, admitted, closing);
                }
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

    /// Wait for the sessions up to the grace period; then tell the rest to say goodbye
    /// (waking their reads by shutting the reading side) and shut what is left after
    /// [`GOODBYE`].
    fn drain(&self) {
        if self.wait_sessions(self.options.shutdown_grace, Shutdown::Read) {
            return;
        }
        self.wait_sessions(GOODBYE, Shutdown::Both);
    }

    /// Wait up to `limit` for every session to end; whether they did. If not, the
    /// sessions are told to close and their sockets shut `how`.
    fn wait_sessions(&self, limit: Duration, how: Shutdown) -> bool {
        let deadline = Instant::now() + limit;
        let Ok(mut open) = self.sessions.open.lock() else {
            return true;
        };
        while !open.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                self.sessions.closing.store(true, Ordering::SeqCst);
                for tcp in open.values() {
                    let _ = tcp.shutdown(how);
                }
                return false;
            }
            match self.sessions.changed.wait_timeout(open, deadline - now) {
                Ok((guard, _)) => open = guard,
                Err(_) => return true,
            }
        }
        true
    }
}
