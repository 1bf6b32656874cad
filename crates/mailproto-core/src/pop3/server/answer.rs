//! The application's answers to the server's questions (see [`Event`](super::Event)).
//!
//! Each method checks that its question is the one open; if not, or if its argument is
//! unusable, it returns a [`MisuseError`] holding the argument and changes nothing.

use alloc::format;
use alloc::string::String;

use super::commands::messages;
use super::event::{Awaiting, CloseReason, MisuseError, MisuseKind};
use super::maildrop::{Maildrop, OpenMaildrop};
use super::top::TopFilter;
use super::{Pending, Server, Stage};
use crate::dot::{BareLineEnding, DotEncoder};
use crate::pop3::{ResponseCode, Status};
use crate::time::Instant;

/// The longest user name echoed in the `+OK` of a login (RFC 1939 §3 arguments are at
/// most 40 characters).
const MAX_ECHOED_NAME: usize = 40;

impl Server {
    /// `Err` unless the machine waits for `awaiting`.
    fn expect(&self, awaiting: Awaiting) -> Result<(), MisuseKind> {
        match self.awaiting() {
            now if now == awaiting => Ok(()),
            now => Err(MisuseKind::NotAwaited { awaiting: now }),
        }
    }

    /// Check that `status` is a writable `-ERR`.
    fn check_err(status: &Status) -> Result<(), MisuseKind> {
        if status.is_ok() {
            return Err(MisuseKind::PositiveStatus);
        }
        status
            .encode(&mut alloc::vec::Vec::new())
            .map_err(MisuseKind::InvalidStatus)
    }

    /// The login succeeded and the maildrop is locked (RFC 1939 §4): `+OK name's
    /// maildrop has N messages (M octets)` and the TRANSACTION state. The machine
    /// answers STAT, LIST, UIDL, DELE, RSET and NOOP from `maildrop` from now on.
    pub fn login_ok(
        &mut self,
        now: Instant,
        maildrop: Maildrop,
    ) -> Result<(), MisuseError<Maildrop>> {
        crate::kernel::answer(self, now, |m| m.login_ok_at(maildrop))
    }

    fn login_ok_at(&mut self, maildrop: Maildrop) -> Result<(), MisuseError<Maildrop>> {
        if let Err(kind) = self.expect(Awaiting::Login) {
            return Err(MisuseError::new("login_ok", kind, maildrop));
        }
        let session = OpenMaildrop::new(maildrop);
        let (count, size) = session.stat();
        let owner = match self.login_name.take() {
            Some(name) if echoable(&name) => format!("{name}'s maildrop"),
            _ => String::from("maildrop"),
        };
        self.ok(format!("{owner} has {} ({size} octets)", messages(count)));
        self.stage = Stage::Transaction(session);
        self.k.timers.logged_in();
        self.pending = Pending::Nothing;
        self.process();
        Ok(())
    }

    /// The credentials are wrong: `-ERR [AUTH]` (RFC 3206 §5). Counts toward
    /// [`max_auth_failures`](super::ServerConfig::max_auth_failures); the failure that
    /// reaches it closes the session.
    pub fn login_failed(&mut self, now: Instant) -> Result<(), MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.login_failed_at())
    }

    fn login_failed_at(&mut self) -> Result<(), MisuseError<()>> {
        if let Err(kind) = self.expect(Awaiting::Login) {
            return Err(MisuseError::new("login_failed", kind, ()));
        }
        self.pending = Pending::Nothing;
        self.login_name = None;
        if self.auth_failures.bump() {
            self.send(
                &Status::err("Authentication failed; too many failures, closing connection")
                    .with_code(ResponseCode::Auth),
            );
            self.close(CloseReason::TooManyAuthFailures);
        } else {
            self.send(&Status::err("Authentication failed").with_code(ResponseCode::Auth));
            self.process();
        }
        Ok(())
    }

    /// The credentials are right but the maildrop is locked by another session:
    /// `-ERR [IN-USE]` (RFC 2449 §8.1.2). The session stays in AUTHORIZATION.
    pub fn login_in_use(&mut self, now: Instant) -> Result<(), MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.login_in_use_at())
    }

    fn login_in_use_at(&mut self) -> Result<(), MisuseError<()>> {
        if let Err(kind) = self.expect(Awaiting::Login) {
            return Err(MisuseError::new("login_in_use", kind, ()));
        }
        self.pending = Pending::Nothing;
        self.login_name = None;
        self.send(
            &Status::err("maildrop already locked by another session")
                .with_code(ResponseCode::InUse),
        );
        self.process();
        Ok(())
    }

    /// Refuse the login with any other `-ERR`, e.g. `[SYS/TEMP]` (RFC 3206 §4) or
    /// `[LOGIN-DELAY]` (RFC 2449 §8.1.1). The session stays in AUTHORIZATION; this does
    /// not count as a failed login.
    pub fn login_error(&mut self, now: Instant, status: Status) -> Result<(), MisuseError<Status>> {
        crate::kernel::answer(self, now, |m| m.login_error_at(status))
    }

    fn login_error_at(&mut self, status: Status) -> Result<(), MisuseError<Status>> {
        if let Err(kind) = self
            .expect(Awaiting::Login)
            .and_then(|()| Self::check_err(&status))
        {
            return Err(MisuseError::new("login_error", kind, status));
        }
        self.pending = Pending::Nothing;
        self.login_name = None;
        self.send(&status);
        self.process();
        Ok(())
    }

    /// The message of [`Event::Retrieve`](super::Event::Retrieve) can be read: queue `+OK <size> octets` (RETR)
    /// or `+OK top of message follows` (TOP). Its bytes follow through
    /// [`message_data`](Self::message_data).
    pub fn message_start(&mut self, now: Instant) -> Result<(), MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.message_start_at())
    }

    fn message_start_at(&mut self) -> Result<(), MisuseError<()>> {
        if let Err(kind) = self.expect(Awaiting::MessageStart) {
            return Err(MisuseError::new("message_start", kind, ()));
        }
        let Pending::MessageStart { top, size } = self.pending else {
            return Err(MisuseError::new(
                "message_start",
                MisuseKind::NotAwaited {
                    awaiting: self.awaiting(),
                },
                (),
            ));
        };
        match top {
            None => self.ok(format!("{size} octets")),
            Some(_) => self.ok("top of message follows"),
        }
        self.pending = Pending::MessageData {
            // Stored mail may use bare LF; it goes out as CRLF (RFC 1939 §3).
            encoder: DotEncoder::new(BareLineEnding::Normalize),
            top: top.map(TopFilter::new),
        };
        Ok(())
    }

    /// The next chunk of the stored message, as stored. The machine dot-stuffs it
    /// (RFC 1939 §3) and writes bare CR or LF as CRLF; the output grows by about one
    /// chunk, so take it with [`poll_transmit`](crate::Machine::poll_transmit) between
    /// chunks. Returns whether more is wanted: for TOP, `false` once the header, the
    /// blank line and the requested body lines have gone (the rest is dropped, so the
    /// caller may stop reading); then call [`message_end`](Self::message_end).
    pub fn message_data(&mut self, now: Instant, data: &[u8]) -> Result<bool, MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.message_data_at(data))
    }

    fn message_data_at(&mut self, data: &[u8]) -> Result<bool, MisuseError<()>> {
        let Pending::MessageData { encoder, top } = &mut self.pending else {
            return Err(MisuseError::new(
                "message_data",
                MisuseKind::NotAwaited {
                    awaiting: self.awaiting(),
                },
                (),
            ));
        };
        let take = match top {
            Some(filter) => filter.take(data),
            None => data.len(),
        };
        // Normalize never refuses input.
        let _ = encoder.encode(data.get(..take).unwrap_or(data), self.k.out.buf());
        Ok(!top.as_ref().is_some_and(TopFilter::is_done))
    }

    /// The whole message (or as much as TOP wants) has been given: the machine writes
    /// the terminating `.` line and goes on with the next command.
    pub fn message_end(&mut self, now: Instant) -> Result<(), MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.message_end_at())
    }

    fn message_end_at(&mut self) -> Result<(), MisuseError<()>> {
        let Pending::MessageData { encoder, .. } = &mut self.pending else {
            return Err(MisuseError::new(
                "message_end",
                MisuseKind::NotAwaited {
                    awaiting: self.awaiting(),
                },
                (),
            ));
        };
        // Normalize never refuses.
        let _ = encoder.finish(self.k.out.buf());
        self.pending = Pending::Nothing;
        self.process();
        Ok(())
    }

    /// The message of [`Event::Retrieve`](super::Event::Retrieve) cannot be read: send `status` (a `-ERR`, e.g.
    /// with `[SYS/TEMP]`) instead of it.
    pub fn message_unavailable(
        &mut self,
        now: Instant,
        status: Status,
    ) -> Result<(), MisuseError<Status>> {
        crate::kernel::answer(self, now, |m| m.message_unavailable_at(status))
    }

    fn message_unavailable_at(&mut self, status: Status) -> Result<(), MisuseError<Status>> {
        if let Err(kind) = self
            .expect(Awaiting::MessageStart)
            .and_then(|()| Self::check_err(&status))
        {
            return Err(MisuseError::new("message_unavailable", kind, status));
        }
        self.pending = Pending::Nothing;
        self.send(&status);
        self.process();
        Ok(())
    }

    /// Reading the message failed after [`message_start`](Self::message_start): a `-ERR`
    /// can no longer be sent and a terminator would pass a truncated message off as
    /// whole, so the session closes ([`CloseReason::Aborted`], no UPDATE).
    pub fn message_abort(&mut self, now: Instant) -> Result<(), MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.message_abort_at())
    }

    fn message_abort_at(&mut self) -> Result<(), MisuseError<()>> {
        match self.awaiting() {
            Awaiting::MessageStart | Awaiting::MessageData => {
                self.close(CloseReason::Aborted);
                Ok(())
            }
            awaiting => Err(MisuseError::new(
                "message_abort",
                MisuseKind::NotAwaited { awaiting },
                (),
            )),
        }
    }

    /// Every message of [`Event::Update`](super::Event::Update) was removed: `+OK <signoff> (maildrop empty)`
    /// or `(N messages left)`, and the session closes (RFC 1939 §6).
    pub fn update_done(&mut self, now: Instant) -> Result<(), MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.update_done_at())
    }

    fn update_done_at(&mut self) -> Result<(), MisuseError<()>> {
        if let Err(kind) = self.expect(Awaiting::Update) {
            return Err(MisuseError::new("update_done", kind, ()));
        }
        let left = match self.stage {
            Stage::Update { left } => left,
            _ => 0,
        };
        let signoff = &self.config.signoff;
        let text = match left {
            0 => format!("{signoff} (maildrop empty)"),
            n => format!("{signoff} ({} left)", messages(n)),
        };
        self.ok(text);
        self.close(CloseReason::Update { removed: true });
        Ok(())
    }

    /// Some messages could not be removed: send `status` (a `-ERR`; RFC 1939 §6 suggests
    /// `-ERR some deleted messages not removed`) and close.
    pub fn update_failed(
        &mut self,
        now: Instant,
        status: Status,
    ) -> Result<(), MisuseError<Status>> {
        crate::kernel::answer(self, now, |m| m.update_failed_at(status))
    }

    fn update_failed_at(&mut self, status: Status) -> Result<(), MisuseError<Status>> {
        if let Err(kind) = self
            .expect(Awaiting::Update)
            .and_then(|()| Self::check_err(&status))
        {
            return Err(MisuseError::new("update_failed", kind, status));
        }
        self.send(&status);
        self.close(CloseReason::Update { removed: false });
        Ok(())
    }
}

impl Server {
    /// The command of [`Event::Command`](super::Event::Command) may go ahead: the
    /// machine answers it as usual and goes on.
    pub fn command_allow(&mut self, now: Instant) -> Result<(), MisuseError<()>> {
        crate::kernel::answer(self, now, |m| m.command_allow_at())
    }

    fn command_allow_at(&mut self) -> Result<(), MisuseError<()>> {
        if let Err(kind) = self.expect(Awaiting::CommandAnswer) {
            return Err(MisuseError::new("command_allow", kind, ()));
        }
        if let Pending::Command(command) = core::mem::replace(&mut self.pending, Pending::Nothing) {
            self.run(command, None);
        }
        self.process();
        Ok(())
    }

    /// Refuse the command of [`Event::Command`](super::Event::Command) with `status`
    /// (a `-ERR`): it has no effect (USER remembers no name, DELE marks nothing) and the
    /// session goes on. Not counted as a client error.
    pub fn command_refuse(
        &mut self,
        now: Instant,
        status: Status,
    ) -> Result<(), MisuseError<Status>> {
        crate::kernel::answer(self, now, |m| m.command_refuse_at(status))
    }

    fn command_refuse_at(&mut self, status: Status) -> Result<(), MisuseError<Status>> {
        if let Err(kind) = self
            .expect(Awaiting::CommandAnswer)
            .and_then(|()| Self::check_err(&status))
        {
            return Err(MisuseError::new("command_refuse", kind, status));
        }
        self.pending = Pending::Nothing;
        self.send(&status);
        self.process();
        Ok(())
    }

    /// Answer the command of [`Event::Command`](super::Event::Command) with `status` (a
    /// `-ERR`) if given, then close without UPDATE ([`CloseReason::Application`]):
    /// nothing is deleted (RFC 1939 §6).
    pub fn command_close(
        &mut self,
        now: Instant,
        status: Option<Status>,
    ) -> Result<(), MisuseError<Option<Status>>> {
        crate::kernel::answer(self, now, |m| m.command_close_at(status))
    }

    fn command_close_at(
        &mut self,
        status: Option<Status>,
    ) -> Result<(), MisuseError<Option<Status>>> {
        let checked = self
            .expect(Awaiting::CommandAnswer)
            .and_then(|()| match &status {
                Some(s) => Self::check_err(s),
                None => Ok(()),
            });
        if let Err(kind) = checked {
            return Err(MisuseError::new("command_close", kind, status));
        }
        self.pending = Pending::Nothing;
        if let Some(status) = &status {
            self.send(status);
        }
        self.close(CloseReason::Application);
        Ok(())
    }
}

/// Whether a user name can be echoed in a status text: a short token of printable ASCII
/// that a client cannot mistake for a response code.
fn echoable(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ECHOED_NAME
        && !name.starts_with('[')
        && name.bytes().all(|b| (0x21..=0x7e).contains(&b))
}
