//! The SMTP rules, written once and read by both roles (h11's way): which command is
//! valid in which state and where success and failure lead (RFC 5321 §4.1.4, §3.3),
//! which EHLO extension each command and each MAIL/RCPT parameter needs (RFC 5321 §2.2.1
//! and the extension RFCs), which commands end a pipelined group (RFC 2920 §3.1) and
//! which replies mean success (RFC 5321 §4.3.2).
//!
//! The server refuses exactly what the table forbids (`503` out of sequence, `555` for a
//! parameter whose extension it did not advertise, `502` for a command of an extension
//! it does not offer) and flushes a pipelined group where the table says it ends; the
//! client sends nothing the table forbids and groups its commands by the same rule. The
//! state diagram in docs/state-machines.md is rendered from [`VERBS`] by
//! [`state_table`], and a test fails when the committed one differs.

use alloc::string::String;

use crate::smtp::Capabilities;

mod params;

pub use params::{
    PARAMS, Param, ParamRule, first_refused, mail_params, param_allowed, param_rule, rcpt_params,
};

/// A command verb (RFC 5321 §4.1.1, RFC 2033, RFC 3030, RFC 3207, RFC 4954).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verb {
    /// `HELO`.
    Helo,
    /// `EHLO`.
    Ehlo,
    /// `LHLO` (LMTP).
    Lhlo,
    /// `MAIL FROM:`.
    Mail,
    /// `RCPT TO:`.
    Rcpt,
    /// `DATA`.
    Data,
    /// `BDAT n [LAST]`.
    Bdat,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY`.
    Vrfy,
    /// `EXPN`.
    Expn,
    /// `HELP`.
    Help,
    /// `STARTTLS`.
    StartTls,
    /// `AUTH`.
    Auth,
}

impl Verb {
    /// The verb `v` names, in any case (RFC 5321 §2.4: verbs are case-insensitive); the
    /// keywords are the table's.
    pub fn parse(v: &[u8]) -> Option<Verb> {
        /// The four letters of a keyword as a little-endian word with bit 5 of every
        /// octet cleared: that maps exactly `x` and `X` to `X`, and all verbs are
        /// letters, so the masked word of `v` equals a keyword's only for that keyword
        /// in some case.
        const fn word(k: &[u8]) -> u32 {
            match *k {
                [a, b, c, d] => u32::from_le_bytes([a, b, c, d]) & 0xdfdf_dfdf,
                _ => 0,
            }
        }
        const WORDS: [u32; VERBS.len()] = {
            let mut words = [0; VERBS.len()];
            let mut i = 0;
            while i < VERBS.len() {
                words[i] = word(VERBS[i].keyword.as_bytes());
                i += 1;
            }
            words
        };
        if v.len() == 4 {
            let w = word(v);
            return WORDS.iter().position(|&k| k == w).map(|i| VERBS[i].verb);
        }
        v.eq_ignore_ascii_case(b"STARTTLS")
            .then_some(Verb::StartTls)
    }

    /// The keyword, in upper case.
    pub fn keyword(self) -> &'static str {
        rule(self).keyword
    }
}

/// Where a session stands, as both roles see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Greeted by the server; no HELO/EHLO/LHLO accepted yet (also after STARTTLS,
    /// RFC 3207 §4.2).
    Connected,
    /// A hello was accepted; no mail transaction is open.
    Greeted,
    /// MAIL was accepted; no recipient yet.
    Mail,
    /// At least one recipient was accepted.
    Rcpt,
    /// A BDAT body is in progress (RFC 3030 §2).
    Chunking,
}

impl State {
    /// Every state, in order.
    pub const ALL: [State; 5] = [
        State::Connected,
        State::Greeted,
        State::Mail,
        State::Rcpt,
        State::Chunking,
    ];

    /// The name used in the diagrams.
    pub fn name(self) -> &'static str {
        match self {
            State::Connected => "CONNECTED",
            State::Greeted => "GREETED",
            State::Mail => "MAIL",
            State::Rcpt => "RCPT",
            State::Chunking => "CHUNKING",
        }
    }

    /// Whether a mail transaction is open.
    pub fn in_transaction(self) -> bool {
        matches!(self, State::Mail | State::Rcpt | State::Chunking)
    }
}

/// Where a command leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Next {
    /// The state does not change.
    Same,
    /// To this state.
    To(State),
    /// Out of the mail transaction, if one is open (RSET, RFC 5321 §4.1.1.5).
    EndTransaction,
}

impl Next {
    /// The state after a command in `from`.
    pub fn from(self, from: State) -> State {
        match self {
            Next::Same => from,
            Next::To(s) => s,
            Next::EndTransaction if from.in_transaction() => State::Greeted,
            Next::EndTransaction => from,
        }
    }
}

/// A service extension, as an EHLO keyword names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ext {
    /// `PIPELINING` (RFC 2920).
    Pipelining,
    /// `SIZE` (RFC 1870).
    Size,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8,
    /// `CHUNKING` (RFC 3030).
    Chunking,
    /// `BINARYMIME` (RFC 3030 §3).
    BinaryMime,
    /// `DSN` (RFC 3461).
    Dsn,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH` (RFC 4954).
    Auth,
    /// `REQUIRETLS` (RFC 8689).
    RequireTls,
}

impl Ext {
    /// The EHLO keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Ext::Pipelining => "PIPELINING",
            Ext::Size => "SIZE",
            Ext::EightBitMime => "8BITMIME",
            Ext::SmtpUtf8 => "SMTPUTF8",
            Ext::Chunking => "CHUNKING",
            Ext::BinaryMime => "BINARYMIME",
            Ext::Dsn => "DSN",
            Ext::StartTls => "STARTTLS",
            Ext::Auth => "AUTH",
            Ext::RequireTls => "REQUIRETLS",
        }
    }

    /// Whether `caps` (an EHLO reply) advertises it.
    pub fn offered(self, caps: &Capabilities) -> bool {
        match self {
            Ext::Pipelining => caps.pipelining,
            Ext::Size => caps.size.is_some(),
            Ext::EightBitMime => caps.eight_bit_mime,
            Ext::SmtpUtf8 => caps.smtputf8,
            Ext::Chunking => caps.chunking,
            Ext::BinaryMime => caps.binary_mime && caps.chunking,
            Ext::Dsn => caps.dsn,
            Ext::StartTls => caps.starttls,
            Ext::Auth => !caps.auth.is_empty(),
            Ext::RequireTls => caps.requiretls,
        }
    }
}

/// The rule of one verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerbRule {
    /// The verb.
    pub verb: Verb,
    /// Its keyword.
    pub keyword: &'static str,
    /// The extension it belongs to, if any (offered only when advertised).
    pub extension: Option<Ext>,
    /// The states in which it is valid; elsewhere a server answers `503` (RFC 5321
    /// §4.1.4) and a client does not send it.
    pub valid_in: &'static [State],
    /// The state after a successful reply.
    pub on_success: Next,
    /// The state after a failure reply.
    pub on_failure: Next,
    /// Whether it must be the last command of a pipelined group: the client waits for
    /// its reply before sending more, the server sends the group's replies with its own
    /// (RFC 2920 §3.1, RFC 3207 §4, RFC 4954 §4).
    pub ends_group: bool,
    /// The reply codes that mean it succeeded (RFC 5321 §4.3.2; `354`, `334` and `220`
    /// are the intermediate ones).
    pub success: &'static [u16],
}

const ANY: &[State] = &State::ALL;

/// The rules of every verb, in the order of [`Verb`] (a test checks it).
pub const VERBS: &[VerbRule] = &[
    VerbRule {
        verb: Verb::Helo,
        keyword: "HELO",
        extension: None,
        valid_in: ANY,
        on_success: Next::To(State::Greeted),
        on_failure: Next::Same,
        ends_group: true,
        success: &[250],
    },
    VerbRule {
        verb: Verb::Ehlo,
        keyword: "EHLO",
        extension: None,
        valid_in: ANY,
        on_success: Next::To(State::Greeted),
        on_failure: Next::Same,
        ends_group: true,
        success: &[250],
    },
    VerbRule {
        verb: Verb::Lhlo,
        keyword: "LHLO",
        extension: None,
        valid_in: ANY,
        on_success: Next::To(State::Greeted),
        on_failure: Next::Same,
        ends_group: true,
        success: &[250],
    },
    VerbRule {
        verb: Verb::Mail,
        keyword: "MAIL",
        extension: None,
        valid_in: &[State::Greeted],
        on_success: Next::To(State::Mail),
        on_failure: Next::Same,
        ends_group: false,
        success: &[250],
    },
    VerbRule {
        verb: Verb::Rcpt,
        keyword: "RCPT",
        extension: None,
        valid_in: &[State::Mail, State::Rcpt],
        on_success: Next::To(State::Rcpt),
        on_failure: Next::Same,
        ends_group: false,
        success: &[250, 251],
    },
    VerbRule {
        verb: Verb::Data,
        keyword: "DATA",
        extension: None,
        valid_in: &[State::Rcpt],
        // After the body's final reply; a refused DATA leaves the transaction open.
        on_success: Next::To(State::Greeted),
        on_failure: Next::Same,
        ends_group: true,
        success: &[354],
    },
    VerbRule {
        verb: Verb::Bdat,
        keyword: "BDAT",
        extension: Some(Ext::Chunking),
        valid_in: &[State::Rcpt, State::Chunking],
        // BDAT LAST ends the transaction; any other chunk continues it.
        on_success: Next::To(State::Chunking),
        on_failure: Next::Same,
        ends_group: false,
        success: &[250],
    },
    VerbRule {
        verb: Verb::Rset,
        keyword: "RSET",
        extension: None,
        valid_in: ANY,
        on_success: Next::EndTransaction,
        on_failure: Next::Same,
        ends_group: false,
        success: &[250],
    },
    VerbRule {
        verb: Verb::Noop,
        keyword: "NOOP",
        extension: None,
        valid_in: ANY,
        on_success: Next::Same,
        on_failure: Next::Same,
        ends_group: true,
        success: &[250],
    },
    VerbRule {
        verb: Verb::Quit,
        keyword: "QUIT",
        extension: None,
        valid_in: ANY,
        on_success: Next::Same,
        on_failure: Next::Same,
        ends_group: true,
        success: &[221],
    },
    VerbRule {
        verb: Verb::Vrfy,
        keyword: "VRFY",
        extension: None,
        valid_in: ANY,
        on_success: Next::Same,
        on_failure: Next::Same,
        ends_group: true,
        success: &[250, 251, 252],
    },
    VerbRule {
        verb: Verb::Expn,
        keyword: "EXPN",
        extension: None,
        valid_in: ANY,
        on_success: Next::Same,
        on_failure: Next::Same,
        ends_group: true,
        success: &[250, 252],
    },
    VerbRule {
        verb: Verb::Help,
        keyword: "HELP",
        extension: None,
        valid_in: ANY,
        on_success: Next::Same,
        on_failure: Next::Same,
        ends_group: true,
        success: &[211, 214],
    },
    VerbRule {
        verb: Verb::StartTls,
        keyword: "STARTTLS",
        extension: Some(Ext::StartTls),
        // RFC 3207 §4: after the EHLO that advertised it, outside a transaction.
        valid_in: &[State::Greeted],
        on_success: Next::To(State::Connected),
        on_failure: Next::Same,
        ends_group: true,
        success: &[220],
    },
    VerbRule {
        verb: Verb::Auth,
        keyword: "AUTH",
        extension: Some(Ext::Auth),
        valid_in: &[State::Greeted],
        on_success: Next::Same,
        on_failure: Next::Same,
        ends_group: true,
        success: &[235, 334],
    },
];

/// The rule of `verb`.
pub fn rule(verb: Verb) -> &'static VerbRule {
    // Every verb has exactly one row (a test walks them).
    VERBS.iter().find(|r| r.verb == verb).unwrap_or(&VERBS[0])
}

/// Whether another command may be sent after `verb` before its reply, when PIPELINING
/// is advertised (RFC 2920 §3.1).
pub fn may_follow(verb: Verb) -> bool {
    !rule(verb).ends_group
}

/// The verb of a parsed command (`None` for an unknown one).
pub fn verb_of(command: &crate::smtp::Command) -> Option<Verb> {
    use crate::smtp::Command;
    Some(match command {
        Command::Helo(_) => Verb::Helo,
        Command::Ehlo(_) => Verb::Ehlo,
        Command::Lhlo(_) => Verb::Lhlo,
        Command::Mail { .. } => Verb::Mail,
        Command::Rcpt { .. } => Verb::Rcpt,
        Command::Data => Verb::Data,
        Command::Bdat { .. } => Verb::Bdat,
        Command::Rset => Verb::Rset,
        Command::Noop(_) => Verb::Noop,
        Command::Quit => Verb::Quit,
        Command::Vrfy(_) => Verb::Vrfy,
        Command::Expn(_) => Verb::Expn,
        Command::Help(_) => Verb::Help,
        Command::StartTls => Verb::StartTls,
        Command::Auth { .. } => Verb::Auth,
        _ => return None,
    })
}

/// Whether `verb` may be sent (client) or is accepted (server) in `state`.
pub fn valid(verb: Verb, state: State) -> bool {
    rule(verb).valid_in.contains(&state)
}

/// The state diagram of [`VERBS`] (Mermaid `stateDiagram-v2`): an edge for every verb
/// that moves a session from a state where it is valid to another.
pub fn state_diagram() -> String {
    let mut out = String::from("stateDiagram-v2\n    [*] --> CONNECTED: 220 greeting\n");
    for from in State::ALL {
        let mut edges: alloc::vec::Vec<(State, alloc::vec::Vec<&str>)> = alloc::vec::Vec::new();
        for r in VERBS.iter().filter(|r| r.valid_in.contains(&from)) {
            let to = r.on_success.from(from);
            if to == from {
                continue;
            }
            match edges.iter_mut().find(|(t, _)| *t == to) {
                Some((_, verbs)) => verbs.push(r.keyword),
                None => edges.push((to, alloc::vec![r.keyword])),
            }
        }
        for (to, verbs) in edges {
            out.push_str(&alloc::format!(
                "    {} --> {}: {}\n",
                from.name(),
                to.name(),
                verbs.join(" ")
            ));
        }
    }
    out.push_str("    CHUNKING --> GREETED: BDAT LAST\n");
    out
}

/// The state table of [`VERBS`] as the Markdown table in docs/state-machines.md: one row
/// per verb, its extension, where it is valid, where success and failure lead, and
/// whether it ends a pipelined group.
pub fn state_table() -> String {
    let mut out = String::from(
        "| verb | extension | valid in | on success | on failure | ends a group | success replies |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let next = |n: Next| match n {
        Next::Same => String::from("same"),
        Next::To(s) => String::from(s.name()),
        Next::EndTransaction => String::from("GREETED if in a transaction"),
    };
    for r in VERBS {
        let valid: alloc::vec::Vec<&str> = r.valid_in.iter().map(|s| s.name()).collect();
        let codes: alloc::vec::Vec<String> =
            r.success.iter().map(|c| alloc::format!("{c}")).collect();
        out.push_str(&alloc::format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.keyword,
            r.extension.map_or("-", Ext::keyword),
            if r.valid_in.len() == State::ALL.len() {
                String::from("any")
            } else {
                valid.join(", ")
            },
            next(r.on_success),
            next(r.on_failure),
            if r.ends_group { "yes" } else { "no" },
            codes.join(", "),
        ));
    }
    out.push_str("\n| parameter | command | needs one of | only inside TLS |\n|---|---|---|---|\n");
    for p in PARAMS {
        let exts: alloc::vec::Vec<&str> = p.needs_any.iter().map(|e| e.keyword()).collect();
        out.push_str(&alloc::format!(
            "| {} | {} | {} | {} |\n",
            p.shown,
            rule(p.verb).keyword,
            exts.join(", "),
            if p.needs_tls { "yes" } else { "no" },
        ));
    }
    out
}

#[cfg(test)]
mod tests;
