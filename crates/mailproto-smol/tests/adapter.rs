//! The shared adapter suite (the same file the blocking adapter runs), run against the
//! async adapter: every operation goes through `smol` tasks and async streams.
#![allow(missing_docs)]

#[path = "../../mailproto-engine/tests/suite/mod.rs"]
mod suite;

use std::thread;

use mailproto_core::pop3::server::ServerConfig;
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;
use mailproto_engine::pop3_client::Pop3Options;
use mailproto_engine::pop3_server::InlineBackend;
use mailproto_engine::smtp_server::Inline;
use mailproto_engine::tls::SelfSigned;
use mailproto_engine::{Error, Tap};
use mailproto_smol::pop3::{Pop3Client, Pop3Server};
use mailproto_smol::{Listener, ListenerOptions};
use smol::block_on;
use smol::net::TcpStream;

use mailproto_core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_engine::smtp_client::{Envelope, SendReport, SmtpOptions};
use mailproto_smol::smtp::SmtpClient;
use std::sync::{Arc, Mutex};

use mailproto_core::smtp::server::ServerConfig as SmtpConfig;
use mailproto_smol::smtp::SmtpServer;
use suite::{Adapter, MemBackend, MemSink, Pop3Ops, Running, SmtpOps, Stored};

struct Smol;

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

/// The async client behind the suite's blocking interface.
struct SmolPop3(Pop3Client<TcpStream>);

impl Pop3Ops for SmolPop3 {
    fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        block_on(self.0.login(user, &Secret::from(password)))
    }
    fn apop(&mut self, user: &str, secret: &str) -> Result<(), Error> {
        block_on(self.0.apop(user, &Secret::from(secret)))
    }
    fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), Error> {
        let creds = ClientCredentials::password(user, password);
        block_on(self.0.auth(Some(Mechanism::Plain), creds))
    }
    fn stat(&mut self) -> Result<(u32, u64), Error> {
        block_on(self.0.stat())
    }
    fn list(&mut self) -> Result<Vec<(u32, u64)>, Error> {
        Ok(block_on(self.0.list())?
            .into_iter()
            .map(|s| (s.msg, s.size))
            .collect())
    }
    fn uidl(&mut self) -> Result<Vec<(u32, String)>, Error> {
        Ok(block_on(self.0.uidl())?
            .into_iter()
            .map(|u| (u.msg, u.uid.as_str().to_string()))
            .collect())
    }
    fn retr(&mut self, msg: u32) -> Result<Vec<u8>, Error> {
        let mut out = futures_lite::io::Cursor::new(Vec::new());
        block_on(self.0.retr(msg, &mut out))?;
        Ok(out.into_inner())
    }
    fn top(&mut self, msg: u32, lines: u32) -> Result<Vec<u8>, Error> {
        let mut out = futures_lite::io::Cursor::new(Vec::new());
        block_on(self.0.top(msg, lines, &mut out))?;
        Ok(out.into_inner())
    }
    fn retr_many(&mut self, msgs: &[u32]) -> Result<Vec<Vec<u8>>, Error> {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        block_on(self.0.retr_many(msgs, |_| {
            sink.lock().unwrap().push(Vec::new());
            Ok(Collect(sink.clone()))
        }))?;
        Ok(std::mem::take(&mut *got.lock().unwrap()))
    }
    fn dele(&mut self, msg: u32) -> Result<(), Error> {
        block_on(self.0.dele(msg))
    }
    fn rset(&mut self) -> Result<(), Error> {
        block_on(self.0.rset())
    }
    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
    fn quit(self: Box<Self>) -> Result<(), Error> {
        block_on(self.0.quit())
    }
}

/// The async SMTP client behind the suite's blocking interface.
struct SmolSmtp(SmtpClient<TcpStream>);

fn envelope(from: &str, to: &[&str]) -> Envelope {
    let from = ReversePath::Mailbox(from.parse::<Mailbox>().unwrap());
    Envelope::new(
        from,
        to.iter().map(|t| ForwardPath::Mailbox(t.parse().unwrap())),
    )
}

impl SmtpOps for SmolSmtp {
    fn authenticate(
        &mut self,
        mechanism: Option<Mechanism>,
        user: &str,
        password: &str,
    ) -> Result<(), Error> {
        block_on(
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
        block_on(self.0.authenticate_forced(mechanism, creds))
    }
    fn send(&mut self, from: &str, to: &[&str], body: &[u8]) -> Result<SendReport, Error> {
        block_on(
            self.0
                .send(envelope(from, to), &mut futures_lite::io::Cursor::new(body)),
        )
    }
    fn reset(&mut self) -> Result<(), Error> {
        block_on(self.0.reset())
    }
    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
    fn quit(self: Box<Self>) -> Result<(), Error> {
        block_on(self.0.quit())
    }
}

/// Run a server future on its own thread; the returned closure stops it.
fn spawn_server(
    run: impl FnOnce() -> std::io::Result<()> + Send + 'static,
    stop: impl Fn() + Send + 'static,
) -> Box<dyn FnMut() + Send> {
    let mut thread = Some(thread::spawn(run));
    Box::new(move || {
        stop();
        if let Some(t) = thread.take() {
            let _ = t.join();
        }
    })
}

impl Adapter for Smol {
    const NAME: &'static str = "smol";

    fn pop3_server_with(
        backend: MemBackend,
        config: ServerConfig,
        cert: &SelfSigned,
        implicit_tls: bool,
    ) -> Running {
        let server =
            Pop3Server::new(InlineBackend(backend), config).with_tls(cert.server_config().unwrap());
        let listener = block_on(Listener::bind("127.0.0.1:0", ListenerOptions::default())).unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = listener.shutdown_handle();
        let stop = spawn_server(
            move || block_on(server.run(listener, implicit_tls)),
            move || handle.shutdown(),
        );
        Running { addr, stop }
    }

    fn pop3_connect_tapped(
        port: u16,
        options: Pop3Options,
        tap: Option<Tap>,
    ) -> Result<Box<dyn Pop3Ops>, Error> {
        let client = block_on(Pop3Client::connect_tapped("127.0.0.1", port, options, tap))?;
        Ok(Box::new(SmolPop3(client)))
    }

    fn smtp_server_with(
        config: SmtpConfig,
        store: Arc<Mutex<Vec<Stored>>>,
        cert: &SelfSigned,
        implicit_tls: bool,
        options: ListenerOptions,
    ) -> Running {
        let server = SmtpServer::new(config, move |_peer| {
            Inline(MemSink::new(store.clone(), "alice", "wonderland"))
        })
        .with_tls(cert.server_config().unwrap());
        let listener = block_on(Listener::bind("127.0.0.1:0", options)).unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = listener.shutdown_handle();
        let stop = spawn_server(
            move || block_on(server.run(listener, implicit_tls)),
            move || handle.shutdown(),
        );
        Running { addr, stop }
    }

    fn smtp_connect_tapped(
        port: u16,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Box<dyn SmtpOps>, Error> {
        let client = block_on(SmtpClient::connect_tapped("127.0.0.1", port, options, tap))?;
        Ok(Box::new(SmolSmtp(client)))
    }
}

adapter_suite!(Smol);
