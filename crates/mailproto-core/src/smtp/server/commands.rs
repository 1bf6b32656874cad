//! Command lines: framing errors, parsing, sequencing (RFC 5321 §4.1.4, §4.3.2) and the
//! commands the machine answers itself.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::reply::printable;
use super::{Chunks, Flush, Pending, Phase, Server};
use crate::line::LineError;
use crate::smtp::table::{self, State, Verb};
use crate::smtp::{
    Body, Capabilities, Command, ForwardPath, Host, MailParams, ParseError, RcptParams, Reply,
    ReversePath,
};

/// What a command line turned out to be.
enum Line {
    Command(Command),
    Framing(LineError),
    Parse { error: ParseError, hello: bool },
}

/// Which greeting command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hello {
    Helo,
    Ehlo,
    Lhlo,
}

impl Server {
    /// Reads and handles one command line; false when no complete line is buffered.
    pub(super) fn next_command(&mut self) -> bool {
        let line = match self.k.input.next_line() {
            None => return false,
            Some(Err(e)) => Line::Framing(e),
            Some(Ok(line)) => {
                let parsed = match Command::parse(line, &self.parse) {
                    Ok(cmd) => Line::Command(cmd),
                    Err(error) => Line::Parse {
                        error,
                        hello: is_hello_verb(line),
                    },
                };
                if let Some(t) = self.k.transcript.as_mut() {
                    let known = !matches!(
                        parsed,
                        Line::Parse { .. } | Line::Command(Command::Unknown { .. })
                    );
                    t.command(line, known);
                }
                parsed
            }
        };
        match line {
            Line::Command(cmd) => self.command(cmd),
            Line::Framing(e) => {
                let reply = self.line_error_reply(e);
                self.refuse(&reply, Flush::Now);
            }
            Line::Parse { error, hello } => {
                let reply = self.parse_error_reply(&error, hello);
                self.refuse(&reply, Flush::Now);
            }
        }
        true
    }

    /// Sends a reply to a command the client got wrong, and counts it.
    pub(super) fn refuse(&mut self, reply: &Reply, flush: Flush) {
        self.send(reply, flush);
        self.count_error();
    }

    /// Where the session stands, in the protocol table's terms.
    pub(super) fn table_state(&self) -> State {
        match (&self.session.hello, &self.txn) {
            (None, _) => State::Connected,
            (Some(_), None) => State::Greeted,
            (Some(_), Some(txn)) => match txn.chunks {
                Chunks::Receiving { .. } => State::Chunking,
                _ if txn.recipients == 0 => State::Mail,
                _ => State::Rcpt,
            },
        }
    }

    fn command(&mut self, cmd: Command) {
        // RFC 2920 §3.2 (2), (5), from the table: the replies to commands that do not end
        // a group (RSET, MAIL, RCPT) may wait for the rest of it; the others may not.
        let verb = table::verb_of(&cmd);
        let flush = match verb {
            Some(v) if table::may_follow(v) => Flush::Later,
            _ => Flush::Now,
        };
        if let Command::Bdat { size, last } = cmd {
            // Its octets follow whatever the verdict (RFC 3030 §2).
            self.bdat(size, last);
            return;
        }
        if self.session.refusing {
            // RFC 5321 §3.1: after a 554 greeting, wait for QUIT and answer 503.
            if cmd == Command::Quit {
                self.quit();
            } else {
                let reply = self.status(
                    503,
                    5,
                    1,
                    "Bad sequence of commands: service refused, send QUIT",
                );
                self.refuse(&reply, flush);
            }
            return;
        }
        if self.config.auth_required && !self.session.authenticated && !allowed_before_auth(&cmd) {
            // RFC 4954 §6: 530 for any command but AUTH, EHLO, HELO, NOOP, RSET, QUIT
            // (and STARTTLS, which AUTH may need first).
            let reply = self.status(530, 7, 0, "Authentication required");
            self.refuse(&reply, flush);
            return;
        }
        if let Some(ext) = verb.and_then(|v| table::rule(v).extension)
            && !self.implements(ext)
        {
            let reply = self.status(502, 5, 1, "Error: command not implemented");
            self.refuse(&reply, flush);
            return;
        }
        if let Some(verb) = verb
            && let Some((reply, counts)) = self.out_of_sequence(verb)
        {
            if counts {
                self.refuse(&reply, flush);
            } else {
                self.send(&reply, flush);
            }
            return;
        }
        match cmd {
            Command::Helo(domain) => self.hello(Host::Domain(domain), Hello::Helo),
            Command::Ehlo(host) => self.hello(host, Hello::Ehlo),
            Command::Lhlo(host) => self.hello(host, Hello::Lhlo),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Rset => {
                self.reset_transaction();
                self.k.emit(super::Event::Reset);
                let reply = self.status(250, 0, 0, "Ok");
                self.send(&reply, Flush::Later);
            }
            Command::Noop(_) => {
                let reply = self.status(250, 0, 0, "Ok");
                self.send(&reply, Flush::Now);
            }
            Command::Quit => self.quit(),
            Command::Vrfy(arg) => self.verify(arg, false),
            Command::Expn(arg) => self.verify(arg, true),
            Command::Help(_) => {
                let text = self.help_text();
                let reply = self.status(214, 0, 0, &text);
                self.send(&reply, Flush::Now);
            }
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                // The line may hold a credential: no copy of it stays in the reader.
                self.k.wipe_input();
                self.auth(&mechanism, initial_response)
            }
            Command::Unknown { verb, .. } if is_unimplemented_verb(&verb) => {
                // RFC 5321 §4.2.4: a verb the RFCs define but this server does not
                // implement is 502, not 500.
                let reply = self.status(502, 5, 1, "Error: command not implemented");
                self.refuse(&reply, Flush::Now);
            }
            _ => {
                let reply = self.status(500, 5, 2, "Error: command not recognized");
                self.refuse(&reply, Flush::Now);
            }
        }
    }

    /// Whether the server offers `ext`'s commands at all (STARTTLS, AUTH; CHUNKING is
    /// sequenced with its chunk).
    fn implements(&self, ext: table::Ext) -> bool {
        match ext {
            // Under TLS, STARTTLS gets "TLS already active" rather than 502.
            table::Ext::StartTls => self.config.extensions.starttls || self.session.tls,
            table::Ext::Auth => !self.config.extensions.auth.is_empty(),
            _ => true,
        }
    }

    /// The refusal of `verb` when the table does not allow it in this state (RFC 5321
    /// §4.1.4, §3.3; RFC 3207 §4; RFC 4954 §4), and whether it counts as an error.
    fn out_of_sequence(&self, verb: Verb) -> Option<(Reply, bool)> {
        let state = self.table_state();
        if table::valid(verb, state) || (verb == Verb::StartTls && self.session.tls) {
            // STARTTLS under TLS is answered by `starttls` (503 TLS already active).
            return None;
        }
        let seq = |text: &str| Some((self.status(503, 5, 1, text), true));
        match (verb, state) {
            (Verb::Mail, State::Connected) if self.config.lmtp => seq("Error: send LHLO first"),
            (Verb::Mail, State::Connected) => seq("Error: send HELO/EHLO first"),
            (Verb::Mail, _) => seq("Error: nested MAIL command"),
            (Verb::Rcpt | Verb::Data, State::Connected | State::Greeted) => {
                seq("Error: need MAIL command")
            }
            (Verb::Rcpt, _) => seq("Error: RCPT after BDAT"),
            (Verb::Data, State::Mail) if self.config.lmtp => {
                // RFC 2033 §4.2: LMTP answers 503 here.
                Some((self.status(503, 5, 1, "Error: need RCPT command"), false))
            }
            (Verb::Data, State::Mail) => {
                // RFC 5321 §3.3: 554 "no valid recipients", not counted as an error.
                Some((self.status(554, 5, 1, "Error: no valid recipients"), false))
            }
            (Verb::Data, _) => seq("Error: DATA after BDAT"),
            (Verb::StartTls, State::Connected) => seq("Error: send EHLO first"),
            (Verb::StartTls, _) => seq("Error: STARTTLS not allowed in a mail transaction"),
            (Verb::Auth, State::Connected) => seq("Error: send EHLO first"),
            (Verb::Auth, _) => seq("Error: AUTH not permitted during a mail transaction"),
            // Every other verb is valid in every state; BDAT is sequenced with its chunk.
            _ => None,
        }
    }

    fn quit(&mut self) {
        let reply = self.status(221, 0, 0, "Bye");
        self.close(super::CloseReason::Quit, Some(reply));
    }

    /// Drops the open transaction (RSET semantics, RFC 5321 §4.1.1.5); true if one
    /// was open.
    pub(super) fn reset_transaction(&mut self) -> bool {
        self.abort_body(super::AbortReason::Reset);
        self.txn.take().is_some()
    }

    /// HELO / EHLO / LHLO (RFC 5321 §4.1.1.1, RFC 2033 §4.1).
    fn hello(&mut self, host: Host, kind: Hello) {
        match (self.config.lmtp, kind) {
            (true, Hello::Helo | Hello::Ehlo) => {
                let reply = Self::hello_reply(500, "Error: this is LMTP, use LHLO (RFC 2033)");
                self.refuse(&reply, Flush::Now);
                return;
            }
            (false, Hello::Lhlo) => {
                let reply = self.status(500, 5, 2, "Error: command not recognized");
                self.refuse(&reply, Flush::Now);
                return;
            }
            _ => {}
        }
        let extended = kind != Hello::Helo;
        if self.config.ask_hello {
            // The application decides first; the greeting takes effect at `accept`.
            self.asked_hello = Some(host.clone());
            self.pending = Some(Pending::Hello { extended });
            self.k.emit(super::Event::Hello {
                domain: host,
                extended,
            });
            return;
        }
        self.greet(host, extended, true);
    }

    /// An accepted greeting: reset, remember it, reply with the capabilities; with
    /// `report`, tell the application (it was not asked before).
    pub(super) fn greet(&mut self, host: Host, extended: bool, report: bool) {
        // RFC 5321 §4.1.4: a later EHLO (one "acceptable to the SMTP server") resets the
        // state as RSET does.
        if self.reset_transaction() {
            self.k.emit(super::Event::Reset);
        }
        self.session.hello = Some(extended);
        let mut name = Vec::new();
        let _ = host.encode(&mut name);
        let first = format!(
            "{} greets {}",
            self.host,
            printable(&String::from_utf8_lossy(&name))
        );
        let reply = if extended {
            let caps = self.capabilities();
            let reply = caps.ehlo_reply(&first);
            self.advertised = Some(caps);
            reply
        } else {
            self.advertised = None;
            Self::hello_reply(250, &first)
        };
        if report {
            self.k.emit(super::Event::Hello {
                domain: host,
                extended,
            });
        }
        self.send(&reply, Flush::Now);
    }

    /// The extensions to advertise now (RFC 5321 §4.1.1.1; RFC 3207 §4.2: no STARTTLS
    /// under TLS; RFC 4954 §4 / RFC 4616 §5: password mechanisms only when allowed).
    fn capabilities(&self) -> Capabilities {
        let ext = &self.config.extensions;
        Capabilities {
            pipelining: ext.pipelining,
            size: ext.size.then_some(self.config.limits.max_message_size),
            eight_bit_mime: ext.eight_bit_mime,
            smtputf8: ext.smtputf8,
            chunking: ext.chunking,
            binary_mime: ext.binary_mime && ext.chunking,
            dsn: ext.dsn,
            enhanced_status_codes: ext.enhanced_status_codes,
            starttls: self.starttls_offered(),
            auth: ext
                .auth
                .iter()
                .filter(|m| self.auth_offered_now(m))
                .map(|m| String::from(m.name()))
                .collect(),
            auth_legacy: false,
            requiretls: ext.requiretls && self.session.tls,
            other: ext.other.clone(),
        }
    }

    pub(super) fn starttls_offered(&self) -> bool {
        self.config.extensions.starttls && !self.session.tls
    }

    /// MAIL FROM (RFC 5321 §4.1.1.2, §4.1.4).
    fn mail(&mut self, from: ReversePath, params: MailParams) {
        if let Some(keyword) = self.unoffered_mail_param(&params) {
            let text = format!("{keyword} parameter not supported");
            let reply = self.status(555, 5, 4, &text);
            return self.refuse(&reply, Flush::Later);
        }
        if params
            .size
            .is_some_and(|n| n > self.config.limits.max_message_size)
        {
            // RFC 1870 §6.1 (2).
            let reply = self.status(552, 3, 4, "Message size exceeds fixed maximum message size");
            return self.send(&reply, Flush::Later);
        }
        let ascii = match &from {
            ReversePath::Null => true,
            ReversePath::Mailbox(m) => m.is_ascii(),
        };
        if !ascii && !params.smtputf8 {
            // RFC 6531 §3.4: UTF-8 addresses only in an SMTPUTF8 transaction.
            let reply = self.status(
                553,
                6,
                7,
                "Non-ASCII address requires the SMTPUTF8 parameter",
            );
            return self.send(&reply, Flush::Later);
        }
        self.pending = Some(Pending::Mail {
            smtputf8: params.smtputf8,
            binary: params.body == Some(Body::BinaryMime),
        });
        self.k.emit(super::Event::Mail { from, params });
    }

    /// The first MAIL parameter whose extension is not advertised in this session (the
    /// protocol table's rule; unknown ones unless allowed).
    fn unoffered_mail_param(&self, p: &MailParams) -> Option<String> {
        let caps = self.advertised.as_ref();
        if let Some(rule) = table::first_refused(table::mail_params(p), caps, self.session.tls) {
            return Some(String::from(rule.name));
        }
        self.unknown_param(&p.other)
    }

    /// The first parameter this crate does not know, unless they are allowed.
    fn unknown_param(&self, other: &[crate::smtp::Param]) -> Option<String> {
        match (self.config.allow_unknown_params, other.first()) {
            (false, Some(p)) => Some(printable(&p.keyword.to_ascii_uppercase())),
            _ => None,
        }
    }

    /// RCPT TO (RFC 5321 §4.1.1.3, §4.5.3.1.8).
    fn rcpt(&mut self, to: ForwardPath, params: RcptParams) {
        let caps = self.advertised.as_ref();
        let keyword =
            match table::first_refused(table::rcpt_params(&params), caps, self.session.tls) {
                Some(rule) => Some(String::from(rule.name)),
                None => self.unknown_param(&params.other),
            };
        if let Some(keyword) = keyword {
            let text = format!("{keyword} parameter not supported");
            let reply = self.status(555, 5, 4, &text);
            return self.refuse(&reply, Flush::Later);
        }
        let Some(txn) = &self.txn else {
            return;
        };
        let ascii = match &to {
            ForwardPath::Postmaster => true,
            ForwardPath::Mailbox(m) => m.is_ascii(),
        };
        if !ascii && !txn.smtputf8 {
            let reply = self.status(
                553,
                6,
                7,
                "Non-ASCII address requires the SMTPUTF8 parameter",
            );
            return self.send(&reply, Flush::Later);
        }
        if txn.recipients >= self.config.limits.max_recipients {
            // RFC 5321 §4.5.3.1.10: 452, not 552.
            let reply = self.status(452, 5, 3, "Too many recipients");
            return self.send(&reply, Flush::Later);
        }
        self.pending = Some(Pending::Rcpt);
        self.k.emit(super::Event::Rcpt { to, params });
    }

    /// DATA (RFC 5321 §4.1.1.4; RFC 2920 §3.2 (3); RFC 3030 §2, §3).
    fn data(&mut self) {
        if self.txn.as_ref().is_some_and(|t| t.binary) {
            let reply = self.status(503, 5, 1, "Error: BODY=BINARYMIME requires BDAT");
            return self.refuse(&reply, Flush::Now);
        }
        if self.config.ask_data {
            // The application decides before the 354 (RFC 5321 §4.1.1.4).
            self.pending = Some(Pending::Data { chunked: false });
            self.k.emit(super::Event::DataStart { chunked: false });
            return;
        }
        self.k.emit(super::Event::DataStart { chunked: false });
        self.open_data();
    }

    /// DATA accepted: `354`, and the body follows.
    pub(super) fn open_data(&mut self) {
        self.body_started();
        let reply = self.status(354, 0, 0, "End data with <CR><LF>.<CR><LF>");
        self.send(&reply, Flush::Now);
        self.decoder.reset();
        self.bodies += 1;
        self.phase = Phase::Data(super::DataState {
            size: 0,
            failure: None,
        });
    }

    /// VRFY / EXPN (RFC 5321 §3.5, §7.3).
    fn verify(&mut self, arg: String, expn: bool) {
        if self.config.vrfy_expn_events {
            if expn {
                self.pending = Some(Pending::Expn);
                self.k.emit(super::Event::Expn(arg));
            } else {
                self.pending = Some(Pending::Vrfy);
                self.k.emit(super::Event::Vrfy(arg));
            }
            return;
        }
        let text = if expn {
            "Cannot EXPN list, but will accept message and attempt delivery"
        } else {
            "Cannot VRFY user, but will accept message and attempt delivery"
        };
        let reply = self.status(252, 5, 0, text);
        self.send(&reply, Flush::Now);
    }

    fn help_text(&self) -> String {
        let ext = &self.config.extensions;
        let mut text = String::from("Commands:");
        let hello: &[&str] = if self.config.lmtp {
            &["LHLO"]
        } else {
            &["HELO", "EHLO"]
        };
        let offered = [
            (true, "MAIL RCPT DATA"),
            (ext.chunking, "BDAT"),
            (true, "RSET NOOP QUIT VRFY EXPN HELP"),
            (self.starttls_offered(), "STARTTLS"),
            (!ext.auth.is_empty(), "AUTH"),
        ];
        for verb in hello {
            text.push(' ');
            text.push_str(verb);
        }
        for (on, verbs) in offered {
            if on {
                text.push(' ');
                text.push_str(verbs);
            }
        }
        text
    }

    /// STARTTLS (RFC 3207 §4).
    fn starttls(&mut self) {
        if self.session.tls {
            let reply = self.status(503, 5, 1, "Error: TLS already active");
            return self.refuse(&reply, Flush::Now);
        }
        let reply = self.status(220, 0, 0, "Ready to start TLS");
        self.send(&reply, Flush::Now);
        // Anything the client sent after STARTTLS arrived in plaintext and must not be
        // acted upon (CVE-2011-0411): the kernel drops it and reports it once.
        self.k.emit(super::Event::TlsStarting);
        self.k.start_tls();
        self.phase = Phase::AwaitingTls;
    }
}

/// Whether a refused line was a HELO/EHLO/LHLO (whose replies carry no enhanced code).
fn is_hello_verb(line: &[u8]) -> bool {
    let verb = line.split(|b| *b == b' ').next().unwrap_or(line);
    [&b"HELO"[..], b"EHLO", b"LHLO"]
        .iter()
        .any(|v| verb.eq_ignore_ascii_case(v))
}

/// Verbs of RFC 5321 (§4.1.4, §4.5.3, Appendix F) and its companions that this server
/// knows and does not implement: the obsolete SEND, SOML, SAML and TURN, and ETRN
/// (RFC 1985), ATRN (RFC 2645).
fn is_unimplemented_verb(verb: &str) -> bool {
    ["SEND", "SOML", "SAML", "TURN", "ETRN", "ATRN"]
        .iter()
        .any(|v| verb.eq_ignore_ascii_case(v))
}

/// RFC 4954 §6: the commands allowed while authentication is required and missing.
fn allowed_before_auth(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Auth { .. }
            | Command::Ehlo(_)
            | Command::Helo(_)
            | Command::Lhlo(_)
            | Command::Noop(_)
            | Command::Rset
            | Command::Quit
            | Command::StartTls
    )
}
