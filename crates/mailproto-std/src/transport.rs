//! The blocking SMTP transport: configured once ([`SmtpConfig`], a URL), cloned and
//! shared between threads, sending each message over a pooled session (see
//! [`mailproto_engine::transport`] for the pool's rules and retry safety).

use std::sync::{Arc, Condvar, MutexGuard};

pub use mailproto_engine::transport::*;

use crate::Error;
use crate::smtp_client::{SendReport, SmtpClient};
use mailproto_engine::message::Message;

/// A blocking SMTP transport to one relay with a pool of sessions. Cheap to clone:
/// clones share the pool.
#[derive(Debug, Clone)]
pub struct SmtpTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Shared<SmtpClient>,
    /// Signalled when a session is given back or gone.
    freed: Condvar,
}

/// A session taken from the pool for one message.
struct Lease {
    client: SmtpClient,
    sent: usize,
    reused: bool,
}

impl SmtpTransport {
    /// A transport sending through the relay `config` names.
    pub fn new(config: SmtpConfig) -> Self {
        SmtpTransport {
            inner: Arc::new(Inner {
                shared: Shared::new(config),
                freed: Condvar::new(),
            }),
        }
    }

    /// A transport from a URL ([`SmtpConfig::from_url`]).
    pub fn from_url(url: &str) -> Result<Self, UrlError> {
        Ok(Self::new(SmtpConfig::from_url(url)?))
    }

    /// The configuration.
    pub fn config(&self) -> &SmtpConfig {
        self.inner.shared.config()
    }

    /// Sessions open now (busy or idle) and idle.
    pub fn sessions(&self) -> (usize, usize) {
        self.inner.shared.sessions()
    }

    /// End the idle sessions (QUIT); busy ones end when their message is done and the
    /// pool is full or expired.
    pub fn close_idle(&self) {
        let idle = self.lock().drain();
        for client in idle {
            let _ = client.quit();
        }
        self.inner.freed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Idle<SmtpClient>> {
        self.inner.shared.lock()
    }

    /// A session: an idle one that is still usable, or a new one; waits (bounded by
    /// [`PoolOptions::wait`]) while every session is busy.
    fn checkout(&self, fresh: bool) -> Result<Lease, Error> {
        let shared = &self.inner.shared;
        let until = std::time::Instant::now() + shared.config().pool.wait;
        let mut pool = self.lock();
        loop {
            let (take, expired) = shared.take(&mut pool, fresh);
            match take {
                Take::Reuse(r) => {
                    drop(pool);
                    quit_all(expired);
                    let mut client = r.session;
                    let usable = client.is_usable() && (!r.check || client.reset().is_ok());
                    if usable {
                        return Ok(Lease {
                            client,
                            sent: r.sent,
                            reused: true,
                        });
                    }
                    self.gone();
                    pool = self.lock();
                }
                Take::Open => {
                    drop(pool);
                    quit_all(expired);
                    return match SmtpClient::connect_with(shared.config()) {
                        Ok(client) => Ok(Lease {
                            client,
                            sent: 0,
                            reused: false,
                        }),
                        Err(e) => {
                            self.gone();
                            Err(e)
                        }
                    };
                }
                Take::Wait => {
                    quit_all(expired);
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    pool = self
                        .inner
                        .freed
                        .wait_timeout(pool, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// Give a session back after a message (or close it).
    fn checkin(&self, mut lease: Lease) {
        if !lease.client.is_usable() {
            return self.gone();
        }
        let extra = self.inner.shared.put(lease.client, lease.sent);
        self.inner.freed.notify_one();
        if let Some(client) = extra {
            let _ = client.quit();
        }
    }

    fn gone(&self) {
        self.lock().gone();
        self.inner.freed.notify_one();
    }
}

fn quit_all(sessions: Vec<SmtpClient>) {
    for client in sessions {
        let _ = client.quit();
    }
}

impl Transport for SmtpTransport {
    /// Send over a pooled session. A failure before the end of data on a reused session
    /// is tried once more on a new one; a failure after it is
    /// [`Error::OutcomeUnknown`] and never re-sent.
    fn send(&self, message: &Message) -> Result<SendReport, Error> {
        let mut retried = false;
        loop {
            let mut lease = self.checkout(retried)?;
            let result = lease.client.send_message(message);
            let data_ended = lease.client.data_ended();
            lease.sent += 1;
            let reused = lease.reused;
            self.checkin(lease);
            match result {
                Ok(report) => return Ok(report),
                Err(e) if reused && !retried && retry_safe(&e, data_ended) => {
                    tracing::debug!(error = %e, "pooled session failed before the data; retrying on a new one");
                    retried = true;
                }
                Err(e) => return Err(outcome_unknown(e, data_ended)),
            }
        }
    }
}
