//! The POP3 rules, written once and read by the parser, the encoder, the client and the
//! server (h11's way): the keyword of each command, the states in which it is valid and
//! the state its success leads to (RFC 1939 §§3-7), whether its `+OK` answer is
//! multi-line (and for which arguments), the CAPA capability that announces it
//! (RFC 2449 §6), and which commands nothing may follow in a pipelined group
//! (RFC 2449 §6.6, RFC 2595 §4, RFC 5034 §4).
//!
//! The state diagram in docs/state-machines.md is rendered from [`COMMANDS`] by
//! [`state_table`]; a test fails when the committed one differs.

use alloc::string::String;
use alloc::vec::Vec;

/// A command keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verb {
    /// `USER name` (RFC 1939 §7).
    User,
    /// `PASS string` (RFC 1939 §7).
    Pass,
    /// `APOP name digest` (RFC 1939 §7).
    Apop,
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4; bare, the mechanism list).
    Auth,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `UTF8` (RFC 6856 §2.1).
    Utf8,
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List,
    /// `RETR msg` (RFC 1939 §5).
    Retr,
    /// `DELE msg` (RFC 1939 §5).
    Dele,
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `QUIT` (RFC 1939 §§4, 6).
    Quit,
    /// `TOP msg n` (RFC 1939 §7).
    Top,
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl,
    /// `LANG [tag]` (RFC 6856 §3).
    Lang,
}

/// The RFC 1939 states in which commands are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Before a successful login.
    Authorization,
    /// After one, with the maildrop locked.
    Transaction,
}

impl State {
    /// The name used in the diagrams.
    pub fn name(self) -> &'static str {
        match self {
            State::Authorization => "AUTHORIZATION",
            State::Transaction => "TRANSACTION",
        }
    }
}

/// Where a successful command leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Next {
    /// The state does not change.
    Same,
    /// To this state.
    To(State),
    /// The session ends: after QUIT in AUTHORIZATION, or through UPDATE in TRANSACTION.
    End,
    /// AUTHORIZATION again, under TLS (STLS, RFC 2595 §4).
    Tls,
}

/// When the `+OK` answer of a command is followed by dot-terminated lines (a `-ERR` is
/// always one line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MultiLine {
    /// Never.
    Never,
    /// Always (RETR, TOP, CAPA).
    Always,
    /// When the command has no argument (LIST, UIDL; the mechanism list of a bare AUTH).
    WithoutArgument,
}

/// The rule of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandRule {
    /// The command.
    pub verb: Verb,
    /// Its keyword.
    pub keyword: &'static str,
    /// The states in which it is valid (elsewhere a server answers `-ERR` and a client
    /// does not send it).
    pub valid_in: &'static [State],
    /// Where a `+OK` leads.
    pub on_success: Next,
    /// Whether the `+OK` answer is multi-line.
    pub multi_line: MultiLine,
    /// The CAPA capability that announces it (RFC 2449 §6), if it is optional.
    pub capability: Option<&'static str>,
    /// Nothing may follow it until it is answered: a following command would be read as
    /// a SASL response (AUTH), cross the TLS boundary (STLS), or follow the end (QUIT).
    pub ends_group: bool,
}

const AUTHORIZATION: &[State] = &[State::Authorization];
const TRANSACTION: &[State] = &[State::Transaction];
const BOTH: &[State] = &[State::Authorization, State::Transaction];

const fn row(
    verb: Verb,
    keyword: &'static str,
    valid_in: &'static [State],
    on_success: Next,
    multi_line: MultiLine,
    capability: Option<&'static str>,
    ends_group: bool,
) -> CommandRule {
    CommandRule {
        verb,
        keyword,
        valid_in,
        on_success,
        multi_line,
        capability,
        ends_group,
    }
}

/// The rules of every command, in the order of [`Verb`] (a test checks it).
pub const COMMANDS: &[CommandRule] = &[
    row(
        Verb::User,
        "USER",
        AUTHORIZATION,
        Next::Same,
        MultiLine::Never,
        Some("USER"),
        false,
    ),
    row(
        Verb::Pass,
        "PASS",
        AUTHORIZATION,
        Next::To(State::Transaction),
        MultiLine::Never,
        Some("USER"),
        false,
    ),
    row(
        Verb::Apop,
        "APOP",
        AUTHORIZATION,
        Next::To(State::Transaction),
        MultiLine::Never,
        None,
        false,
    ),
    row(
        Verb::Auth,
        "AUTH",
        AUTHORIZATION,
        Next::To(State::Transaction),
        MultiLine::WithoutArgument,
        Some("SASL"),
        true,
    ),
    row(
        Verb::Stls,
        "STLS",
        AUTHORIZATION,
        Next::Tls,
        MultiLine::Never,
        Some("STLS"),
        true,
    ),
    row(
        Verb::Capa,
        "CAPA",
        BOTH,
        Next::Same,
        MultiLine::Always,
        None,
        false,
    ),
    row(
        Verb::Utf8,
        "UTF8",
        AUTHORIZATION,
        Next::Same,
        MultiLine::Never,
        Some("UTF8"),
        false,
    ),
    row(
        Verb::Stat,
        "STAT",
        TRANSACTION,
        Next::Same,
        MultiLine::Never,
        None,
        false,
    ),
    row(
        Verb::List,
        "LIST",
        TRANSACTION,
        Next::Same,
        MultiLine::WithoutArgument,
        None,
        false,
    ),
    row(
        Verb::Retr,
        "RETR",
        TRANSACTION,
        Next::Same,
        MultiLine::Always,
        None,
        false,
    ),
    row(
        Verb::Dele,
        "DELE",
        TRANSACTION,
        Next::Same,
        MultiLine::Never,
        None,
        false,
    ),
    row(
        Verb::Noop,
        "NOOP",
        TRANSACTION,
        Next::Same,
        MultiLine::Never,
        None,
        false,
    ),
    row(
        Verb::Rset,
        "RSET",
        TRANSACTION,
        Next::Same,
        MultiLine::Never,
        None,
        false,
    ),
    row(
        Verb::Quit,
        "QUIT",
        BOTH,
        Next::End,
        MultiLine::Never,
        None,
        true,
    ),
    row(
        Verb::Top,
        "TOP",
        TRANSACTION,
        Next::Same,
        MultiLine::Always,
        Some("TOP"),
        false,
    ),
    row(
        Verb::Uidl,
        "UIDL",
        TRANSACTION,
        Next::Same,
        MultiLine::WithoutArgument,
        Some("UIDL"),
        false,
    ),
    row(
        Verb::Lang,
        "LANG",
        BOTH,
        Next::Same,
        MultiLine::WithoutArgument,
        Some("LANG"),
        false,
    ),
];

/// The rule of `verb`.
pub fn rule(verb: Verb) -> &'static CommandRule {
    // The rows are in the order of the enum (a test walks them).
    &COMMANDS[verb as usize]
}

/// The command with this keyword, in any case.
pub fn lookup(keyword: &[u8]) -> Option<&'static CommandRule> {
    COMMANDS
        .iter()
        .find(|r| r.keyword.as_bytes().eq_ignore_ascii_case(keyword))
}

/// Whether `verb` is valid in `state`.
pub fn valid(verb: Verb, state: State) -> bool {
    rule(verb).valid_in.contains(&state)
}

/// Whether the `+OK` answer to `verb` (with an argument or not) is multi-line.
pub fn is_multi_line(verb: Verb, has_argument: bool) -> bool {
    match rule(verb).multi_line {
        MultiLine::Never => false,
        MultiLine::Always => true,
        MultiLine::WithoutArgument => !has_argument,
    }
}

/// The state diagram of [`COMMANDS`] (Mermaid `stateDiagram-v2`): an edge for every
/// command that moves a session on.
pub fn state_diagram() -> String {
    let mut out = String::from("stateDiagram-v2\n    [*] --> AUTHORIZATION: +OK greeting\n");
    for from in [State::Authorization, State::Transaction] {
        let mut edges: Vec<(&str, Vec<&str>)> = Vec::new();
        for r in COMMANDS.iter().filter(|r| r.valid_in.contains(&from)) {
            let to = match r.on_success {
                Next::Same => continue,
                Next::To(s) if s == from => continue,
                Next::To(s) => s.name(),
                Next::End if from == State::Transaction => "UPDATE",
                Next::End => "[*]",
                Next::Tls => "AWAITING_TLS",
            };
            match edges.iter_mut().find(|(t, _)| *t == to) {
                Some((_, names)) => names.push(r.keyword),
                None => edges.push((to, alloc::vec![r.keyword])),
            }
        }
        for (to, names) in edges {
            out.push_str(&alloc::format!(
                "    {} --> {}: {}\n",
                from.name(),
                to,
                names.join(" ")
            ));
        }
    }
    out.push_str("    AWAITING_TLS --> AUTHORIZATION: handshake\n    UPDATE --> [*]: +OK / -ERR\n");
    out
}

/// The state table of [`COMMANDS`] as the Markdown table in docs/state-machines.md.
pub fn state_table() -> String {
    let mut out = String::from(
        "| command | valid in | on +OK | multi-line +OK | CAPA capability | nothing may follow |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in COMMANDS {
        let valid: Vec<&str> = r.valid_in.iter().map(|s| s.name()).collect();
        let next = match r.on_success {
            Next::Same => "same",
            Next::To(s) => s.name(),
            Next::End => "end (UPDATE from TRANSACTION)",
            Next::Tls => "AUTHORIZATION under TLS",
        };
        let multi = match r.multi_line {
            MultiLine::Never => "no",
            MultiLine::Always => "yes",
            MultiLine::WithoutArgument => "without argument",
        };
        out.push_str(&alloc::format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.keyword,
            valid.join(", "),
            next,
            multi,
            r.capability.unwrap_or("-"),
            if r.ends_group { "yes" } else { "no" },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_one_row_and_its_keyword() {
        for (i, r) in COMMANDS.iter().enumerate() {
            assert_eq!(r.verb as usize, i, "{:?} out of order", r.verb);
            assert_eq!(rule(r.verb), r);
            assert_eq!(lookup(r.keyword.to_ascii_lowercase().as_bytes()), Some(r));
            assert!(COMMANDS[i + 1..].iter().all(|o| o.verb != r.verb));
        }
        assert_eq!(lookup(b"XTND"), None);
    }

    #[test]
    fn multi_line_answers_rfc1939() {
        assert!(is_multi_line(Verb::List, false));
        assert!(!is_multi_line(Verb::List, true));
        assert!(is_multi_line(Verb::Retr, true));
        assert!(is_multi_line(Verb::Capa, false));
        assert!(is_multi_line(Verb::Auth, false));
        assert!(!is_multi_line(Verb::Auth, true));
        assert!(!is_multi_line(Verb::Stat, false));
    }
}
