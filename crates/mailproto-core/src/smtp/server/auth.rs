//! AUTH (RFC 4954): the command's checks and the SASL exchange, run with
//! [`ServerAuth`].

use alloc::boxed::Box;
use alloc::vec::Vec;

use zeroize::Zeroize;

use super::{CloseReason, Event, Flush, Pending, Phase, Server};
use crate::line::LineError;
use crate::sasl::{Mechanism, ServerAuth, ServerAuthConfig, Step};
use crate::smtp::{InitialResponse, Reply};

/// One SASL response line, or why it was refused before the mechanism saw it.
enum Response {
    Step(Step),
    Refused(Reply),
}

impl Server {
    /// Whether `mechanism` may be used now: password and token mechanisms need TLS
    /// unless configured otherwise (RFC 4954 §4, RFC 4616 §5, RFC 7628 §5).
    pub(super) fn auth_allowed_now(&self, mechanism: &Mechanism) -> bool {
        !(self.config.auth_requires_tls && !self.session.tls && mechanism.needs_tls())
    }

    /// Whether EHLO advertises `mechanism` now: implemented, allowed without TLS if
    /// TLS is missing, and for CRAM-MD5 a challenge configured (RFC 2195 §2).
    pub(super) fn auth_offered_now(&self, mechanism: &Mechanism) -> bool {
        mechanism.is_supported()
            && self.auth_allowed_now(mechanism)
            && (*mechanism != Mechanism::CramMd5 || self.config.cram_md5_challenge.is_some())
    }

    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    pub(super) fn auth(&mut self, mechanism: &str, initial: Option<InitialResponse>) {
        if self.session.hello != Some(true) {
            let reply = self.status(503, 5, 1, "Error: send EHLO first");
            return self.refuse(&reply, Flush::Now);
        }
        if self.session.authenticated {
            let reply = self.status(503, 5, 1, "Error: already authenticated");
            return self.refuse(&reply, Flush::Now);
        }
        let offered = Mechanism::parse(mechanism.as_bytes())
            .ok()
            .filter(|m| m.is_supported() && self.config.extensions.auth.contains(m));
        let Some(mechanism) = offered else {
            let reply = self.status(504, 5, 4, "Unrecognized authentication type");
            return self.refuse(&reply, Flush::Now);
        };
        if !self.auth_allowed_now(&mechanism) {
            let reply = if self.starttls_offered() {
                // RFC 3207 §4.
                self.status(530, 7, 0, "Must issue a STARTTLS command first")
            } else {
                // RFC 4954 §6 keeps 538 for history only ("SHOULD NOT" be used): the
                // mechanism was not advertised, and 5.7.11 says why.
                self.status(
                    504,
                    7,
                    11,
                    "Encryption required for requested authentication mechanism",
                )
            };
            return self.refuse(&reply, Flush::Now);
        }
        let initial: Option<Vec<u8>> = initial.map(|ir| match ir {
            InitialResponse::Empty => Vec::from(*b"="),
            InitialResponse::Base64(text) => text.into_bytes(),
        });
        let mut config = ServerAuthConfig::default();
        config.max_rounds = self.config.limits.max_auth_rounds;
        config.max_line_len = self.config.limits.parse.auth_line.saturating_sub(2);
        config.cram_md5_challenge = self.config.cram_md5_challenge.clone();
        self.auth_attempts = self.auth_attempts.saturating_add(1);
        let config = config.for_attempt(self.auth_attempts);
        let (exchange, step) = ServerAuth::start(mechanism, initial.as_deref(), config);
        if let Some(mut initial) = initial {
            initial.zeroize();
        }
        self.sasl_step(Box::new(exchange), step);
    }

    /// Reads one SASL response line; false when none is buffered.
    pub(super) fn next_sasl_line(&mut self) -> bool {
        let Phase::Sasl(exchange) = &mut self.phase else {
            return false;
        };
        let response = match self.k.input.next_line() {
            None => return false,
            Some(Ok(line)) => {
                if let Some(t) = self.k.transcript.as_mut() {
                    t.secret();
                }
                Response::Step(exchange.step(line))
            }
            Some(Err(LineError::TooLong { .. })) => Response::Refused(self.status(
                500,
                5,
                6,
                "Authentication Exchange line is too long",
            )),
            Some(Err(_)) => Response::Refused(self.status(
                501,
                5,
                2,
                "Bare CR or LF in authentication response",
            )),
        };
        // The line held a credential: no copy of it stays in the reader.
        self.k.wipe_input();
        let Phase::Sasl(exchange) = core::mem::replace(&mut self.phase, Phase::Command) else {
            return true;
        };
        match response {
            Response::Step(step) => self.sasl_step(exchange, step),
            Response::Refused(reply) => {
                self.leave_sasl();
                self.send(&reply, Flush::Now);
                self.auth_failed();
            }
        }
        true
    }

    /// Acts on one step of the exchange.
    fn sasl_step(&mut self, exchange: Box<ServerAuth>, step: Step) {
        match step {
            Step::Challenge(challenge) => {
                let from = self.k.queued_len();
                crate::sasl::encode_challenge(b"334 ", &challenge, self.k.out.buf());
                self.k.record_sent(from, true);
                self.k.out.release();
                self.k
                    .input
                    .set_max_line(self.config.limits.parse.auth_line);
                self.phase = Phase::Sasl(exchange);
            }
            Step::Done(credentials) => {
                self.leave_sasl();
                self.pending = Some(Pending::Auth);
                self.k.emit(Event::Auth {
                    mechanism: exchange.mechanism().clone(),
                    credentials,
                });
                self.finished_sasl = Some(exchange);
            }
            Step::Failed(error) => {
                self.leave_sasl();
                let (reply, counts) = self.auth_error_reply(&error);
                self.send(&reply, Flush::Now);
                if counts {
                    self.auth_failed();
                }
            }
        }
    }

    /// The application rejected OAuth credentials with an error challenge: send it and
    /// read the client's dummy response (RFC 7628 §3.2.2, §3.2.3). Other mechanisms fail
    /// at once.
    pub(super) fn sasl_error_challenge(&mut self, error: Vec<u8>) {
        self.pending = None;
        match self.finished_sasl.take() {
            Some(mut exchange) => {
                let step = exchange.fail_with_challenge(error);
                self.sasl_step(exchange, step);
            }
            None => {
                let reply = self.status(535, 7, 8, "Authentication credentials invalid");
                self.send(&reply, Flush::Now);
                self.auth_failed();
            }
        }
        self.process();
    }

    fn leave_sasl(&mut self) {
        self.k.input.set_max_line(self.command_max_line);
        if matches!(self.phase, Phase::Sasl(_)) {
            self.phase = Phase::Command;
        }
    }

    /// Counts a failed exchange; closes the session at the limit.
    pub(super) fn auth_failed(&mut self) {
        if self.auth_failures.bump() {
            self.close_for(
                CloseReason::TooManyAuthFailures,
                "too many authentication failures",
            );
        }
    }
}
