//! The command encoder (RFC 5321 §4.1.1): a [`Command`] to one CRLF-terminated line,
//! appended to a caller buffer.
//!
//! The encoder refuses CR, LF and NUL in every argument (RFC 5321 §2.3.8: a client must
//! never let caller data end a line or inject a command) and values that have no wire
//! form. It does not check length limits (the peer's limits are the peer's business) nor
//! whether SMTPUTF8 was negotiated ([`Mailbox::is_ascii`] tells).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::abnf;
use super::error::EncodeError;
use super::params::{MailParams, RcptParams, push_u64};
use super::path::{is_dot_string, is_ldh_tag};
use super::table::Verb;
use super::types::{
    AddressLiteral, Command, ForwardPath, Host, InitialResponse, Mailbox, ReversePath,
};
use crate::sasl::{is_base64_text, is_mechanism_name};

/// Refuses CR, LF and NUL in `s` ([`crate::line::check_text`]).
pub(crate) fn check_text(field: &'static str, s: &str) -> Result<(), EncodeError> {
    crate::line::check_text(field, s)
}

/// Appends a Quoted-string for `s` (RFC 5321 §4.1.2): `"` and `\` are escaped.
fn push_quoted(field: &'static str, s: &str, out: &mut String) -> Result<(), EncodeError> {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if !c.is_ascii() => out.push(c),
            _ => {
                return Err(EncodeError::Invalid {
                    field,
                    reason: "control character cannot be quoted",
                });
            }
        }
    }
    out.push('"');
    Ok(())
}

/// Appends the wire form of a host: a domain, or `[...]`.
pub(crate) fn push_host(h: &Host, out: &mut String) -> Result<(), EncodeError> {
    match h {
        Host::Domain(d) => out.push_str(d.as_str()),
        Host::Literal(AddressLiteral::Ipv4(a)) => {
            let _ = write!(out, "[{a}]");
        }
        Host::Literal(AddressLiteral::Ipv6(a)) => {
            let _ = write!(out, "[IPv6:{a}]");
        }
        Host::Literal(AddressLiteral::General { tag, content }) => {
            check_text("address literal", tag)?;
            check_text("address literal", content)?;
            let tag_ok = is_ldh_tag(tag) && !tag.eq_ignore_ascii_case("IPv6");
            if !tag_ok || content.is_empty() || !content.bytes().all(abnf::is_dcontent) {
                return Err(EncodeError::Invalid {
                    field: "address literal",
                    reason: "not a General-address-literal",
                });
            }
            let _ = write!(out, "[{tag}:{content}]");
        }
    }
    Ok(())
}

/// Appends `local-part@domain`, quoting the local part when it is not a Dot-string.
pub(crate) fn push_mailbox(m: &Mailbox, out: &mut String) -> Result<(), EncodeError> {
    check_text("local part", &m.local_part)?;
    if is_dot_string(&m.local_part) {
        out.push_str(&m.local_part);
    } else {
        push_quoted("local part", &m.local_part, out)?;
    }
    out.push('@');
    push_host(&m.domain, out)
}

/// Appends a `String` argument: verbatim, or quoted when empty or starting with `"`
/// (the parser decodes a whole Quoted-string and keeps anything else verbatim). A
/// control character cannot be quoted; a string holding one is never a whole
/// Quoted-string, so it is written verbatim and reads back the same.
fn push_string(field: &'static str, s: &str, out: &mut String) -> Result<(), EncodeError> {
    check_text(field, s)?;
    let control = s.chars().any(|c| c.is_ascii_control());
    if s.is_empty() || (s.starts_with('"') && !control) {
        push_quoted(field, s, out)
    } else {
        out.push_str(s);
        Ok(())
    }
}

impl Command {
    /// Appends the command line, with its CRLF, to `out`. On error nothing is appended.
    ///
    /// ```
    /// use mailproto_core::smtp::Command;
    /// let mut out = Vec::new();
    /// Command::Bdat { size: 42, last: true }.encode(&mut out)?;
    /// assert_eq!(out, b"BDAT 42 LAST\r\n");
    /// # Ok::<(), mailproto_core::smtp::EncodeError>(())
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut line = String::new();
        self.encode_line(&mut line)?;
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
        Ok(())
    }

    fn encode_line(&self, s: &mut String) -> Result<(), EncodeError> {
        match self {
            Command::Helo(d) => {
                s.push_str("HELO ");
                s.push_str(d.as_str());
            }
            Command::Ehlo(h) | Command::Lhlo(h) => {
                s.push_str(self.verb());
                s.push(' ');
                push_host(h, s)?;
            }
            Command::Mail { from, params } => {
                s.push_str("MAIL FROM:<");
                if let ReversePath::Mailbox(m) = from {
                    push_mailbox(m, s)?;
                }
                s.push('>');
                params.encode_into(s)?;
            }
            Command::Rcpt { to, params } => {
                s.push_str("RCPT TO:<");
                match to {
                    ForwardPath::Postmaster => s.push_str("Postmaster"),
                    ForwardPath::Mailbox(m) => push_mailbox(m, s)?,
                }
                s.push('>');
                params.encode_into(s)?;
            }
            Command::Data | Command::Rset | Command::Quit | Command::StartTls => {
                s.push_str(self.verb());
            }
            Command::Bdat { size, last } => {
                s.push_str("BDAT ");
                push_u64(s, *size);
                if *last {
                    s.push_str(" LAST");
                }
            }
            Command::Noop(arg) | Command::Help(arg) => {
                s.push_str(self.verb());
                if let Some(a) = arg {
                    s.push(' ');
                    push_string("argument", a, s)?;
                }
            }
            Command::Vrfy(a) | Command::Expn(a) => {
                s.push_str(self.verb());
                s.push(' ');
                push_string("argument", a, s)?;
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                check_text("mechanism", mechanism)?;
                if !is_mechanism_name(mechanism.as_bytes()) {
                    return Err(EncodeError::Invalid {
                        field: "mechanism",
                        reason: "not 1 to 20 of A-Z 0-9 - _",
                    });
                }
                s.push_str("AUTH ");
                s.push_str(mechanism);
                match initial_response {
                    None => {}
                    Some(InitialResponse::Empty) => s.push_str(" ="),
                    Some(InitialResponse::Base64(b)) => {
                        check_text("initial response", b)?;
                        if !is_base64_text(b.as_bytes()) {
                            return Err(EncodeError::Invalid {
                                field: "initial response",
                                reason: "not base64 (use InitialResponse::Empty for none)",
                            });
                        }
                        s.push(' ');
                        s.push_str(b);
                    }
                }
            }
            Command::Unknown { verb, args } => {
                check_text("verb", verb)?;
                if verb.is_empty() || !verb.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(EncodeError::Invalid {
                        field: "verb",
                        reason: "not letters and digits",
                    });
                }
                if Verb::parse(verb.as_bytes()).is_some() {
                    return Err(EncodeError::Invalid {
                        field: "verb",
                        reason: "a known command must use its own variant",
                    });
                }
                s.push_str(verb);
                if let Some(a) = args {
                    check_text("arguments", a)?;
                    s.push(' ');
                    s.push_str(a);
                }
            }
        }
        Ok(())
    }
}

impl ReversePath {
    /// Appends `<...>` (or `<>`) to `out`, quoting the local part when needed.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut s = String::from("<");
        if let ReversePath::Mailbox(m) = self {
            push_mailbox(m, &mut s)?;
        }
        s.push('>');
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl ForwardPath {
    /// Appends `<...>` (or `<Postmaster>`) to `out`, quoting the local part when needed.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut s = String::from("<");
        match self {
            ForwardPath::Postmaster => s.push_str("Postmaster"),
            ForwardPath::Mailbox(m) => push_mailbox(m, &mut s)?,
        }
        s.push('>');
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Mailbox {
    /// Appends `local-part@domain` (no brackets) to `out`, quoting the local part when it
    /// is not a Dot-string (RFC 5321 §4.1.2).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut s = String::new();
        push_mailbox(self, &mut s)?;
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Host {
    /// Appends the domain, or the bracketed address literal (RFC 5321 §4.1.3), to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut s = String::new();
        push_host(self, &mut s)?;
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl MailParams {
    /// Appends ` KEYWORD[=value]` for every parameter (known ones first, in a fixed
    /// order, then `other`), as they follow the path of `MAIL FROM:`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut s = String::new();
        self.encode_into(&mut s)?;
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl RcptParams {
    /// Appends ` KEYWORD[=value]` for every parameter, as they follow the path of
    /// `RCPT TO:`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut s = String::new();
        self.encode_into(&mut s)?;
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
