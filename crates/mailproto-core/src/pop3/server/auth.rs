//! Logging in: the plaintext-login policy (RFC 2595 §2.3, RFC 5034 §4), the SASL
//! exchange of AUTH (RFC 5034 §4) and the switch to TLS (RFC 2595 §4).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::event::{Event, ProtocolError};
use super::{Server, Stage};
use crate::pop3::Secret;
use crate::sasl::{self, AuthError, Mechanism, ServerAuth, Step};

impl Server {
    /// Whether plaintext passwords may be sent now (RFC 2595 §2.3, RFC 5034 §4).
    pub(super) fn plaintext_ok(&self) -> bool {
        self.config.allow_plaintext_login || self.tls_active
    }

    pub(super) fn refuse_plaintext(&mut self) {
        let text = if self.stls_available() {
            "Plaintext authentication disallowed without TLS; use STLS first"
        } else {
            "Plaintext authentication disallowed on this connection"
        };
        self.refuse_with(ProtocolError::PlaintextRefused, String::from(text));
    }

    /// Whether STLS would be accepted now.
    pub(super) fn stls_available(&self) -> bool {
        self.config.stls_offered
            && !self.tls_active
            && !self.utf8_enabled
            && matches!(self.stage, Stage::Authorization)
    }

    /// The SASL mechanisms AUTH accepts now, in configuration order: implemented ones,
    /// not sending a password in the clear unless allowed, and CRAM-MD5 only with a
    /// challenge to send.
    pub(super) fn mechanisms(&self) -> Vec<Mechanism> {
        let plaintext = self.plaintext_ok();
        let challenge =
            self.config.sasl.cram_md5_challenge.is_some() || self.apop_timestamp.is_some();
        let mut list: Vec<Mechanism> = Vec::new();
        for m in &self.config.sasl_mechanisms {
            let usable = m.is_supported()
                && (plaintext || !m.needs_tls())
                && (challenge || *m != Mechanism::CramMd5);
            if usable && !list.contains(m) {
                list.push(m.clone());
            }
        }
        list
    }

    pub(super) fn stls(&mut self) {
        if self.tls_active {
            // RFC 2595 §4 example text.
            self.refuse_with(
                ProtocolError::Unsupported {
                    command: String::from("STLS"),
                },
                String::from("Command not permitted when TLS active"),
            );
        } else if !self.config.stls_offered {
            self.unsupported("STLS");
        } else if self.utf8_enabled {
            // RFC 6856 §2.1: clients must not issue STLS after UTF8.
            self.refuse_with(
                ProtocolError::Unsupported {
                    command: String::from("STLS"),
                },
                String::from("STLS not permitted after UTF8"),
            );
        } else {
            self.ok("Begin TLS negotiation");
            // Anything the client sent after STLS was sent in the clear before the
            // handshake: it must not be acted upon (CVE-2011-0411 class).
            // The kernel drops it unread and reports it once.
            self.k.emit(Event::TlsStarting);
            self.k.start_tls();
        }
    }

    pub(super) fn auth(&mut self, mechanism: &str, initial_response: Option<Secret>) {
        let Ok(mechanism) = Mechanism::parse(mechanism.as_bytes()) else {
            return self.unsupported(format!("AUTH {mechanism}"));
        };
        if !self.mechanisms().contains(&mechanism) {
            if mechanism.needs_tls()
                && !self.plaintext_ok()
                && self.config.sasl_mechanisms.contains(&mechanism)
            {
                return self.refuse_plaintext();
            }
            return self.unsupported(format!("AUTH {mechanism}"));
        }
        let mut config = self.config.sasl.clone();
        if config.cram_md5_challenge.is_none() {
            config.cram_md5_challenge = self.apop_timestamp.clone();
        }
        self.auth_attempts = self.auth_attempts.saturating_add(1);
        let config = config.for_attempt(self.auth_attempts);
        // The parser gives the empty initial response as "", the wire form is "=".
        let initial = initial_response
            .as_ref()
            .map(|ir| match ir.expose().as_str() {
                "" => &b"="[..],
                ir => ir.as_bytes(),
            });
        let (auth, step) = ServerAuth::start(mechanism, initial, config);
        self.sasl = Some(auth);
        self.sasl_step(step);
    }

    /// Act on a step of the SASL exchange (RFC 5034 §4).
    pub(super) fn sasl_step(&mut self, step: Step) {
        match step {
            Step::Challenge(challenge) => {
                let from = self.k.queued_len();
                sasl::encode_challenge(b"+ ", &challenge, self.k.out.buf());
                self.k.record_sent(from, true);
            }
            Step::Done(credentials) => {
                self.sasl = None;
                self.login_name = credentials.username().map(String::from);
                self.ask_login(Event::Auth { credentials });
            }
            Step::Failed(AuthError::Cancelled) => {
                self.sasl = None;
                self.k.emit(Event::ProtocolError {
                    error: ProtocolError::Auth(AuthError::Cancelled),
                });
                self.err("Authentication cancelled");
            }
            Step::Failed(error) => {
                self.sasl = None;
                let text = format!("Authentication failed: {error}");
                self.refuse_with(ProtocolError::Auth(error), text);
            }
        }
    }
}
