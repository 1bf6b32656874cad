//! The shared adapter suite, run against the blocking adapter.
#![allow(missing_docs)]

#[path = "../../mailproto-engine/tests/suite/mod.rs"]
mod suite;

use std::io::Cursor;
use std::thread;

use mailproto_core::pop3::server::ServerConfig;
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;
use mailproto_std::pop3_client::{Pop3Client, Pop3Options};
use mailproto_std::pop3_server::Pop3Server;
use mailproto_std::tls::SelfSigned;
use mailproto_std::{Error, Listener, ListenerOptions, Tap};

use mailproto_core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_std::smtp_client::{Envelope, SendReport, SmtpClient, SmtpOptions};
use std::sync::{Arc, Mutex};

use mailproto_core::smtp::server::ServerConfig as SmtpConfig;
use mailproto_std::smtp_server::SmtpServer;
use suite::{Adapter, MemBackend, MemSink, Pop3Ops, Running, SmtpOps, Stored};

struct Std;

/// A sink that appends to the last message of a shared list.
struct Collect(Arc<Mutex<Vec<Vec<u8>>>>);

impl std::io::Write for Collect {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut got = self.0.lock().unwrap();
        got.last_mut().expect("opened").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Pop3Ops for Pop3Client {
    fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        Pop3Client::login(self, user, &Secret::from(password))
    }
    fn apop(&mut self, user: &str, secret: &str) -> Result<(), Error> {
        Pop3Client::apop(self, user, &Secret::from(secret))
    }
    fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), Error> {
        let creds = ClientCredentials::password(user, password);
        Pop3Client::auth(self, Some(Mechanism::Plain), creds)
    }
    fn stat(&mut self) -> Result<(u32, u64), Error> {
        Pop3Client::stat(self)
    }
    fn list(&mut self) -> Result<Vec<(u32, u64)>, Error> {
        Ok(Pop3Client::list(self)?
            .into_iter()
            .map(|s| (s.msg, s.size))
            .collect())
    }
    fn uidl(&mut self) -> Result<Vec<(u32, String)>, Error> {
        Ok(Pop3Client::uidl(self)?
            .into_iter()
            .map(|u| (u.msg, u.uid.as_str().to_string()))
            .collect())
    }
    fn retr(&mut self, msg: u32) -> Result<Vec<u8>, Error> {
        let mut out = Cursor::new(Vec::new());
        Pop3Client::retr(self, msg, &mut out)?;
        Ok(out.into_inner())
    }
    fn top(&mut self, msg: u32, lines: u32) -> Result<Vec<u8>, Error> {
        let mut out = Cursor::new(Vec::new());
        Pop3Client::top(self, msg, lines, &mut out)?;
        Ok(out.into_inner())
    }
    fn retr_many(&mut self, msgs: &[u32]) -> Result<Vec<Vec<u8>>, Error> {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        Pop3Client::retr_many(self, msgs, |_| {
            sink.lock().unwrap().push(Vec::new());
            Ok(Collect(sink.clone()))
        })?;
        Ok(std::mem::take(&mut *got.lock().unwrap()))
    }
    fn dele(&mut self, msg: u32) -> Result<(), Error> {
        Pop3Client::dele(self, msg)
    }
    fn rset(&mut self) -> Result<(), Error> {
        Pop3Client::rset(self)
    }
    fn is_tls(&self) -> bool {
        Pop3Client::is_tls(self)
    }
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        Pop3Client::peer_addr(self)
    }
    fn quit(self: Box<Self>) -> Result<(), Error> {
        Pop3Client::quit(*self)
    }
}

/// The envelope the suite asks for.
pub fn envelope(from: &str, to: &[&str]) -> Envelope {
    let from = ReversePath::Mailbox(from.parse::<Mailbox>().unwrap());
    Envelope::new(
        from,
        to.iter().map(|t| ForwardPath::Mailbox(t.parse().unwrap())),
    )
}

impl SmtpOps for SmtpClient {
    fn authenticate(
        &mut self,
        mechanism: Option<Mechanism>,
        user: &str,
        password: &str,
    ) -> Result<(), Error> {
        SmtpClient::authenticate(self, mechanism, ClientCredentials::password(user, password))
    }
    fn authenticate_forced(
        &mut self,
        mechanism: Mechanism,
        user: &str,
        password: &str,
    ) -> Result<(), Error> {
        let creds = ClientCredentials::password(user, password);
        SmtpClient::authenticate_forced(self, mechanism, creds)
    }
    fn send(&mut self, from: &str, to: &[&str], body: &[u8]) -> Result<SendReport, Error> {
        SmtpClient::send(self, envelope(from, to), &mut Cursor::new(body))
    }
    fn reset(&mut self) -> Result<(), Error> {
        SmtpClient::reset(self)
    }
    fn is_tls(&self) -> bool {
        SmtpClient::is_tls(self)
    }
    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        SmtpClient::peer_addr(self)
    }
    fn quit(self: Box<Self>) -> Result<(), Error> {
        SmtpClient::quit(*self)
    }
}

/// Run `run(listener)` on a thread of its own until the returned [`Running`] stops it.
fn serve(
    listener: Listener,
    run: impl FnOnce(Listener) -> std::io::Result<()> + Send + 'static,
) -> Running {
    let addr = listener.local_addr().unwrap();
    let handle = listener.shutdown_handle();
    let thread = thread::spawn(move || run(listener));
    Running::on_thread(addr, move || handle.shutdown(), thread)
}

impl Adapter for Std {
    const NAME: &'static str = "std";

    fn pop3_server_with(
        backend: MemBackend,
        config: ServerConfig,
        cert: &SelfSigned,
        implicit_tls: bool,
        options: ListenerOptions,
    ) -> Running {
        let server = Pop3Server::new(backend, config).with_tls(cert.server_config().unwrap());
        let listener = Listener::bind("127.0.0.1:0", options).unwrap();
        serve(listener, move |l| server.run(l, implicit_tls))
    }

    fn pop3_connect_tapped(
        port: u16,
        options: Pop3Options,
        tap: Option<Tap>,
    ) -> Result<Box<dyn Pop3Ops>, Error> {
        Ok(Box::new(Pop3Client::connect_tapped(
            "127.0.0.1",
            port,
            options,
            tap,
        )?))
    }

    fn smtp_server_with(
        config: SmtpConfig,
        store: Arc<Mutex<Vec<Stored>>>,
        cert: &SelfSigned,
        implicit_tls: bool,
        options: ListenerOptions,
    ) -> Running {
        let server = SmtpServer::new(config, move |peer| {
            MemSink::new(store.clone(), "alice", "wonderland").with_peer(peer)
        })
        .with_tls(cert.server_config().unwrap());
        let listener = Listener::bind("127.0.0.1:0", options).unwrap();
        serve(listener, move |l| server.run(l, implicit_tls))
    }

    fn smtp_gated_server(config: SmtpConfig, gate: suite::waiting::Gate) -> Running {
        let server = SmtpServer::new(config, move |_peer| {
            suite::waiting::Gated::new(gate.clone())
        });
        let listener = Listener::bind("127.0.0.1:0", ListenerOptions::default()).unwrap();
        serve(listener, move |l| server.run(l, false))
    }

    fn smtp_transport(
        config: mailproto_engine::transport::SmtpConfig,
    ) -> Box<dyn suite::transport::TransportOps> {
        Box::new(mailproto_std::transport::SmtpTransport::new(config))
    }

    fn smtp_connect_tapped(
        port: u16,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Box<dyn SmtpOps>, Error> {
        Ok(Box::new(SmtpClient::connect_tapped(
            "127.0.0.1",
            port,
            options,
            tap,
        )?))
    }
}

adapter_suite!(Std);

impl suite::transport::TransportOps for mailproto_std::transport::SmtpTransport {
    fn send(&self, message: &mailproto_std::message::Message) -> Result<SendReport, Error> {
        mailproto_std::transport::Transport::send(self, message)
    }

    fn sessions(&self) -> (usize, usize) {
        mailproto_std::transport::SmtpTransport::sessions(self)
    }
}
