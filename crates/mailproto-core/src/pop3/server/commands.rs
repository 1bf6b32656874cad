//! Command handling: one framed line in, one response (or one question for the
//! application) out.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::event::{CloseReason, Event, ProtocolError, State};
use super::maildrop::{Lookup, OpenMaildrop};
use super::{Pending, Server, Stage};
use crate::line::LineError;
use crate::pop3::table;
use crate::pop3::{
    Capabilities, Capability, Command, DropListing, ResponseCode, ScanListing, Status,
    UniqueIdListing,
};

/// `n message` / `n messages`.
pub(super) fn messages(n: u32) -> String {
    if n == 1 {
        String::from("1 message")
    } else {
        format!("{n} messages")
    }
}

/// What a TRANSACTION command leads to, once the maildrop is no longer borrowed.
enum Next {
    Done,
    Refuse(ProtocolError),
    Retrieve {
        msg: u32,
        top: Option<u32>,
        size: u64,
    },
    Quit,
}

impl Server {
    /// Handle one complete line.
    pub(super) fn handle_line(&mut self, line: &[u8]) {
        if let Some(auth) = self.sasl.as_mut() {
            let step = auth.step(line);
            self.sasl_step(step);
            return;
        }
        match Command::parse(line, &self.config.limits) {
            Ok(command) => self.command(command),
            Err(e) => {
                self.user = None;
                self.refuse(ProtocolError::Parse(e));
            }
        }
    }

    /// A line the framing refused (too long, bare CR/LF). It also ends a SASL exchange,
    /// or the USER that a PASS should have followed.
    pub(super) fn line_error(&mut self, error: LineError) {
        self.sasl = None;
        self.user = None;
        self.refuse(ProtocolError::Line(error));
    }

    /// Answer `-ERR` for a refused command and count it (RFC 1939 §3); the one that
    /// reaches [`max_errors`](super::ServerConfig::max_errors) closes.
    pub(super) fn refuse(&mut self, error: ProtocolError) {
        let text = error.to_string();
        self.refuse_with(error, text);
    }

    pub(super) fn refuse_with(&mut self, error: ProtocolError, text: String) {
        let status = match error {
            ProtocolError::PlaintextRefused => Status::err(text).with_code(ResponseCode::Auth),
            _ => Status::err(text),
        };
        self.k.emit(Event::ProtocolError { error });
        if self.errors.bump() {
            self.err("Too many bad commands, closing connection");
            self.close(CloseReason::TooManyErrors);
        } else {
            self.send(&status);
        }
    }

    fn wrong_state(&mut self, command: &Command) {
        self.refuse(ProtocolError::WrongState {
            command: String::from(command.keyword()),
            state: self.state(),
        });
    }

    pub(super) fn unsupported(&mut self, command: impl Into<String>) {
        self.refuse(ProtocolError::Unsupported {
            command: command.into(),
        });
    }

    fn command(&mut self, command: Command) {
        // PASS must come right after USER (RFC 1939 §7).
        let user = self.user.take();
        let state = match self.stage {
            Stage::Authorization => table::State::Authorization,
            Stage::Transaction(_) => table::State::Transaction,
            Stage::Update { .. } | Stage::Closed => return,
        };
        // The protocol table says where each command is valid (RFC 1939 §3).
        if let Some(verb) = command.verb()
            && !table::valid(verb, state)
        {
            return self.wrong_state(&command);
        }
        if self.config.ask_commands && asked(&command, &self.stage) {
            self.k.emit(Event::Command {
                command: command.clone(),
            });
            self.pending = Pending::Command(command);
            return;
        }
        self.run(command, user);
    }

    /// Carry out a command that passed the checks (and was allowed, if asked about).
    pub(super) fn run(&mut self, command: Command, user: Option<String>) {
        match (&self.stage, command) {
            (_, Command::Capa) => self.capa(),
            (Stage::Authorization, Command::Quit) => {
                let text = self.config.signoff.clone();
                self.ok(text);
                self.close(CloseReason::Quit);
            }
            (Stage::Authorization, command) => self.authorization(command, user),
            (Stage::Transaction(_), command) => self.transaction(command),
            (Stage::Update { .. } | Stage::Closed, _) => {}
        }
    }

    fn authorization(&mut self, command: Command, user: Option<String>) {
        match command {
            Command::User(name) => {
                if self.plaintext_ok() {
                    // Always +OK: the answer must not tell whether the user exists.
                    self.user = Some(name);
                    self.ok("send PASS");
                } else {
                    self.refuse_plaintext();
                }
            }
            Command::Pass(password) => match user {
                None => self.refuse(ProtocolError::PassWithoutUser),
                Some(_) if !self.plaintext_ok() => self.refuse_plaintext(),
                Some(user) => {
                    self.login_name = Some(user.clone());
                    self.ask_login(Event::Login { user, password });
                }
            },
            Command::Apop { name, digest } => match self.apop_timestamp.clone() {
                Some(timestamp) => {
                    self.login_name = Some(name.clone());
                    self.ask_login(Event::Apop {
                        user: name,
                        digest,
                        timestamp,
                    });
                }
                None => self.unsupported("APOP"),
            },
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(&mechanism, initial_response),
            Command::AuthList => {
                let mechanisms = self.mechanisms();
                self.ok("Supported SASL mechanisms follow");
                for m in mechanisms {
                    self.k.out.buf().extend_from_slice(m.name().as_bytes());
                    self.k.out.buf().extend_from_slice(b"\r\n");
                }
                self.k.out.buf().extend_from_slice(b".\r\n");
            }
            Command::Stls => self.stls(),
            Command::Utf8 if self.config.utf8 => {
                self.utf8_enabled = true;
                self.ok("UTF8 enabled");
            }
            Command::Utf8 | Command::Lang(_) => self.unsupported(command.keyword()),
            Command::Unknown { keyword, .. } => self.unsupported(keyword),
            // Refused by the table (TRANSACTION commands) or handled before this point
            // (CAPA, QUIT).
            _ => self.wrong_state(&command),
        }
    }

    pub(super) fn ask_login(&mut self, event: Event) {
        self.k.emit(event);
        self.pending = Pending::Login;
    }

    fn capa(&mut self) {
        let mut caps = Capabilities::new();
        caps.insert(Capability::Top);
        if self.plaintext_ok() {
            caps.insert(Capability::User);
        }
        let mechanisms = self.mechanisms();
        if !mechanisms.is_empty() {
            caps.insert(Capability::Sasl(
                mechanisms.iter().map(|m| String::from(m.name())).collect(),
            ));
        }
        caps.insert(Capability::RespCodes);
        caps.insert(Capability::AuthRespCode);
        if self.config.pipelining {
            caps.insert(Capability::Pipelining);
        }
        if let Some(expiry) = self.config.expire {
            caps.insert(Capability::Expire {
                expiry,
                per_user: false,
            });
        }
        if let Some(seconds) = self.config.login_delay {
            caps.insert(Capability::LoginDelay {
                seconds,
                per_user: false,
            });
        }
        caps.insert(Capability::Uidl);
        if let Some(text) = &self.config.implementation {
            caps.insert(Capability::Implementation(text.clone()));
        }
        if self.stls_available() {
            caps.insert(Capability::Stls);
        }
        if self.config.utf8 {
            caps.insert(Capability::Utf8 { user: false });
        }
        self.ok("Capability list follows");
        for cap in &caps {
            // A capability that cannot be written (a CR in the IMPLEMENTATION text) is
            // left out; the encoder leaves the buffer as it was.
            let _ = cap.encode(self.k.out.buf());
        }
        self.k.out.buf().extend_from_slice(b".\r\n");
    }

    fn transaction(&mut self, command: Command) {
        let Stage::Transaction(session) = &mut self.stage else {
            return;
        };
        let from = self.k.out.queued().len();
        let next = transaction_command(session, &command, self.k.out.buf());
        self.k.record_sent(from, false);
        match next {
            Next::Done => {}
            Next::Refuse(error) => self.refuse(error),
            Next::Retrieve { msg, top, size } => {
                self.k.emit(Event::Retrieve {
                    msg,
                    top_lines: top,
                });
                self.pending = Pending::MessageStart { top, size };
            }
            Next::Quit => {
                let deleted = session.deleted();
                let left = session.stat().0;
                self.stage = Stage::Update { left };
                self.pending = Pending::Update;
                self.k.emit(Event::Update { deleted });
            }
        }
    }
}

/// Whether the application is asked about `command` under
/// [`ServerConfig::ask_commands`](super::ServerConfig::ask_commands).
fn asked(command: &Command, stage: &Stage) -> bool {
    match command {
        Command::User(_) | Command::Capa => true,
        Command::Stat
        | Command::List(_)
        | Command::Uidl(_)
        | Command::Dele(_)
        | Command::Noop
        | Command::Rset => matches!(stage, Stage::Transaction(_)),
        _ => false,
    }
}

/// A TRANSACTION command answered from the maildrop (RFC 1939 §§5, 7).
fn transaction_command(session: &mut OpenMaildrop, command: &Command, out: &mut Vec<u8>) -> Next {
    let send = |out: &mut Vec<u8>, status: Status| {
        if status.encode(out).is_err() {
            out.extend_from_slice(b"-ERR\r\n");
        }
    };
    let lookup_failed = |out: &mut Vec<u8>, msg: u32, e: Lookup| {
        let text = match e {
            Lookup::NoSuchMessage { count } => {
                format!("no such message, only {} in maildrop", messages(count))
            }
            Lookup::Deleted => format!("message {msg} already deleted"),
        };
        send(out, Status::err(text));
    };
    match command {
        Command::Stat => {
            let (count, size) = session.stat();
            send(out, DropListing { count, size }.to_status());
        }
        Command::List(None) => {
            let (count, size) = session.stat();
            send(
                out,
                Status::ok(format!("{} ({size} octets)", messages(count))),
            );
            for (msg, info) in session.live() {
                let _ = ScanListing {
                    msg,
                    size: info.size,
                }
                .encode_line(out);
            }
            out.extend_from_slice(b".\r\n");
        }
        Command::List(Some(msg)) => match session.get(*msg) {
            Ok(info) => {
                let _ = ScanListing {
                    msg: *msg,
                    size: info.size,
                }
                .encode_status(out);
            }
            Err(e) => lookup_failed(out, *msg, e),
        },
        Command::Uidl(None) => {
            send(out, Status::ok("unique-id listing follows"));
            for (msg, info) in session.live() {
                let _ = UniqueIdListing {
                    msg,
                    uid: info.uid.clone(),
                }
                .encode_line(out);
            }
            out.extend_from_slice(b".\r\n");
        }
        Command::Uidl(Some(msg)) => match session.get(*msg) {
            Ok(info) => {
                let _ = UniqueIdListing {
                    msg: *msg,
                    uid: info.uid.clone(),
                }
                .encode_status(out);
            }
            Err(e) => lookup_failed(out, *msg, e),
        },
        Command::Retr(msg) | Command::Top { msg, .. } => match session.get(*msg) {
            Ok(info) => {
                let top = match command {
                    Command::Top { lines, .. } => Some(*lines),
                    _ => None,
                };
                return Next::Retrieve {
                    msg: *msg,
                    top,
                    size: info.size,
                };
            }
            Err(e) => lookup_failed(out, *msg, e),
        },
        Command::Dele(msg) => match session.delete(*msg) {
            Ok(()) => send(out, Status::ok(format!("message {msg} deleted"))),
            Err(e) => lookup_failed(out, *msg, e),
        },
        Command::Noop => send(out, Status::ok("")),
        Command::Rset => {
            session.reset();
            let (count, size) = session.stat();
            send(
                out,
                Status::ok(format!("maildrop has {} ({size} octets)", messages(count))),
            );
        }
        Command::Quit => return Next::Quit,
        Command::Unknown { keyword, .. } => {
            return Next::Refuse(ProtocolError::Unsupported {
                command: keyword.clone(),
            });
        }
        Command::Lang(_) => {
            return Next::Refuse(ProtocolError::Unsupported {
                command: String::from("LANG"),
            });
        }
        // Refused by the table (AUTHORIZATION commands) or handled before (CAPA).
        _ => {
            return Next::Refuse(ProtocolError::WrongState {
                command: String::from(command.keyword()),
                state: State::Transaction,
            });
        }
    }
    Next::Done
}
