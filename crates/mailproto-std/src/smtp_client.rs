//! The blocking SMTP client: connect (plain, STARTTLS required or opportunistic,
//! implicit TLS), EHLO, AUTH, and sending messages streamed from a reader, over the
//! engine's client flow ([`Transaction`], [`session_step`]).

use std::io::Read;
use std::net::TcpStream;

use mailproto_core::Instant;
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::smtp::client::{Client, Refused};
use mailproto_core::smtp::{Capabilities, Reply};

use crate::pop3_client::Security;
use crate::{Driver, Error, Tap, TlsRole};
use mailproto_engine::message::Message;
use mailproto_engine::transport::SmtpConfig;

pub use mailproto_engine::smtp_client::*;

/// A blocking SMTP client session.
#[derive(Debug)]
pub struct SmtpClient {
    driver: Driver<Client>,
    greeting: Reply,
    prefer_bdat: bool,
    /// The body read buffer, kept across messages.
    body_buf: Vec<u8>,
    /// Whether the last message's end of data went out (its outcome is unknown when no
    /// reply followed).
    data_ended: bool,
}

impl SmtpClient {
    /// Connect to `host:port`, read the greeting, EHLO, and secure the session as
    /// `options` say (STARTTLS then EHLO again).
    pub fn connect(host: &str, port: u16, options: SmtpOptions) -> Result<Self, Error> {
        Self::connect_tapped(host, port, options, None)
    }

    /// [`SmtpClient::connect`], showing every protocol byte to `tap` (transcripts).
    pub fn connect_tapped(
        host: &str,
        port: u16,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let tcp = crate::connect_tcp(host, port, options.connect_timeout)?;
        let tls = options.security.tls_role(host, &options.tls)?;
        Self::over(tcp, tls, options, tap)
    }

    /// Run a session over an already connected socket.
    pub fn over(
        tcp: TcpStream,
        tls: TlsRole,
        options: SmtpOptions,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let implicit = options.security == Security::ImplicitTls;
        let machine = Client::new(Instant::ZERO, options.machine_config());
        let diagnose =
            |e| mailproto_engine::smtp_client::diagnose(e, options.security, options.greeting_wait);
        let mut driver = Driver::new(machine, tcp, tls);
        if let Some(tap) = tap {
            driver.set_tap(tap);
        }
        if implicit {
            driver.start_tls().map_err(diagnose)?;
        }
        let greeting = loop {
            let event = driver
                .next_event()
                .map_err(diagnose)?
                .ok_or(Error::Closed)?;
            if let Some(greeting) = mailproto_engine::smtp_client::greeting_step(event) {
                break greeting.map_err(diagnose)?;
            }
        };
        let mut client = SmtpClient {
            driver,
            greeting,
            prefer_bdat: options.prefer_bdat,
            body_buf: Vec::new(),
            data_ended: false,
        };
        client.step(Client::ehlo)?;
        if mailproto_engine::smtp_client::wants_starttls(options.security, client.capabilities())? {
            client.step(Client::starttls)?;
            client.step(Client::ehlo)?;
        }
        Ok(client)
    }

    fn step<F>(&mut self, issue: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Client, Instant) -> Result<(), Refused<()>>,
    {
        let now = self.driver.now();
        issue(self.driver.machine(), now).map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait_step()
    }

    fn wait_step(&mut self) -> Result<(), Error> {
        loop {
            let event = self.driver.next_event()?.ok_or(Error::Closed)?;
            if let Some(done) = session_step(event) {
                return done;
            }
        }
    }

    /// The server's address.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.driver.peer_addr()
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// What the server advertised in its (last) EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        self.driver.machine_ref().capabilities()
    }

    /// Whether the session runs inside TLS.
    pub fn is_tls(&self) -> bool {
        self.driver.is_tls()
    }

    /// AUTH with `mechanism` even when the server does not advertise it, or when it
    /// would send a password without TLS: for servers that accept more than they list.
    /// The caller takes the risk the machine otherwise refuses.
    pub fn authenticate_forced(
        &mut self,
        mechanism: Mechanism,
        credentials: ClientCredentials,
    ) -> Result<(), Error> {
        let auth =
            ClientAuth::new(mechanism, credentials).map_err(|e| Error::Protocol(e.to_string()))?;
        let now = self.driver.now();
        self.driver
            .machine()
            .auth_forced(now, auth)
            .map_err(|e| Error::Protocol(e.into_kind().to_string()))?;
        self.wait_step()
    }

    /// AUTH with `mechanism`, or the best one the server advertises.
    pub fn authenticate(
        &mut self,
        mechanism: Option<Mechanism>,
        credentials: ClientCredentials,
    ) -> Result<(), Error> {
        let mechanism = match mechanism {
            Some(m) => m,
            None => choose_mechanism(self.capabilities(), &credentials, self.is_tls())?,
        };
        let auth =
            ClientAuth::new(mechanism, credentials).map_err(|e| Error::Protocol(e.to_string()))?;
        let now = self.driver.now();
        self.driver
            .machine()
            .auth(now, auth)
            .map_err(|e| Error::Protocol(e.into_kind().to_string()))?;
        self.wait_step()
    }

    /// Connect as `config` says (address, TLS, EHLO name) and authenticate with its
    /// credentials, if any.
    pub fn connect_with(config: &SmtpConfig) -> Result<Self, Error> {
        let mut client = Self::connect(&config.host, config.port, config.options.clone())?;
        if let Some((user, password)) = &config.credentials {
            let credentials = ClientCredentials::password(user, password);
            client.authenticate(config.mechanism.clone(), credentials)?;
        }
        Ok(client)
    }

    /// Send `message` to its envelope's recipients, with `BODY=8BITMIME`, `SMTPUTF8`
    /// and `SIZE` as its content and the server call for (refused before sending when
    /// the server lacks what it needs).
    pub fn send_message(&mut self, message: &Message) -> Result<SendReport, Error> {
        self.data_ended = false;
        let envelope = message_envelope(message, self.capabilities())?;
        self.send(envelope, &mut message.bytes())
    }

    /// Whether the last send's end of data went out: when it failed without a reply
    /// after that, the message may have been delivered.
    pub fn data_ended(&self) -> bool {
        self.data_ended
    }

    /// Whether the session can take another message: whatever the server sent while
    /// the session was idle (a `421`, a close) is read without waiting.
    pub fn is_usable(&mut self) -> bool {
        let open = self.driver.poll_idle().unwrap_or(false);
        while mailproto_core::Machine::poll_event(self.driver.machine()).is_some() {}
        open && self.driver.machine_ref().is_ready()
    }

    /// Send one message, read from `body` as it goes (never held whole), to the
    /// envelope's recipients. `Ok` when at least one recipient got it; the report has
    /// each recipient's result.
    pub fn send(&mut self, envelope: Envelope, body: &mut dyn Read) -> Result<SendReport, Error> {
        let now = self.driver.now();
        let mut txn = Transaction::start(self.driver.machine(), now, envelope, self.prefer_bdat)?;
        let mut buf = std::mem::take(&mut self.body_buf);
        buf.resize(64 * 1024, 0);
        let result = self.run_transaction(&mut txn, body, &mut buf);
        self.body_buf = buf;
        result
    }

    fn run_transaction(
        &mut self,
        txn: &mut Transaction,
        body: &mut dyn Read,
        buf: &mut [u8],
    ) -> Result<SendReport, Error> {
        let mut body_done = false;
        loop {
            let event = self.driver.next_event()?.ok_or(Error::Closed)?;
            match txn.on_event(event) {
                Progress::Waiting => {}
                Progress::Done(result) => return result,
                Progress::SendBody if body_done => {}
                Progress::SendBody => {
                    body_done = self.pump_body(body, buf)?;
                    self.data_ended = body_done;
                }
            }
        }
    }

    /// Write body chunks while the machine accepts them; returns whether the body ended.
    fn pump_body(&mut self, body: &mut dyn Read, buf: &mut [u8]) -> Result<bool, Error> {
        let protocol = |e: Refused<()>| Error::Protocol(e.to_string());
        while self.driver.machine_ref().body_writable() {
            let n = match body.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let now = self.driver.now();
            if n == 0 {
                self.driver.machine().finish_body(now).map_err(protocol)?;
                self.driver.flush()?;
                return Ok(true);
            }
            self.driver
                .machine()
                .send_body(now, &buf[..n])
                .map_err(protocol)?;
            self.driver.flush()?;
        }
        Ok(false)
    }

    /// RSET.
    pub fn reset(&mut self) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .rset(now)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        loop {
            let event = self.driver.next_event()?.ok_or(Error::Closed)?;
            if let Some(done) = reset_step(event) {
                return done;
            }
        }
    }

    /// QUIT and close.
    pub fn quit(mut self) -> Result<(), Error> {
        let now = self.driver.now();
        self.driver
            .machine()
            .quit(now)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        while self.driver.next_event()?.is_some() {}
        Ok(())
    }
}
