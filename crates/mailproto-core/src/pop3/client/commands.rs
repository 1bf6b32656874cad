//! The commands the application issues (RFC 1939 §§4-7, RFC 2449 §5, RFC 2595 §4,
//! RFC 5034 §4, RFC 6856 §2.1).
//!
//! Each method checks that the command may be issued now, encodes it (CR, LF and NUL in
//! an argument are refused by [`Command::encode`]) and queues it; nothing changes when it
//! returns an error.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use zeroize::Zeroize;

use super::{Client, ClientError, CommandKind, Expect, Phase, Refused, Stage};
use crate::machine::Misuse;
use crate::pop3::table;
use crate::pop3::{Command, Secret, apop_digest};
use crate::sasl::{self, ClientAuth};
use crate::time::Instant;

impl Client {
    /// `CAPA` (RFC 2449 §5): answered by [`Event::Capabilities`](super::Event), which
    /// the client also keeps (see [`Client::capabilities`]); a `-ERR` puts the client in
    /// probe mode ([`Client::capa_unsupported`]). Valid in any state.
    pub fn capa(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.capa_at()).map_err(|e| Misuse::new("capa", e, ()))
    }

    fn capa_at(&mut self) -> Result<(), ClientError> {
        self.issue(CommandKind::Capa, &Command::Capa)
    }

    /// `STLS` (RFC 2595 §4). On `+OK` the client throws away any plaintext still held,
    /// and [`io`](crate::Machine::io) becomes [`Io::AwaitingTls`](crate::Io). No command
    /// may be issued after it until TLS is up. Refused when TLS is already active, after
    /// UTF8 (RFC 6856 §2.1), and in TRANSACTION state.
    pub fn stls(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.stls_at()).map_err(|e| Misuse::new("stls", e, ()))
    }

    fn stls_at(&mut self) -> Result<(), ClientError> {
        self.check(CommandKind::Stls)?;
        if self.tls_active {
            return Err(ClientError::TlsAlreadyActive);
        }
        if self.utf8_issued {
            return Err(ClientError::StlsAfterUtf8);
        }
        self.issue(CommandKind::Stls, &Command::Stls)
    }

    /// `USER name` (RFC 1939 §7), in AUTHORIZATION state. The name is one token: no
    /// spaces or control characters.
    pub fn user(&mut self, now: Instant, name: &str) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.user_at(name))
            .map_err(|e| Misuse::new("user", e, ()))
    }

    fn user_at(&mut self, name: &str) -> Result<(), ClientError> {
        self.issue(CommandKind::User, &Command::User(name.to_owned()))
    }

    /// `PASS string` (RFC 1939 §7), right after [`Client::user`]. Spaces are allowed;
    /// control characters are not. `+OK` gives [`Event::LoggedIn`](super::Event).
    pub fn pass(&mut self, now: Instant, password: &Secret) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.pass_at(password))
            .map_err(|e| Misuse::new("pass", e, ()))
    }

    fn pass_at(&mut self, password: &Secret) -> Result<(), ClientError> {
        self.check(CommandKind::Pass)?;
        if self.last_issued != Some(CommandKind::User) {
            return Err(ClientError::PassWithoutUser);
        }
        self.issue(CommandKind::Pass, &Command::Pass(password.clone()))
    }

    /// `APOP name digest` (RFC 1939 §7): the digest is computed from the greeting's
    /// timestamp and `secret`. Refused when the greeting had no timestamp.
    pub fn apop(&mut self, now: Instant, name: &str, secret: &Secret) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.apop_at(name, secret))
            .map_err(|e| Misuse::new("apop", e, ()))
    }

    fn apop_at(&mut self, name: &str, secret: &Secret) -> Result<(), ClientError> {
        self.check(CommandKind::Apop)?;
        let Some(timestamp) = self.apop_timestamp.as_deref() else {
            return Err(ClientError::NoApopTimestamp);
        };
        let digest = apop_digest(timestamp, secret.expose().as_bytes());
        let command = Command::Apop {
            name: name.to_owned(),
            digest,
        };
        self.issue(CommandKind::Apop, &command)
    }

    /// `AUTH mechanism [initial-response]` (RFC 5034 §4), driving the whole SASL
    /// exchange: the initial response goes on the command line only when the line fits
    /// in [`Limits::command_line`](crate::pop3::Limits::command_line) octets (255),
    /// otherwise it follows the server's empty challenge; each `+ ` challenge is answered
    /// by `auth`, and one that cannot be answered cancels the exchange with `*`
    /// ([`Event::AuthCancelled`](super::Event)). `+OK` gives
    /// [`Event::LoggedIn`](super::Event).
    ///
    /// On error the exchange is handed back unused.
    #[allow(
        clippy::result_large_err,
        reason = "the error hands the exchange back, as large as the argument that came in"
    )]
    pub fn auth(&mut self, now: Instant, auth: ClientAuth) -> Result<(), Refused<ClientAuth>> {
        crate::kernel::answer(self, now, |m| m.auth_at(auth))
    }

    fn auth_at(&mut self, auth: ClientAuth) -> Result<(), Refused<ClientAuth>> {
        if let Err(error) = self.check(CommandKind::Auth) {
            return Err(Misuse::new("auth", error, auth));
        }
        let exchange = sasl::ClientExchange::new(auth, self.config.max_auth_rounds);
        let mechanism = String::from(exchange.mechanism().name());
        let mut line = crate::secret::Secret::new(Vec::new());
        if let Some(encoded) = exchange.initial_argument(self.config.limits.command_line) {
            // The command type holds the empty response as "" (written `=`).
            let encoded = match encoded.expose().as_str() {
                "=" => Secret::default(),
                _ => encoded,
            };
            let command = Command::Auth {
                mechanism: mechanism.clone(),
                initial_response: Some(encoded),
            };
            if command.encode(line.expose_mut()).is_err() {
                line.expose_mut().zeroize();
                line.expose_mut().clear();
            }
        }
        if line.expose().is_empty() {
            let command = Command::Auth {
                mechanism,
                initial_response: None,
            };
            if let Err(error) = command.encode(line.expose_mut()) {
                let error = ClientError::Encode {
                    command: CommandKind::Auth,
                    error,
                };
                return Err(Misuse::new("auth", error, exchange.into_auth()));
            }
        }
        let sasl = exchange;
        self.enqueue(CommandKind::Auth, line, Some(sasl));
        Ok(())
    }

    /// `AUTH` without argument: asks for the SASL mechanisms, answered by
    /// [`Event::SaslMechanisms`](super::Event). Pre-CAPA servers (RFC 1734 era) answer
    /// it; prefer [`Client::capa`].
    pub fn auth_list(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.auth_list_at())
            .map_err(|e| Misuse::new("auth_list", e, ()))
    }

    fn auth_list_at(&mut self) -> Result<(), ClientError> {
        self.issue(CommandKind::AuthList, &Command::AuthList)
    }

    /// `UTF8` (RFC 6856 §2.1), in AUTHORIZATION state. STLS may not follow it.
    pub fn utf8(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.utf8_at()).map_err(|e| Misuse::new("utf8", e, ()))
    }

    fn utf8_at(&mut self) -> Result<(), ClientError> {
        self.issue(CommandKind::Utf8, &Command::Utf8)
    }

    /// `STAT` (RFC 1939 §5): answered by [`Event::Stat`](super::Event).
    pub fn stat(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.stat_at()).map_err(|e| Misuse::new("stat", e, ()))
    }

    fn stat_at(&mut self) -> Result<(), ClientError> {
        self.issue(CommandKind::Stat, &Command::Stat)
    }

    /// `LIST [msg]` (RFC 1939 §5): answered by [`Event::ScanList`](super::Event) without
    /// argument, [`Event::Scan`](super::Event) with one.
    pub fn list(&mut self, now: Instant, msg: Option<u32>) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.list_at(msg)).map_err(|e| Misuse::new("list", e, ()))
    }

    fn list_at(&mut self, msg: Option<u32>) -> Result<(), ClientError> {
        self.issue(CommandKind::List(msg), &Command::List(msg))
    }

    /// `UIDL [msg]` (RFC 1939 §7): answered by [`Event::UidlList`](super::Event) without
    /// argument, [`Event::Uidl`](super::Event) with one.
    pub fn uidl(&mut self, now: Instant, msg: Option<u32>) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.uidl_at(msg)).map_err(|e| Misuse::new("uidl", e, ()))
    }

    fn uidl_at(&mut self, msg: Option<u32>) -> Result<(), ClientError> {
        self.issue(CommandKind::Uidl(msg), &Command::Uidl(msg))
    }

    /// `RETR msg` (RFC 1939 §5): answered by `MessageStart`, `MessageData`...,
    /// `MessageEnd` (see [`Event`](super::Event)).
    pub fn retr(&mut self, now: Instant, msg: u32) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.retr_at(msg)).map_err(|e| Misuse::new("retr", e, ()))
    }

    fn retr_at(&mut self, msg: u32) -> Result<(), ClientError> {
        self.issue(CommandKind::Retr(msg), &Command::Retr(msg))
    }

    /// `TOP msg lines` (RFC 1939 §7): the headers and the first `lines` body lines,
    /// answered like [`Client::retr`].
    pub fn top(&mut self, now: Instant, msg: u32, lines: u32) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.top_at(msg, lines))
            .map_err(|e| Misuse::new("top", e, ()))
    }

    fn top_at(&mut self, msg: u32, lines: u32) -> Result<(), ClientError> {
        self.issue(
            CommandKind::Top { msg, lines },
            &Command::Top { msg, lines },
        )
    }

    /// `DELE msg` (RFC 1939 §5).
    pub fn dele(&mut self, now: Instant, msg: u32) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.dele_at(msg)).map_err(|e| Misuse::new("dele", e, ()))
    }

    fn dele_at(&mut self, msg: u32) -> Result<(), ClientError> {
        self.issue(CommandKind::Dele(msg), &Command::Dele(msg))
    }

    /// `RSET` (RFC 1939 §5).
    pub fn rset(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.rset_at()).map_err(|e| Misuse::new("rset", e, ()))
    }

    fn rset_at(&mut self) -> Result<(), ClientError> {
        self.issue(CommandKind::Rset, &Command::Rset)
    }

    /// `NOOP` (RFC 1939 §5).
    pub fn noop(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.noop_at()).map_err(|e| Misuse::new("noop", e, ()))
    }

    fn noop_at(&mut self) -> Result<(), ClientError> {
        self.issue(CommandKind::Noop, &Command::Noop)
    }

    /// `QUIT` (RFC 1939 §§4, 6): valid in any state; no command may follow. Its answer
    /// (`Ok` or `Err`: some deletions failed) is followed by `Closed`.
    pub fn quit(&mut self, now: Instant) -> Result<(), Refused<()>> {
        crate::kernel::answer(self, now, |m| m.quit_at()).map_err(|e| Misuse::new("quit", e, ()))
    }

    fn quit_at(&mut self) -> Result<(), ClientError> {
        self.issue(CommandKind::Quit, &Command::Quit)
    }

    /// Check, encode and queue a command.
    fn issue(&mut self, kind: CommandKind, command: &Command) -> Result<(), ClientError> {
        self.check(kind)?;
        let mut line = crate::secret::Secret::new(Vec::new());
        command
            .encode(line.expose_mut())
            .map_err(|error| ClientError::Encode {
                command: kind,
                error,
            })?;
        self.enqueue(kind, line, None);
        Ok(())
    }

    fn enqueue(
        &mut self,
        kind: CommandKind,
        line: crate::secret::Secret<Vec<u8>>,
        sasl: Option<sasl::ClientExchange>,
    ) {
        let len = line.expose().len();
        self.queue.push_back(Expect {
            kind,
            line,
            len,
            sasl,
        });
        self.last_issued = Some(kind);
        if kind == CommandKind::Utf8 {
            self.utf8_issued = true;
        }
        self.send_ready();
    }

    /// Whether `kind` may be issued now (RFC 1939 §3 states; see [`ClientError`]).
    fn check(&self, kind: CommandKind) -> Result<(), ClientError> {
        match self.phase {
            Phase::Closed => return Err(ClientError::Closed),
            Phase::AwaitingTls => return Err(ClientError::TlsPending),
            Phase::Line | Phase::Body(_) => {}
        }
        match self.queue.back().map(|p| p.kind) {
            Some(CommandKind::Quit) => return Err(ClientError::Quitting),
            Some(CommandKind::Stls) => return Err(ClientError::TlsPending),
            _ => {}
        }
        let login_pending = self.queue.iter().any(|p| {
            matches!(
                p.kind,
                CommandKind::Pass | CommandKind::Apop | CommandKind::Auth
            )
        });
        // The protocol table says where each command is valid; TRANSACTION commands may
        // be queued behind a login that is still outstanding (RFC 2449 §6.6).
        let verb = kind.verb();
        let allowed = match self.stage {
            Stage::Transaction => table::valid(verb, table::State::Transaction),
            Stage::Greeting | Stage::Authorization => {
                table::valid(verb, table::State::Authorization)
                    || (login_pending && table::valid(verb, table::State::Transaction))
            }
        };
        if !allowed {
            return Err(ClientError::WrongState {
                command: kind,
                state: self.state(),
            });
        }
        let limit = self.config.max_pending;
        if self.queue.len() >= limit {
            return Err(ClientError::TooManyPending { limit });
        }
        Ok(())
    }
}
