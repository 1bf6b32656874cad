//! POP3 client API: connect (plain, STLS, implicit TLS), log in (USER/PASS, APOP, AUTH),
//! STAT, LIST, UIDL, TOP, RETR streamed into a writer, DELE, RSET, NOOP, QUIT.
//!
//! [`Reply`] and [`step`] say what a machine event means for the command waited on; both
//! adapters use them, only the waiting (blocking or async) differs.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use mailproto_core::Instant;
use mailproto_core::pop3::client::{Client, ClientConfig, Event, Refused};
use mailproto_core::pop3::{Capabilities, DropListing, ScanListing, Status, UniqueIdListing};
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;

use crate::{Driver, Error, Tap, TlsRole};

/// How a client protects its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Security {
    /// Plaintext only.
    Plain,
    /// Upgrade with STARTTLS/STLS; fail if the server does not offer it.
    #[default]
    StartTls,
    /// Upgrade with STARTTLS/STLS when offered, else continue in plaintext.
    StartTlsOpportunistic,
    /// TLS from the first byte (ports 465 / 995, RFC 8314).
    ImplicitTls,
}

impl Security {
    /// The TLS role of a client connecting to `host` this way: none for plaintext,
    /// otherwise certificate checks per `tls` against the name `host`.
    pub fn tls_role(self, host: &str, tls: &crate::tls::ClientTls) -> Result<TlsRole, Error> {
        Ok(match self {
            Security::Plain => TlsRole::None,
            _ => TlsRole::Client(tls.config()?, crate::tls::server_name(host)?),
        })
    }
}

/// What completed the command a client waited on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reply {
    /// `+OK` to a command with nothing more to report.
    Ok(Status),
    /// A login succeeded.
    LoggedIn(Status),
    /// CAPA's answer.
    Capabilities(Capabilities),
    /// STAT's answer.
    Stat(DropListing),
    /// LIST n.
    Scan(ScanListing),
    /// LIST.
    ScanList(Vec<ScanListing>),
    /// UIDL n.
    Uidl(UniqueIdListing),
    /// UIDL.
    UidlList(Vec<UniqueIdListing>),
    /// The end of a RETR/TOP body.
    MessageEnd,
    /// STLS completed: the session runs inside TLS now.
    TlsReady,
}

/// One step of waiting for a command's answer.
#[derive(Debug)]
pub enum Step {
    /// Not complete yet.
    Pending,
    /// Body bytes of a RETR/TOP.
    Data(Vec<u8>),
    /// The command completed.
    Done(Result<Reply, Error>),
}

/// What `event` means for the command being waited on.
pub fn step(event: Event) -> Step {
    let done = |r| Step::Done(Ok(r));
    match event {
        Event::Ok { status, .. } => done(Reply::Ok(status)),
        Event::LoggedIn { status, .. } => done(Reply::LoggedIn(status)),
        Event::Capabilities(c) => done(Reply::Capabilities(c)),
        Event::Stat(s) => done(Reply::Stat(s)),
        Event::Scan(s) => done(Reply::Scan(s)),
        Event::ScanList(s) => done(Reply::ScanList(s)),
        Event::Uidl(u) => done(Reply::Uidl(u)),
        Event::UidlList(u) => done(Reply::UidlList(u)),
        Event::MessageData(d) => Step::Data(d),
        Event::MessageEnd => done(Reply::MessageEnd),
        Event::TlsReady => done(Reply::TlsReady),
        Event::Err { command, status } => Step::Done(Err(Error::Rejected(format!(
            "{command}: -ERR {}",
            status_text(&status)
        )))),
        Event::Malformed { command, error } => {
            Step::Done(Err(Error::Protocol(format!("{command}: {error}"))))
        }
        Event::AuthCancelled { reason } => {
            Step::Done(Err(Error::Protocol(format!("AUTH cancelled: {reason}"))))
        }
        Event::TlsInjection { discarded } => Step::Done(Err(Error::Protocol(format!(
            "{discarded} bytes arrived after +OK to STLS and before TLS (response injection)"
        )))),
        Event::Closed { reason } => {
            Step::Done(Err(Error::Protocol(format!("session closed: {reason}"))))
        }
        _ => Step::Pending,
    }
}

/// The text of a status, with its response code.
fn status_text(status: &Status) -> String {
    let mut out = Vec::new();
    let _ = status.encode(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.trim_end().trim_start_matches("-ERR ").to_string()
}

/// Options of a POP3 connection.
#[derive(Debug, Clone)]
pub struct Pop3Options {
    /// TLS use.
    pub security: Security,
    /// Certificate checks for TLS.
    pub tls: crate::tls::ClientTls,
    /// The machine's configuration.
    pub config: ClientConfig,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Default for Pop3Options {
    fn default() -> Self {
        Pop3Options {
            security: Security::default(),
            tls: crate::tls::ClientTls::default(),
            config: ClientConfig::default(),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// A blocking POP3 client session.
#[derive(Debug)]
pub struct Pop3Client {
    driver: Driver<Client>,
    greeting: Status,
}

impl Pop3Client {
    /// Connect to `host:port`, read the greeting, and secure the session as `options`
    /// say (for STLS: CAPA, STLS, handshake, CAPA again).
    pub fn connect(host: &str, port: u16, options: Pop3Options) -> Result<Self, Error> {
        Self::connect_tapped(host, port, options, None)
    }

    /// [`Pop3Client::connect`], showing every protocol byte to `tap` (transcripts).
    pub fn connect_tapped(
        host: &str,
        port: u16,
        options: Pop3Options,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let tcp = crate::connect_tcp(host, port, options.connect_timeout)?;
        let tls = options.security.tls_role(host, &options.tls)?;
        Self::over(tcp, tls, options.security, options.config, tap)
    }

    /// Run a session over an already connected socket.
    pub fn over(
        tcp: TcpStream,
        tls: TlsRole,
        security: Security,
        mut config: ClientConfig,
        tap: Option<Tap>,
    ) -> Result<Self, Error> {
        let implicit = security == Security::ImplicitTls;
        config.tls_active = implicit;
        let machine = Client::new(mailproto_core::Instant::ZERO, config);
        let mut driver = Driver::new(machine, tcp, tls);
        if let Some(tap) = tap {
            driver.set_tap(tap);
        }
        if implicit {
            driver.start_tls()?;
        }
        let greeting = loop {
            match driver.next_event()? {
                Some(Event::Greeting { status, .. }) => break status,
                Some(Event::Closed { reason }) => {
                    return Err(Error::Rejected(format!("greeting refused: {reason}")));
                }
                Some(_) => {}
                None => return Err(Error::Closed),
            }
        };
        let mut client = Pop3Client { driver, greeting };
        if matches!(
            security,
            Security::StartTls | Security::StartTlsOpportunistic
        ) {
            let caps = client.capa().ok();
            let offered = caps.is_some_and(|c| c.contains("STLS"));
            if offered {
                client.run(Client::stls)?;
                client.capa().ok();
            } else if security == Security::StartTls {
                return Err(Error::Tls("the server does not offer STLS".into()));
            }
        }
        Ok(client)
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Status {
        &self.greeting
    }

    /// Whether the session runs inside TLS.
    pub fn is_tls(&self) -> bool {
        self.driver.is_tls()
    }

    /// The machine, for commands this API does not wrap.
    pub fn machine(&mut self) -> &mut Client {
        self.driver.machine()
    }

    /// Issue a command and wait for its answer, sending body bytes to `sink`.
    fn run_into<F>(&mut self, issue: F, sink: &mut dyn Write) -> Result<Reply, Error>
    where
        F: FnOnce(&mut Client, Instant) -> Result<(), Refused<()>>,
    {
        let now = self.driver.now();
        issue(self.driver.machine(), now).map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait(sink)
    }

    fn run<F>(&mut self, issue: F) -> Result<Reply, Error>
    where
        F: FnOnce(&mut Client, Instant) -> Result<(), Refused<()>>,
    {
        self.run_into(issue, &mut std::io::sink())
    }

    /// Wait for the oldest outstanding command's answer.
    fn wait(&mut self, sink: &mut dyn Write) -> Result<Reply, Error> {
        loop {
            let event = self.driver.next_event()?.ok_or(Error::Closed)?;
            match step(event) {
                Step::Pending => {}
                Step::Data(d) => sink.write_all(&d)?,
                Step::Done(r) => return r,
            }
        }
    }

    /// CAPA (RFC 2449); an error when the server does not support it.
    pub fn capa(&mut self) -> Result<Capabilities, Error> {
        match self.run(Client::capa)? {
            Reply::Capabilities(c) => Ok(c),
            other => Err(unexpected("CAPA", &other)),
        }
    }

    /// USER and PASS.
    pub fn login(&mut self, user: &str, password: &Secret<String>) -> Result<(), Error> {
        self.run(|c, now| c.user(now, user))?;
        self.run(|c, now| c.pass(now, password)).map(drop)
    }

    /// APOP with the shared secret (needs a timestamp in the greeting).
    pub fn apop(&mut self, user: &str, secret: &Secret<String>) -> Result<(), Error> {
        self.run(|c, now| c.apop(now, user, secret)).map(drop)
    }

    /// AUTH with `mechanism`, or the best one the server lists in CAPA.
    pub fn auth(
        &mut self,
        mechanism: Option<Mechanism>,
        credentials: ClientCredentials,
    ) -> Result<(), Error> {
        let mechanism = match mechanism {
            Some(m) => m,
            None => {
                let caps = self.capa()?;
                choose_mechanism(&caps, &credentials, self.is_tls())?
            }
        };
        let auth =
            ClientAuth::new(mechanism, credentials).map_err(|e| Error::Protocol(e.to_string()))?;
        let now = self.driver.now();
        self.driver
            .machine()
            .auth(now, auth)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        self.wait(&mut std::io::sink()).map(drop)
    }

    /// STAT: `(messages, octets)`.
    pub fn stat(&mut self) -> Result<(u32, u64), Error> {
        match self.run(Client::stat)? {
            Reply::Stat(s) => Ok((s.count, s.size)),
            other => Err(unexpected("STAT", &other)),
        }
    }

    /// LIST: number and size of every message not deleted.
    pub fn list(&mut self) -> Result<Vec<ScanListing>, Error> {
        match self.run(|c, now| c.list(now, None))? {
            Reply::ScanList(l) => Ok(l),
            other => Err(unexpected("LIST", &other)),
        }
    }

    /// UIDL: number and unique-id of every message not deleted.
    pub fn uidl(&mut self) -> Result<Vec<UniqueIdListing>, Error> {
        match self.run(|c, now| c.uidl(now, None))? {
            Reply::UidlList(l) => Ok(l),
            other => Err(unexpected("UIDL", &other)),
        }
    }

    /// RETR `msg`, streaming the unstuffed message into `out`.
    pub fn retr(&mut self, msg: u32, out: &mut dyn Write) -> Result<(), Error> {
        self.run_into(|c, now| c.retr(now, msg), out).map(drop)
    }

    /// TOP `msg lines`, streaming into `out`.
    pub fn top(&mut self, msg: u32, lines: u32, out: &mut dyn Write) -> Result<(), Error> {
        self.run_into(|c, now| c.top(now, msg, lines), out)
            .map(drop)
    }

    /// RETR several messages. All requests are handed to the machine at once: with
    /// PIPELINING it sends them together (RFC 2449 §6.6), without it one at a time.
    /// `open` gives the writer for each message number. After an error the session
    /// should be ended.
    pub fn retr_many<W: Write>(
        &mut self,
        msgs: &[u32],
        mut open: impl FnMut(u32) -> std::io::Result<W>,
    ) -> Result<(), Error> {
        for &msg in msgs {
            let now = self.driver.now();
            self.driver
                .machine()
                .retr(now, msg)
                .map_err(|e| Error::Protocol(e.to_string()))?;
        }
        for &msg in msgs {
            let mut out = open(msg)?;
            self.wait(&mut out)?;
        }
        Ok(())
    }

    /// DELE `msg` (removed at QUIT).
    pub fn dele(&mut self, msg: u32) -> Result<(), Error> {
        self.run(|c, now| c.dele(now, msg)).map(drop)
    }

    /// RSET: unmark deletions.
    pub fn rset(&mut self) -> Result<(), Error> {
        self.run(Client::rset).map(drop)
    }

    /// NOOP.
    pub fn noop(&mut self) -> Result<(), Error> {
        self.run(Client::noop).map(drop)
    }

    /// QUIT: the server deletes the marked messages (UPDATE state) and closes.
    pub fn quit(mut self) -> Result<(), Error> {
        self.run(Client::quit)?;
        while self.driver.next_event()?.is_some() {}
        Ok(())
    }
}

/// The SASL mechanism to use with a server that lists `caps` (RFC 5034 §4, RFC 2449
/// SASL tag), preferring what is safe over the current connection.
pub fn choose_mechanism(
    caps: &Capabilities,
    credentials: &ClientCredentials,
    tls: bool,
) -> Result<Mechanism, Error> {
    let offered: Vec<Mechanism> = caps
        .sasl_mechanisms()
        .iter()
        .filter_map(|m| Mechanism::parse(m.as_bytes()).ok())
        .collect();
    Mechanism::choose(&offered, true, credentials.token.is_some(), tls)
        .ok_or_else(|| Error::Rejected("no usable SASL mechanism offered".into()))
}

fn unexpected(command: &str, reply: &Reply) -> Error {
    Error::Protocol(format!("{command}: unexpected answer {reply:?}"))
}
