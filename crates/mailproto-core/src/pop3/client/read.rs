//! Reading the server: the greeting, status lines, SASL challenges and the
//! dot-terminated part of multi-line answers, matched in order against the commands
//! outstanding (RFC 1939 §3, RFC 2449 §6.6, RFC 5034 §4).

use alloc::string::String;
use alloc::vec::Vec;

use super::listing::{Items, Listing};
use super::{
    Body, Capa, Client, CloseReason, CommandKind, Event, Phase, ProtocolError, ResponseError, Sink,
    Stage,
};
use crate::dot::DotDecoder;
use crate::line::{BareLineEnding, LineError};
use crate::pop3::{
    Capabilities, DropListing, Greeting, ParseError, Response, ScanListing, Snippet, Status,
    UniqueIdListing,
};

impl Client {
    /// Read everything that can be read from the buffered input.
    pub(super) fn process(&mut self) {
        loop {
            let progressed = crate::kernel::step(self, |c| match c.phase {
                Phase::Line => c.step_line(),
                Phase::Body(_) => c.step_body(),
                Phase::AwaitingTls | Phase::Closed => false,
            });
            if !progressed {
                return;
            }
        }
    }

    /// Read one status line (or challenge) if a complete one is buffered.
    fn step_line(&mut self) -> bool {
        if self.k.input.is_empty() {
            return false;
        }
        let limits = &self.config.limits;
        if !self.expecting() {
            // A server answers only what was asked (RFC 1939 §3). The whole line is
            // taken so that the report does not depend on how the bytes arrived.
            self.k.input.set_max_line(limits.status_line);
            let error = match self.k.input.next_line() {
                None => return false,
                Some(Ok(line)) => ProtocolError::Unsolicited {
                    found: Snippet::from_bytes(line),
                },
                Some(Err(_)) => ProtocolError::LineTooLong {
                    limit: limits.status_line,
                },
            };
            self.close(CloseReason::Protocol(error));
            return false;
        }
        let in_auth = self.queue.front().map(|p| p.kind) == Some(CommandKind::Auth);
        let max = if in_auth {
            limits.status_line.max(limits.continuation_line)
        } else {
            limits.status_line
        };
        self.k.input.set_max_line(max);
        let line = match self.k.input.next_line() {
            None => return false,
            Some(Ok(line)) => Vec::from(line),
            Some(Err(LineError::TooLong { limit })) => {
                self.close(CloseReason::Protocol(ProtocolError::LineTooLong { limit }));
                return false;
            }
            // Not produced under `Keep`; refuse the line all the same.
            Some(Err(_)) => {
                let error = ParseError::InvalidByte {
                    byte: b'\r',
                    offset: 0,
                };
                self.protocol_error(error);
                return false;
            }
        };
        if let Some(t) = self.k.transcript.as_mut() {
            t.received(&line, line.len());
        }
        if self.stage == Stage::Greeting {
            self.on_greeting(&line);
        } else {
            self.on_response(&line);
        }
        true
    }

    fn protocol_error(&mut self, error: ParseError) {
        let error = match error {
            ParseError::LineTooLong { limit, .. } => ProtocolError::LineTooLong { limit },
            other => ProtocolError::InvalidResponse(other),
        };
        self.close(CloseReason::Protocol(error));
    }

    /// The greeting (RFC 1939 §4), with its APOP timestamp (§7).
    fn on_greeting(&mut self, line: &[u8]) {
        let greeting = match Greeting::parse(line, &self.config.limits) {
            Ok(greeting) => greeting,
            Err(e) => return self.protocol_error(e),
        };
        let apop_timestamp = greeting.apop_timestamp().map(String::from);
        let ok = greeting.status.is_ok();
        self.apop_timestamp.clone_from(&apop_timestamp);
        self.responses += 1;
        self.k.emit(Event::Greeting {
            status: greeting.status,
            apop_timestamp,
        });
        if ok {
            self.stage = Stage::Authorization;
            self.send_ready();
        } else {
            self.close(CloseReason::GreetingRejected);
        }
    }

    /// The first line of the answer to the front command.
    fn on_response(&mut self, line: &[u8]) {
        let Some(kind) = self.queue.front().map(|p| p.kind) else {
            return;
        };
        if line == b"+" || line.starts_with(b"+ ") {
            if kind == CommandKind::Auth {
                self.on_challenge(line);
            } else {
                self.close(CloseReason::Protocol(ProtocolError::UnexpectedContinuation));
            }
            return;
        }
        let status = match Status::parse(line, &self.config.limits) {
            Ok(status) => status,
            Err(e) => return self.protocol_error(e),
        };
        if !status.is_ok() {
            if kind == CommandKind::Capa {
                self.capa = Capa::Unsupported;
            }
            self.complete(Some(Event::Err {
                command: kind,
                status,
            }));
            // RFC 1939 §6: the server closes after answering QUIT, +OK or -ERR.
            if kind == CommandKind::Quit {
                self.close(CloseReason::Quit);
            }
            return;
        }
        let limits = &self.config.limits;
        let listing = |items, line_limit| {
            Sink::Listing(Listing::new(
                items,
                line_limit,
                self.config.max_listing_lines,
                limits,
            ))
        };
        let event = match kind {
            CommandKind::Capa => {
                let sink = listing(Items::Capa(Capabilities::new()), limits.capability_line);
                return self.begin_body(sink, BareLineEnding::Normalize);
            }
            CommandKind::AuthList => {
                let sink = listing(Items::Mechanisms(Vec::new()), limits.capability_line);
                return self.begin_body(sink, BareLineEnding::Normalize);
            }
            CommandKind::List(None) => {
                let sink = listing(Items::Scan(Vec::new()), limits.status_line);
                return self.begin_body(sink, BareLineEnding::Normalize);
            }
            CommandKind::Uidl(None) => {
                let sink = listing(Items::Uidl(Vec::new()), limits.status_line);
                return self.begin_body(sink, BareLineEnding::Normalize);
            }
            CommandKind::Retr(msg) | CommandKind::Top { msg, .. } => {
                let lines = match kind {
                    CommandKind::Top { lines, .. } => Some(lines),
                    _ => None,
                };
                self.k.emit(Event::MessageStart { msg, lines, status });
                let policy = self.config.body_line_endings;
                return self.begin_body(Sink::Message, policy);
            }
            CommandKind::Stat => match DropListing::from_status(&status) {
                Ok(stat) => Event::Stat(stat),
                Err(e) => malformed(kind, e),
            },
            CommandKind::List(Some(_)) => match ScanListing::from_status(&status) {
                Ok(scan) => Event::Scan(scan),
                Err(e) => malformed(kind, e),
            },
            CommandKind::Uidl(Some(_)) => match UniqueIdListing::from_status(&status) {
                Ok(uid) => Event::Uidl(uid),
                Err(e) => malformed(kind, e),
            },
            CommandKind::Pass | CommandKind::Apop | CommandKind::Auth => {
                // RFC 2449 §5, RFC 5034 §4: what was learnt before the login may change.
                self.stage = Stage::Transaction;
                self.capa = Capa::Unknown;
                Event::LoggedIn {
                    command: kind,
                    status,
                }
            }
            CommandKind::Stls => {
                self.complete(None);
                return self.enter_tls();
            }
            CommandKind::Quit => {
                self.complete(Some(Event::Ok {
                    command: kind,
                    status,
                }));
                return self.close(CloseReason::Quit);
            }
            CommandKind::User
            | CommandKind::Utf8
            | CommandKind::Dele(_)
            | CommandKind::Rset
            | CommandKind::Noop => Event::Ok {
                command: kind,
                status,
            },
        };
        self.complete(Some(event));
    }

    /// `+OK` to STLS (RFC 2595 §4): whatever is buffered arrived in plaintext after it
    /// and must not be acted upon.
    fn enter_tls(&mut self) {
        self.k.start_tls();
        self.phase = Phase::AwaitingTls;
        self.capa = Capa::Unknown;
    }

    /// A SASL challenge `+ base64` to the front AUTH command (RFC 5034 §4).
    fn on_challenge(&mut self, line: &[u8]) {
        let challenge = match Response::parse(line, &self.config.limits) {
            Ok(Response::Continuation(challenge)) => challenge,
            Ok(_) => String::new(),
            Err(e) => return self.protocol_error(e),
        };
        let exchange = self.queue.front_mut().and_then(|p| p.sasl.as_mut());
        let Some(exchange) = exchange.filter(|x| !x.is_cancelled()) else {
            return self.close(CloseReason::Protocol(ProtocolError::UnexpectedContinuation));
        };
        if let Some(t) = self.k.transcript.as_mut() {
            t.sent_secret();
        }
        if let Err(reason) = exchange.answer(challenge.as_bytes(), self.k.out.buf()) {
            // RFC 5034 §4: a client that cannot answer cancels with "*".
            self.k.emit(Event::AuthCancelled { reason });
        }
    }

    fn begin_body(&mut self, sink: Sink, policy: BareLineEnding) {
        self.phase = Phase::Body(Body {
            decoder: DotDecoder::new(policy),
            sink,
        });
    }

    /// Unstuff what is buffered of a multi-line answer; true when its terminator was read.
    fn step_body(&mut self) -> bool {
        let Phase::Body(body) = &mut self.phase else {
            return false;
        };
        if self.k.input.is_empty() {
            return false;
        }
        let mut chunk = Vec::new();
        let decoded = body.decoder.decode(self.k.input.buffered(), &mut chunk);
        self.k.input.consume(decoded.consumed);
        match &mut body.sink {
            Sink::Message if !chunk.is_empty() => self.k.emit(Event::MessageData(chunk)),
            Sink::Message => {}
            Sink::Listing(listing) => listing.feed(&chunk),
        }
        if !decoded.done {
            return false;
        }
        if let Phase::Body(body) = core::mem::replace(&mut self.phase, Phase::Line) {
            self.finish_body(body);
        }
        true
    }

    fn finish_body(&mut self, body: Body) {
        let Some(kind) = self.queue.front().map(|p| p.kind) else {
            return;
        };
        let event = match body.sink {
            Sink::Message => match body.decoder.violation() {
                None => Event::MessageEnd,
                Some(e) => Event::Malformed {
                    command: kind,
                    error: ResponseError::BareLineEnding(e),
                },
            },
            Sink::Listing(listing) => match listing.finish() {
                Ok(Items::Capa(caps)) => {
                    self.capa = Capa::Known(caps.clone());
                    Event::Capabilities(caps)
                }
                Ok(Items::Mechanisms(mechs)) => Event::SaslMechanisms(mechs),
                Ok(Items::Scan(scans)) => Event::ScanList(scans),
                Ok(Items::Uidl(uids)) => Event::UidlList(uids),
                Err(error) => {
                    if kind == CommandKind::Capa {
                        self.capa = Capa::Unknown;
                    }
                    Event::Malformed {
                        command: kind,
                        error,
                    }
                }
            },
        };
        self.complete(Some(event));
    }
}

fn malformed(command: CommandKind, error: ParseError) -> Event {
    Event::Malformed {
        command,
        error: ResponseError::Parse(error),
    }
}
