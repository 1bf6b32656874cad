//! Parse and encode errors of the POP3 vocabulary.
//!
//! Every error names the offending input, bounded by [`Snippet`] so that a hostile peer
//! cannot make an error message grow without limit, and never echoes a secret (the
//! arguments of `PASS` and `AUTH` are masked).

use core::fmt;

pub use crate::snippet::{SNIPPET_MAX, Snippet};

/// Why a decimal number was refused (RFC 1939 §3: message numbers are positive decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumberError {
    /// Not a run of ASCII digits (a sign, a letter, nothing at all).
    NotDecimal,
    /// `0` where a message number (which starts at 1) was expected.
    Zero,
    /// Larger than the type holding it (`u32` for message numbers and line counts,
    /// `u64` for sizes).
    Overflow,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumberError::NotDecimal => "not a decimal number",
            NumberError::Zero => "message numbers start at 1",
            NumberError::Overflow => "number too large",
        })
    }
}

/// A line that is not valid POP3: a command, a response or a listing line.
///
/// [`ParseError::reply_text`] gives the `-ERR` text a server answers a bad command with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The line (counted with its CRLF, as RFC 2449 §4 counts) is over the configured
    /// limit.
    LineTooLong {
        /// Octets in the line, CRLF included.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// An empty command line.
    Empty,
    /// The keyword is not 3 or 4 printable characters (RFC 1939 §3, RFC 2449 §3).
    InvalidKeyword {
        /// The first token of the line.
        found: Snippet,
    },
    /// A byte that may not appear in the line: a control character (NUL, CR, LF, ...) in
    /// a command, or NUL in a response.
    InvalidByte {
        /// The offending byte.
        byte: u8,
        /// Its offset in the line.
        offset: usize,
    },
    /// An argument or text is not UTF-8.
    NotUtf8 {
        /// The offending input.
        found: Snippet,
    },
    /// A required argument is absent.
    MissingArgument {
        /// The command keyword.
        command: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// More arguments than the command takes.
    TooManyArguments {
        /// The command keyword.
        command: &'static str,
        /// The first surplus argument.
        found: Snippet,
    },
    /// A number argument or field is not acceptable.
    InvalidNumber {
        /// What the number is (e.g. "message number", "size").
        what: &'static str,
        /// Why.
        reason: NumberError,
        /// The offending token.
        found: Snippet,
    },
    /// An argument with the wrong form (an APOP digest that is not 32 hex digits, a SASL
    /// mechanism name with a forbidden character, ...).
    InvalidArgument {
        /// What the argument is.
        what: &'static str,
        /// The offending token (masked when it may carry a secret).
        found: Snippet,
    },
    /// A response line that starts with neither `+OK`, `-ERR` nor `+ ` (RFC 1939 §3,
    /// RFC 5034 §4).
    InvalidStatus {
        /// The start of the line.
        found: Snippet,
    },
    /// A typed payload was asked of a `-ERR` response.
    NegativeResponse {
        /// The response text.
        found: Snippet,
    },
    /// A unique-id outside 1-70 characters in 0x21..0x7E (RFC 1939 §7).
    InvalidUniqueId {
        /// The offending token.
        found: Snippet,
    },
    /// A capability line that does not follow RFC 2449 §3 or the syntax of its tag (§6).
    InvalidCapability {
        /// The capability tag.
        tag: Snippet,
        /// What is wrong.
        reason: &'static str,
    },
}

impl ParseError {
    /// The text a server puts after `-ERR ` when a command fails to parse.
    pub fn reply_text(&self) -> &'static str {
        match self {
            ParseError::LineTooLong { .. } => "Command line too long",
            ParseError::Empty => "Empty command",
            ParseError::InvalidKeyword { .. } => "Unknown command",
            ParseError::InvalidByte { .. } => "Invalid character in command",
            ParseError::NotUtf8 { .. } => "Invalid UTF-8 in command",
            ParseError::MissingArgument { .. } => "Missing argument",
            ParseError::TooManyArguments { .. } => "Too many arguments",
            ParseError::InvalidNumber {
                reason: NumberError::Zero,
                ..
            } => "No such message",
            ParseError::InvalidNumber { .. } => "Invalid number",
            ParseError::InvalidArgument { .. } => "Invalid argument",
            ParseError::InvalidStatus { .. }
            | ParseError::NegativeResponse { .. }
            | ParseError::InvalidUniqueId { .. }
            | ParseError::InvalidCapability { .. } => "Syntax error",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::LineTooLong { len, limit } => {
                write!(f, "line of {len} octets exceeds the limit of {limit}")
            }
            ParseError::Empty => f.write_str("empty command line"),
            ParseError::InvalidKeyword { found } => {
                write!(
                    f,
                    "invalid command keyword {found}: expected 3-4 printable characters"
                )
            }
            ParseError::InvalidByte { byte, offset } => {
                write!(f, "forbidden byte 0x{byte:02x} at offset {offset}")
            }
            ParseError::NotUtf8 { found } => write!(f, "not UTF-8: {found}"),
            ParseError::MissingArgument { command, expected } => {
                write!(f, "{command}: missing {expected}")
            }
            ParseError::TooManyArguments { command, found } => {
                write!(f, "{command}: unexpected argument {found}")
            }
            ParseError::InvalidNumber {
                what,
                reason,
                found,
            } => write!(f, "invalid {what} {found}: {reason}"),
            ParseError::InvalidArgument { what, found } => write!(f, "invalid {what} {found}"),
            ParseError::InvalidStatus { found } => {
                write!(
                    f,
                    "response {found} starts with neither +OK, -ERR nor \"+ \""
                )
            }
            ParseError::NegativeResponse { found } => {
                write!(f, "expected +OK, got -ERR {found}")
            }
            ParseError::InvalidUniqueId { found } => write!(
                f,
                "invalid unique-id {found}: expected 1-70 characters in 0x21..0x7E"
            ),
            ParseError::InvalidCapability { tag, reason } => {
                write!(f, "invalid capability {tag}: {reason}")
            }
        }
    }
}

impl core::error::Error for ParseError {}

/// A value that cannot be written as a POP3 line.
///
/// Encoders check before they write: on error the output buffer is left as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// CR, LF or NUL in a field: it would end the line early or smuggle a second one.
    ForbiddenByte {
        /// The field.
        field: &'static str,
        /// The offending byte.
        byte: u8,
    },
    /// A field that must not be empty is empty.
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A single-token field contains a space or another character it may not hold.
    InvalidToken {
        /// The field.
        field: &'static str,
        /// The offending value (masked for secrets).
        found: Snippet,
    },
    /// Message number 0 (message numbers start at 1, RFC 1939 §3).
    ZeroMessageNumber,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::ForbiddenByte { field, byte } => {
                write!(f, "{field} contains the forbidden byte 0x{byte:02x}")
            }
            EncodeError::Empty { field } => write!(f, "{field} is empty"),
            EncodeError::InvalidToken { field, found } => {
                write!(f, "{field} {found} is not a valid token")
            }
            EncodeError::ZeroMessageNumber => f.write_str("message number 0 (they start at 1)"),
        }
    }
}

impl core::error::Error for EncodeError {}

impl From<crate::line::ForbiddenOctet> for EncodeError {
    fn from(f: crate::line::ForbiddenOctet) -> Self {
        EncodeError::ForbiddenByte {
            field: f.field,
            byte: f.byte,
        }
    }
}
