//! The async SMTP transport, for every runtime: configured once, cloned and shared
//! between tasks, sending each message over a pooled session (the pool's rules and retry
//! safety are in [`crate::transport`]).

use std::sync::Arc;

use super::{Runtime, SmtpClient, Tls};
use crate::Error;
use crate::message::Message;
use crate::smtp_client::SendReport;
use crate::transport::{
    AsyncTransport, Shared, SmtpConfig, Take, UrlError, outcome_unknown, retry_safe,
};

type Client<R> = SmtpClient<R, <R as Runtime>::Tcp>;

/// An async SMTP transport to one relay with a pool of sessions, on runtime `R`. Cheap
/// to clone: clones share the pool.
pub struct SmtpTransport<R: Runtime + Tls<<R as Runtime>::Tcp>> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime + Tls<<R as Runtime>::Tcp>> Clone for SmtpTransport<R> {
    fn clone(&self) -> Self {
        SmtpTransport {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime + Tls<<R as Runtime>::Tcp>> std::fmt::Debug for SmtpTransport<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("config", self.inner.shared.config())
            .finish_non_exhaustive()
    }
}

struct Inner<R: Runtime + Tls<<R as Runtime>::Tcp>> {
    shared: Shared<Client<R>>,
    runtime: R,
    /// One token per session given back or gone: wakes a send waiting for a session.
    freed: (async_channel::Sender<()>, async_channel::Receiver<()>),
}

struct Lease<R: Runtime + Tls<<R as Runtime>::Tcp>> {
    client: Client<R>,
    sent: usize,
    reused: bool,
}

impl<R: Runtime + Tls<<R as Runtime>::Tcp>> SmtpTransport<R> {
    /// A transport sending through the relay `config` names, on the default runtime.
    pub fn new(config: SmtpConfig) -> Self {
        Self::on(R::default(), config)
    }

    /// A transport on `runtime` (timers and connections).
    pub fn on(runtime: R, config: SmtpConfig) -> Self {
        SmtpTransport {
            inner: Arc::new(Inner {
                shared: Shared::new(config),
                runtime,
                freed: async_channel::unbounded(),
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

    /// End the idle sessions (QUIT).
    pub async fn close_idle(&self) {
        let idle = self.inner.shared.lock().drain();
        quit_all(idle).await;
    }

    async fn checkout(&self, fresh: bool) -> Result<Lease<R>, Error> {
        let shared = &self.inner.shared;
        let until = std::time::Instant::now() + shared.config().pool.wait;
        loop {
            let (take, expired) = {
                let mut pool = shared.lock();
                shared.take(&mut pool, fresh)
            };
            quit_all(expired).await;
            match take {
                Take::Reuse(r) => {
                    let mut client = r.session;
                    let usable =
                        client.is_usable().await && (!r.check || client.reset().await.is_ok());
                    if usable {
                        return Ok(Lease {
                            client,
                            sent: r.sent,
                            reused: true,
                        });
                    }
                    self.gone();
                }
                Take::Open => {
                    return match Client::<R>::connect_with(shared.config()).await {
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
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(Error::Timeout);
                    }
                    let freed = self.inner.freed.1.recv();
                    let timer = self.inner.runtime.sleep(left);
                    futures_lite::future::or(async { freed.await.is_ok() }, async {
                        timer.await;
                        false
                    })
                    .await;
                }
            }
        }
    }

    async fn checkin(&self, mut lease: Lease<R>) {
        if !lease.client.is_usable().await {
            return self.gone();
        }
        let extra = self.inner.shared.put(lease.client, lease.sent);
        let _ = self.inner.freed.0.try_send(());
        if let Some(client) = extra {
            let _ = client.quit().await;
        }
    }

    fn gone(&self) {
        self.inner.shared.lock().gone();
        let _ = self.inner.freed.0.try_send(());
    }

    /// Send over a pooled session. A failure before the end of data on a reused session
    /// is tried once more on a new one; a failure after it is
    /// [`Error::OutcomeUnknown`] and never re-sent.
    pub async fn send(&self, message: &Message) -> Result<SendReport, Error> {
        let mut retried = false;
        loop {
            let mut lease = self.checkout(retried).await?;
            let result = lease.client.send_message(message).await;
            let data_ended = lease.client.data_ended();
            lease.sent += 1;
            let reused = lease.reused;
            self.checkin(lease).await;
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

async fn quit_all<R: Runtime + Tls<<R as Runtime>::Tcp>>(sessions: Vec<Client<R>>) {
    for client in sessions {
        let _ = client.quit().await;
    }
}

impl<R: Runtime + Tls<<R as Runtime>::Tcp>> AsyncTransport for SmtpTransport<R> {
    fn send(&self, message: &Message) -> impl Future<Output = Result<SendReport, Error>> + Send {
        SmtpTransport::send(self, message)
    }
}
