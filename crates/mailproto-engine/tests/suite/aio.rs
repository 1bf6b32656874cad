//! The suite's [`Adapter`] for every async runtime: the engine's async servers and
//! clients (`engine::aio`) on the runtime an [`Executor`] names, the blocking test
//! handlers and backends run through `Offload` (the gated ones are async). Servers run on a thread
//! of their own with a single-threaded executor, so a session that blocked its thread
//! would hold up every other one.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use mailproto_core::pop3::server::ServerConfig;
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;
use mailproto_core::smtp::server::ServerConfig as SmtpConfig;
use mailproto_core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_engine::aio::{
    Listener, Pop3Client, Pop3Server, Runtime, ShutdownHandle, SmtpClient, SmtpServer, Tls,
};
use mailproto_engine::pop3_client::Pop3Options;
use mailproto_engine::pop3_server::OffloadBackend;
use mailproto_engine::smtp_client::{Envelope, SendReport, SmtpOptions};
use mailproto_engine::smtp_server::Offload;
use mailproto_engine::tls::SelfSigned;
use mailproto_engine::{Error, ListenerOptions, Tap};

use super::waiting::{AsyncGated, Gate};
use super::{Adapter, MemBackend, MemSink, Pop3Ops, Running, SmtpOps, Stored};

/// A server's future, made on its own thread.
pub type ServerFuture = Pin<Box<dyn Future<Output = std::io::Result<()>>>>;

/// What an async adapter's test gives: its runtime, a way to wait for a client future,
/// and a way to run a server on a thread of its own.
pub trait Executor: 'static {
    /// The runtime.
    type R: Runtime + Tls<<Self::R as Runtime>::Tcp>;
    /// For messages.
    const NAME: &'static str;
    /// Run a client future to its end.
    fn block_on<T>(fut: impl Future<Output = T>) -> T;
    /// On a new thread, make a runtime value whose sessions run on one single-threaded
    /// executor there, and run `start(runtime)` on it to its end.
    fn serve(start: Box<dyn FnOnce(Self::R) -> ServerFuture + Send>) -> thread::JoinHandle<()>;
}

/// The suite's adapter for the engine's async side on `E`'s runtime.
pub struct Aio<E>(PhantomData<E>);

/// Bind on `E`'s server thread, run `run(listener)` there; stopped by the returned
/// [`Running`].
fn start<E: Executor, F>(options: ListenerOptions, run: F) -> Running
where
    F: FnOnce(Listener<E::R>) -> ServerFuture + Send + 'static,
{
    let (bound, on_bound) = mpsc::channel::<(std::net::SocketAddr, ShutdownHandle)>();
    let thread = E::serve(Box::new(move |runtime| {
        Box::pin(async move {
            let listener = Listener::bind_on(runtime, "127.0.0.1:0", options).await?;
            let _ = bound.send((listener.local_addr()?, listener.shutdown_handle()));
            run(listener).await
        })
    }));
    let (addr, handle) = on_bound.recv().expect("the server bound its port");
    Running::on_thread(addr, move || handle.shutdown(), thread)
}

/// An async sink that appends to the last message of a shared list.
struct Collect(Arc<Mutex<Vec<Vec<u8>>>>);

impl futures_lite::AsyncWrite for Collect {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut got = self.0.lock().unwrap();
        got.last_mut().expect("opened").extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The async POP3 client behind the suite's blocking interface.
pub struct AioPop3<E: Executor>(Pop3Client<E::R, <E::R as Runtime>::Tcp>);

impl<E: Executor> Pop3Ops for AioPop3<E> {
    fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        E::block_on(self.0.login(user, &Secret::from(password)))
    }
    fn apop(&mut self, user: &str, secret: &str) -> Result<(), Error> {
        E::block_on(self.0.apop(user, &Secret::from(secret)))
    }
    fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), Error> {
        let creds = ClientCredentials::password(user, password);
        E::block_on(self.0.auth(Some(Mechanism::Plain), creds))
    }
    fn stat(&mut self) -> Result<(u32, u64), Error> {
        E::block_on(self.0.stat())
    }
    fn list(&mut self) -> Result<Vec<(u32, u64)>, Error> {
        Ok(E::block_on(self.0.list())?
            .into_iter()
            .map(|s| (s.msg, s.size))
            .collect())
    }
    fn uidl(&mut self) -> Result<Vec<(u32, String)>, Error> {
        Ok(E::block_on(self.0.uidl())?
            .into_iter()
            .map(|u| (u.msg, u.uid.as_str().to_string()))
            .collect())
    }
    fn retr(&mut self, msg: u32) -> Result<Vec<u8>, Error> {
        let mut out = futures_lite::io::Cursor::new(Vec::new());
        E::block_on(self.0.retr(msg, &mut out))?;
        Ok(out.into_inner())
    }
    fn top(&mut self, msg: u32, lines: u32) -> Result<Vec<u8>, Error> {
        let mut out = futures_lite::io::Cursor::new(Vec::new());
        E::block_on(self.0.top(msg, lines, &mut out))?;
        Ok(out.into_inner())
    }
    fn retr_many(&mut self, msgs: &[u32]) -> Result<Vec<Vec<u8>>, Error> {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        E::block_on(self.0.retr_many(msgs, |_| {
            sink.lock().unwrap().push(Vec::new());
            Ok(Collect(sink.clone()))
        }))?;
        Ok(std::mem::take(&mut *got.lock().unwrap()))
    }
    fn dele(&mut self, msg: u32) -> Result<(), Error> {
        E::block_on(self.0.dele(msg))
    }
    fn rset(&mut self) -> Result<(), Error> {
        E::block_on(self.0.rset())
    }
    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.0.peer_addr()
    }
    fn quit(self: Box<Self>) -> Result<(), Error> {
        E::block_on(self.0.quit())
    }
}

/// The async SMTP client behind the suite's blocking interface.
pub struct AioSmtp<E: Executor>(SmtpClient<E::R, <E::R as Runtime>::Tcp>);

fn envelope(from: &str, to: &[&str]) -> Envelope {
    let from = ReversePath::Mailbox(from.parse::<Mailbox>().unwrap());
    Envelope::new(
        from,
        to.iter().map(|t| ForwardPath::Mailbox(t.parse().unwrap())),
    )
}

impl<E: Executor> SmtpOps for AioSmtp<E> {
    fn authenticate(
        &mut self,
        mechanism: Option<Mechanism>,
        user: &str,
        password: &str,
    ) -> Result<(), Error> {
        E::block_on(
            self.0
                .authenticate(mechanism, ClientCredentials::password(user, password)),
        )
    }
    fn authenticate_forced(
        &mut self,
        mechanism: Mechanism,
        user: &str,
        password: &str,
    ) -> Result<(), Error> {
        let creds = ClientCredentials::password(user, password);
        E::block_on(self.0.authenticate_forced(mechanism, creds))
    }
    fn send(&mut self, from: &str, to: &[&str], body: &[u8]) -> Result<SendReport, Error> {
        E::block_on(
            self.0
                .send(envelope(from, to), &mut futures_lite::io::Cursor::new(body)),
        )
    }
    fn reset(&mut self) -> Result<(), Error> {
        E::block_on(self.0.reset())
    }
    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.0.peer_addr()
    }
    fn quit(self: Box<Self>) -> Result<(), Error> {
        E::block_on(self.0.quit())
    }
}

impl<E: Executor> Adapter for Aio<E> {
    const NAME: &'static str = E::NAME;

    fn pop3_server_with(
        backend: MemBackend,
        config: ServerConfig,
        cert: &SelfSigned,
        implicit_tls: bool,
        options: ListenerOptions,
    ) -> Running {
        let tls = cert.server_config().unwrap();
        start::<E, _>(options, move |listener| {
            let server = Pop3Server::<E::R, _>::new(OffloadBackend::new(backend), config)
                .with_runtime(listener.runtime().clone())
                .with_tls(tls);
            Box::pin(server.run(listener, implicit_tls))
        })
    }

    fn pop3_connect_tapped(
        port: u16,
        options: Pop3Options,
        tap: Option<Tap>,
    ) -> Result<Box<dyn Pop3Ops>, Error> {
        let client = E::block_on(Pop3Client::<E::R, _>::connect_tapped(
            "127.0.0.1",
            port,
            options,
            tap,
        ))?;
        Ok(Box::new(AioPop3::<E>(client)))
    }

    fn smtp_server_with(
        config: SmtpConfig,
        store: Arc<Mutex<Vec<Stored>>>,
        cert: &SelfSigned,
        implicit_tls: bool,
        options: ListenerOptions,
    ) -> Running {
        let tls = cert.server_config().unwrap();
        start::<E, _>(options, move |listener| {
            let server = SmtpServer::<E::R, _, _>::new(config, move |peer| {
                Offload::new(MemSink::new(store.clone(), "alice", "wonderland").with_peer(peer))
            })
            .with_runtime(listener.runtime().clone())
            .with_tls(tls);
            Box::pin(server.run(listener, implicit_tls))
        })
    }

    fn smtp_gated_server(config: SmtpConfig, gate: Gate) -> Running {
        start::<E, _>(ListenerOptions::default(), move |listener| {
            let server =
                SmtpServer::<E::R, _, _>::new(config, move |_peer| AsyncGated::new(gate.clone()))
                    .with_runtime(listener.runtime().clone());
            Box::pin(server.run(listener, false))
        })
    }

    fn smtp_transport(
        config: mailproto_engine::transport::SmtpConfig,
    ) -> Box<dyn super::transport::TransportOps> {
        Box::new(AioTransport::<E>(
            mailproto_engine::aio::SmtpTransport::new(config),
        ))
    }

    fn smtp_connect_tapped(
        port: u16,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Box<dyn SmtpOps>, Error> {
        let client = E::block_on(SmtpClient::<E::R, _>::connect_tapped(
            "127.0.0.1",
            port,
            options,
            tap,
        ))?;
        Ok(Box::new(AioSmtp::<E>(client)))
    }
}

/// A runtime whose first accepts fail (as with EMFILE) and whose sleeps after those
/// failures are virtual: they complete at once and are recorded, so the test sees the
/// listener's waits without waiting them.
#[derive(Clone, Default)]
struct Faulty<R> {
    inner: R,
    failures: Arc<std::sync::atomic::AtomicUsize>,
    /// Set by a failed accept, taken by the sleep that follows it.
    failed: Arc<std::sync::atomic::AtomicBool>,
    waits: Arc<Mutex<Vec<std::time::Duration>>>,
}

impl<R: Runtime> Runtime for Faulty<R> {
    type Tcp = R::Tcp;
    type TcpListener = R::TcpListener;

    fn sleep(&self, duration: std::time::Duration) -> impl Future<Output = ()> + Send {
        use std::sync::atomic::Ordering;
        let virtual_wait = self.failed.swap(false, Ordering::SeqCst);
        if virtual_wait {
            self.waits.lock().unwrap().push(duration);
        }
        let real = self.inner.sleep(duration);
        async move {
            if !virtual_wait {
                real.await;
            }
        }
    }
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.inner.spawn(task)
    }
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = std::io::Result<Vec<std::net::SocketAddr>>> + Send {
        self.inner.resolve(host, port)
    }
    fn connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> impl Future<Output = std::io::Result<Self::Tcp>> + Send {
        self.inner.connect(addr)
    }
    fn bind(
        &self,
        addr: std::net::SocketAddr,
    ) -> impl Future<Output = std::io::Result<Self::TcpListener>> + Send {
        self.inner.bind(addr)
    }
    fn local_addr(listener: &Self::TcpListener) -> std::io::Result<std::net::SocketAddr> {
        R::local_addr(listener)
    }
    async fn accept(
        &self,
        listener: &Self::TcpListener,
    ) -> std::io::Result<(Self::Tcp, std::net::SocketAddr)> {
        use std::sync::atomic::Ordering;
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            self.failed.store(true, Ordering::SeqCst);
            // EMFILE.
            return Err(std::io::Error::from_raw_os_error(24));
        }
        self.inner.accept(listener).await
    }
    fn peer_addr(tcp: &Self::Tcp) -> std::io::Result<std::net::SocketAddr> {
        R::peer_addr(tcp)
    }
    fn tune(tcp: &Self::Tcp) {
        R::tune(tcp)
    }
}

/// Accept errors (EMFILE, injected twelve times in a row) make the accept loop wait,
/// 5 ms doubling up to 1 s, on the runtime's clock, instead of spinning; then it serves
/// the next connection.
pub fn accept_errors_back_off<E: Executor>() {
    use futures_lite::AsyncWriteExt;
    let waits = Arc::new(Mutex::new(Vec::new()));
    let recorded = waits.clone();
    let (bound, on_bound) = mpsc::channel::<(std::net::SocketAddr, ShutdownHandle)>();
    let thread = E::serve(Box::new(move |runtime| {
        Box::pin(async move {
            let faulty = Faulty {
                inner: runtime,
                failures: Arc::new(12.into()),
                failed: Arc::default(),
                waits: recorded,
            };
            let listener =
                Listener::bind_on(faulty, "127.0.0.1:0", ListenerOptions::default()).await?;
            let _ = bound.send((listener.local_addr()?, listener.shutdown_handle()));
            listener
                .serve(
                    |mut tcp, _client, _closing| async move {
                        let _ = tcp.write_all(b"hello\r\n").await;
                        let _ = tcp.flush().await;
                    },
                    |_tcp, _refused| async {},
                )
                .await
        })
    }));
    let (addr, handle) = on_bound.recv().expect("bound");
    let running = Running::on_thread(addr, move || handle.shutdown(), thread);
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(tcp), &mut line).unwrap();
    assert_eq!(line, "hello\r\n", "served after the errors");
    let ms: Vec<u128> = waits
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.as_millis())
        .collect();
    assert_eq!(
        ms,
        [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000],
        "one growing wait per error"
    );
    drop(running);
}

impl<E: Executor> Aio<E> {
    /// [`accept_errors_back_off`] on `E`.
    pub fn accept_errors_back_off() {
        accept_errors_back_off::<E>()
    }
}

/// The async transport, driven through `E`'s executor.
struct AioTransport<E: Executor>(mailproto_engine::aio::SmtpTransport<E::R>);

impl<E: Executor> super::transport::TransportOps for AioTransport<E>
where
    mailproto_engine::aio::SmtpTransport<E::R>: Send + Sync,
{
    fn send(
        &self,
        message: &mailproto_engine::message::Message,
    ) -> Result<mailproto_engine::smtp_client::SendReport, Error> {
        E::block_on(self.0.send(message))
    }

    fn sessions(&self) -> (usize, usize) {
        self.0.sessions()
    }
}
