//! The blocking POP3 client: connect (plain, STLS required or opportunistic, implicit
//! TLS), log in, list, retrieve, delete, over the engine's client flow ([`step`]).

use std::io::Write;
use std::net::TcpStream;

use mailproto_core::Instant;
use mailproto_core::pop3::client::{Client, ClientConfig, Refused};
use mailproto_core::pop3::{Capabilities, ScanListing, Status, UniqueIdListing};
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::secret::Secret;

use crate::{Driver, Error, Tap, TlsRole};

pub use mailproto_engine::pop3_client::*;

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
            let event = driver.next_event()?.ok_or(Error::Closed)?;
            if let Some(greeting) = mailproto_engine::pop3_client::greeting_step(event) {
                break greeting?;
            }
        };
        let mut client = Pop3Client { driver, greeting };
        if matches!(
            security,
            Security::StartTls | Security::StartTlsOpportunistic
        ) {
            let offered = client.capa().ok().is_some_and(|c| c.contains("STLS"));
            if mailproto_engine::pop3_client::wants_stls(security, offered)? {
                client.run(Client::stls)?;
                client.capa().ok();
            }
        }
        Ok(client)
    }

    /// The server's address.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.driver.peer_addr()
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

    /// RETR several messages. Requests are handed to the machine as far as it takes
    /// them ([`ClientConfig::max_pending`](crate::core::pop3::client::ClientConfig)
    /// outstanding) and topped up as answers complete: with PIPELINING it sends them
    /// together (RFC 2449 §6.6), without it one at a time. `open` gives the writer for
    /// each message number. After an error the session should be ended.
    pub fn retr_many<W: Write>(
        &mut self,
        msgs: &[u32],
        mut open: impl FnMut(u32) -> std::io::Result<W>,
    ) -> Result<(), Error> {
        let mut issued = 0;
        for (read, &msg) in msgs.iter().enumerate() {
            if issued < msgs.len() {
                let now = self.driver.now();
                // The message read next must be asked for by now.
                let needed = (read + 1).saturating_sub(issued);
                issued += retr_some(self.driver.machine(), now, &msgs[issued..], needed)?;
            }
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

fn unexpected(command: &str, reply: &Reply) -> Error {
    Error::Protocol(format!("{command}: unexpected answer {reply:?}"))
}
