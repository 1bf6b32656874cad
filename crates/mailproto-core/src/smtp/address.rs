//! Mailboxes as text: parsing an address a person typed, and `Display` for paths (for
//! logs and error messages).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::path::forward_path;
use super::{ForwardPath, Mailbox, ParseConfig, ParseError, ReversePath};

impl Mailbox {
    /// Parse `local@domain` or `<local@domain>` with the RFC 5321 §4.1.2 syntax and
    /// limits; UTF-8 is accepted when `smtputf8` is true (RFC 6531 §3.3).
    pub fn parse(text: &str, smtputf8: bool) -> Result<Mailbox, ParseError> {
        let text = text.trim();
        let cfg = ParseConfig::default().with_smtputf8(smtputf8);
        let bracketed;
        let path = if text.starts_with('<') {
            text
        } else {
            bracketed = alloc::format!("<{text}>");
            bracketed.as_str()
        };
        match forward_path(path, &cfg)? {
            (ForwardPath::Mailbox(m), "") => Ok(m),
            (_, rest) => Err(ParseError::Syntax {
                command: "address",
                expected: "a single mailbox local@domain",
                found: super::Snippet::new(if rest.is_empty() { path } else { rest }),
            }),
        }
    }
}

impl FromStr for Mailbox {
    type Err = ParseError;

    /// [`Mailbox::parse`] with UTF-8 allowed; whether it may be sent is checked when a
    /// transaction starts.
    fn from_str(s: &str) -> Result<Mailbox, ParseError> {
        Mailbox::parse(s, true)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        match self.encode(&mut out) {
            Ok(()) => f.write_str(&String::from_utf8_lossy(&out)),
            Err(_) => write!(f, "{}@{:?}", self.local_part, self.domain),
        }
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn typed_addresses_parse_with_or_without_brackets() {
        let m: Mailbox = "alice@example.org".parse().unwrap();
        assert_eq!(m.local_part, "alice");
        assert_eq!(m.to_string(), "alice@example.org");
        let q = Mailbox::parse("<\"a b\"@[127.0.0.1]>", false).unwrap();
        assert_eq!(q.local_part, "a b");
        assert_eq!(ForwardPath::Mailbox(q).to_string(), "<\"a b\"@[127.0.0.1]>");
        assert!(Mailbox::parse("no-at-sign", false).is_err());
        assert!(Mailbox::parse("a@b extra", false).is_err());
        assert!(Mailbox::parse("<a@b> SIZE=1", false).is_err());
    }
}
