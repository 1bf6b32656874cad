//! Session commands outside a mail transaction: EHLO/HELO/LHLO, STARTTLS, AUTH, RSET,
//! NOOP, VRFY, QUIT, and their replies.

use alloc::string::String;
use alloc::vec::Vec;

use zeroize::Zeroize;

use super::{Client, ClientError, Event, Expect, Hello, ProtocolError, Refused, Stage};
use crate::machine::Misuse;
use crate::sasl::{self, ClientAuth};
use crate::smtp::{Capabilities, Command, Host, InitialResponse, Reply, ReplyCode};
use crate::time::Instant;

/// RFC 4954 §4: an AUTH line with its initial response must fit the 512-octet command
/// line (RFC 5321 §4.5.3.1.4), else the response waits for an empty 334.
const AUTH_LINE_MAX: usize = 512;

impl Client {
    fn encode_command(cmd: &Command) -> Result<Vec<u8>, ClientError> {
        let mut line = Vec::new();
        cmd.encode(&mut line)?;
        Ok(line)
    }

    /// Checks the gate shared by commands that need a greeted, idle session.
    fn check_greeted(&self, command: &'static str) -> Result<(), ClientError> {
        self.check_idle()?;
        match self.stage {
            Stage::Connected | Stage::Ready => Ok(()),
            _ => Err(ClientError::WrongState {
                command,
                needs: "a 220 greeting",
            }),
        }
    }

    /// Sends `EHLO` (or `LHLO` with [`ClientConfig::lmtp`](super::ClientConfig::lmtp))
    /// with the configured hostname (RFC 5321 §4.1.1.1, RFC 2033 §4.1).
    ///
    /// Concludes with [`Event::Ready`] or [`Event::HelloRefused`]. On `500`/`502` to
    /// EHLO the machine sends `HELO` itself (RFC 5321 §4.1.4) when the hostname is a
    /// domain. Allowed after the greeting and again later (e.g. after STARTTLS), outside
    /// a transaction.
    pub fn ehlo(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.ehlo_at()).map_err(|e| Misuse::new("ehlo", e, ()))
    }

    fn ehlo_at(&mut self) -> Result<(), ClientError> {
        self.check_greeted("EHLO")?;
        let (cmd, hello) = if self.config.lmtp {
            (Command::Lhlo(self.config.hostname.clone()), Hello::Lhlo)
        } else {
            (Command::Ehlo(self.config.hostname.clone()), Hello::Ehlo)
        };
        let line = Self::encode_command(&cmd)?;
        self.send(&line, Expect::Hello(hello));
        Ok(())
    }

    pub(super) fn on_hello(&mut self, hello: Hello, reply: Reply) {
        if reply.code.class() == 2 {
            let extended = hello != Hello::Helo;
            self.capabilities = if extended {
                Capabilities::from_ehlo_reply(&reply)
            } else {
                Capabilities::default()
            };
            self.extended = extended;
            self.stage = Stage::Ready;
            self.emit(Event::Ready {
                capabilities: self.capabilities.clone(),
                extended,
            });
            return;
        }
        let not_recognised = matches!(reply.code.get(), 500 | 502);
        if hello == Hello::Ehlo
            && not_recognised
            && let Host::Domain(d) = &self.config.hostname
            && let Ok(line) = Self::encode_command(&Command::Helo(d.clone()))
        {
            self.send(&line, Expect::Hello(Hello::Helo));
            return;
        }
        // The server's view of the session is unknown now: start over from EHLO.
        self.stage = Stage::Connected;
        self.capabilities = Capabilities::default();
        self.extended = false;
        self.emit(Event::HelloRefused(reply));
    }

    /// Sends `STARTTLS` (RFC 3207 §4). Needs a successful EHLO that advertised
    /// STARTTLS, and no TLS yet.
    ///
    /// On `220` the machine discards any plaintext that followed the reply (reported as
    /// [`Event::TlsInjection`]) and [`Machine::io`](crate::Machine::io) becomes
    /// [`Io::AwaitingTls`](crate::Io::AwaitingTls); after the handshake the adapter calls
    /// `tls_established()`, [`Event::TlsReady`] follows and the caller must EHLO again.
    /// Any other reply gives [`Event::StartTlsRefused`]: the machine never goes on in
    /// plaintext by itself, the caller decides.
    pub fn starttls(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.starttls_at())
            .map_err(|e| Misuse::new("starttls", e, ()))
    }

    fn starttls_at(&mut self) -> Result<(), ClientError> {
        self.check_idle()?;
        if self.tls_active {
            return Err(ClientError::AlreadyTls);
        }
        self.check_ehlo("STARTTLS")?;
        if !self.capabilities.starttls {
            return Err(ClientError::NotAdvertised {
                extension: "STARTTLS",
            });
        }
        self.send(b"STARTTLS\r\n", Expect::StartTls);
        Ok(())
    }

    fn check_ehlo(&self, command: &'static str) -> Result<(), ClientError> {
        if self.stage == Stage::Ready && self.extended {
            Ok(())
        } else {
            Err(ClientError::WrongState {
                command,
                needs: "a successful EHLO",
            })
        }
    }

    pub(super) fn on_starttls(&mut self, reply: Reply) {
        if reply.code != ReplyCode::SERVICE_READY {
            self.emit(Event::StartTlsRefused(reply));
            return;
        }
        // Plaintext after the 220 is dropped unread and reported once, with what is
        // fed before the handshake completes (response injection, CVE-2021-22947
        // class).
        self.stage = Stage::AwaitingTls;
        self.k.start_tls();
    }

    /// Starts an AUTH exchange (RFC 4954 §4) with a mechanism the server advertised.
    ///
    /// The initial response goes on the AUTH line when the line fits 512 octets, else it
    /// answers the server's empty `334`. Challenges are base64-decoded and answered
    /// through [`ClientAuth`]; an undecodable challenge, one the mechanism cannot answer,
    /// or more than [`max_auth_rounds`](super::ClientConfig::max_auth_rounds) of them are
    /// answered `*` (cancel). Concludes with [`Event::Authenticated`] or
    /// [`Event::AuthFailed`].
    ///
    /// Refused: before EHLO, after a successful AUTH, inside a transaction, for a
    /// mechanism not advertised, or for PLAIN/LOGIN/XOAUTH2/OAUTHBEARER without TLS
    /// ([`ClientError::NeedsTls`]); [`Client::auth_forced`] skips the last two checks.
    pub fn auth(&mut self, now: Instant, auth: ClientAuth) -> Result<(), Refused<ClientAuth>> {
        crate::kernel::answer(self, now, |m| m.auth_at(auth))
    }

    fn auth_at(&mut self, auth: ClientAuth) -> Result<(), Refused<ClientAuth>> {
        self.start_auth(auth, false)
    }

    /// [`Client::auth`] without checking the advertised mechanisms nor TLS: for servers
    /// that accept mechanisms they do not list, or a deliberate plaintext login.
    pub fn auth_forced(
        &mut self,
        now: Instant,
        auth: ClientAuth,
    ) -> Result<(), Refused<ClientAuth>> {
        crate::kernel::answer(self, now, |m| m.auth_forced_at(auth))
    }

    fn auth_forced_at(&mut self, auth: ClientAuth) -> Result<(), Refused<ClientAuth>> {
        self.start_auth(auth, true)
    }

    fn start_auth(&mut self, auth: ClientAuth, forced: bool) -> Result<(), Refused<ClientAuth>> {
        if let Err(e) = self.auth_allowed(&auth, forced) {
            return Err(Misuse::new("auth", e, auth));
        }
        let exchange = sasl::ClientExchange::new(auth, self.config.max_auth_rounds);
        let initial_response =
            exchange
                .initial_argument(AUTH_LINE_MAX)
                .map(|ir| match ir.expose().as_str() {
                    "=" => InitialResponse::Empty,
                    text => InitialResponse::Base64(String::from(text)),
                });
        let line = Self::encode_command(&Command::Auth {
            mechanism: String::from(exchange.mechanism().name()),
            initial_response,
        });
        match line {
            Err(e) => Err(Misuse::new("auth", e, exchange.into_auth())),
            Ok(mut line) => {
                self.auth = Some(exchange);
                self.send(&line, Expect::Auth);
                // It may hold the initial response.
                line.zeroize();
                Ok(())
            }
        }
    }

    fn auth_allowed(&self, auth: &ClientAuth, forced: bool) -> Result<(), ClientError> {
        self.check_idle()?;
        self.check_ehlo("AUTH")?;
        if self.authenticated {
            return Err(ClientError::AlreadyAuthenticated);
        }
        if !forced {
            if !self.capabilities.supports_auth(auth.mechanism().name()) {
                return Err(ClientError::MechanismNotAdvertised);
            }
            if auth.mechanism().needs_tls() && !self.tls_active {
                return Err(ClientError::NeedsTls);
            }
        }
        Ok(())
    }

    pub(super) fn on_auth(&mut self, reply: Reply) {
        if reply.code != ReplyCode::AUTH_CHALLENGE {
            self.auth = None;
            if reply.code.class() == 2 {
                self.authenticated = true;
                self.emit(Event::Authenticated);
            } else {
                self.emit(Event::AuthFailed(reply));
            }
            return;
        }
        let Some(exchange) = self.auth.as_mut() else {
            self.protocol_error(ProtocolError::UnexpectedReply(reply));
            return;
        };
        if exchange.is_cancelled() {
            self.protocol_error(ProtocolError::AuthNotCancelled);
            return;
        }
        let text = reply.lines.first().map_or("", String::as_str);
        let mut line = Vec::new();
        // A challenge the mechanism cannot answer is cancelled with "*"; the server
        // answers 501 (RFC 4954 §4) and AuthFailed reports it.
        let _ = exchange.answer(text.as_bytes(), &mut line);
        if let Some(t) = self.k.transcript.as_mut() {
            t.sent_secret();
        }
        self.k.out.push(&line);
        line.zeroize();
        self.expect.push_front(Expect::Auth);
    }

    /// Sends `RSET` (RFC 5321 §4.1.1.5); concludes with [`Event::Reset`]. Allowed after
    /// the greeting, outside a transaction (the machine resets failed transactions
    /// itself).
    pub fn rset(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.rset_at()).map_err(|e| Misuse::new("rset", e, ()))
    }

    fn rset_at(&mut self) -> Result<(), ClientError> {
        self.check_greeted("RSET")?;
        self.send(b"RSET\r\n", Expect::Rset { internal: false });
        Ok(())
    }

    /// Sends `NOOP` (RFC 5321 §4.1.1.9); concludes with [`Event::Noop`].
    pub fn noop(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.noop_at()).map_err(|e| Misuse::new("noop", e, ()))
    }

    fn noop_at(&mut self) -> Result<(), ClientError> {
        self.check_greeted("NOOP")?;
        self.send(b"NOOP\r\n", Expect::Noop);
        Ok(())
    }

    /// Sends `VRFY string` (RFC 5321 §4.1.1.6); concludes with [`Event::Verify`].
    pub fn vrfy(&mut self, now: Instant, what: String) -> Result<(), Refused<String>> {
        crate::kernel::answer(self, now, |m| m.vrfy_at(what))
    }

    fn vrfy_at(&mut self, what: String) -> Result<(), Refused<String>> {
        let line = self
            .check_greeted("VRFY")
            .and_then(|()| Self::encode_command(&Command::Vrfy(what.clone())));
        match line {
            Ok(line) => {
                self.send(&line, Expect::Vrfy);
                Ok(())
            }
            Err(e) => Err(Misuse::new("vrfy", e, what)),
        }
    }

    /// Sends `QUIT` (RFC 5321 §4.1.1.10); the reply (`221`) gives [`Event::Closed`].
    /// Allowed whenever no reply is outstanding and no body is being sent, including
    /// after a refused greeting (RFC 5321 §3.1: the client should QUIT after a 554).
    pub fn quit(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.quit_at()).map_err(|e| Misuse::new("quit", e, ()))
    }

    fn quit_at(&mut self) -> Result<(), ClientError> {
        self.check_idle()?;
        if self.stage == Stage::Greeting {
            return Err(ClientError::Busy);
        }
        self.send(b"QUIT\r\n", Expect::Quit);
        Ok(())
    }
}
