//! Errors of the SMTP parsers and encoders, with the reply a server would give.

use alloc::string::String;
use core::fmt;

use super::reply::{EnhancedCode, ReplyCode};

pub use crate::snippet::{SNIPPET_MAX, Snippet};

/// Which path a [`ParseError::Path`] is about: it decides the enhanced status code
/// (RFC 3463 §3.2: X.1.7 for the sender, X.1.3 for a recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathRole {
    /// The reverse-path of `MAIL FROM:` (RFC 5321 §4.1.1.2).
    Sender,
    /// The forward-path of `RCPT TO:` (RFC 5321 §4.1.1.3).
    Recipient,
}

/// What is wrong with a path (RFC 5321 §4.1.2, limits §4.5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathErrorKind {
    /// No `<` ... `>` around the path.
    MissingBrackets,
    /// A source route (`@a,@b:`) that does not follow the grammar.
    InvalidSourceRoute,
    /// The local part is neither a Dot-string nor a Quoted-string.
    InvalidLocalPart,
    /// No `@` after the local part.
    MissingAt,
    /// The domain is not a sequence of valid labels.
    InvalidDomain,
    /// The `[...]` address literal is malformed.
    InvalidAddressLiteral,
    /// Non-ASCII in a path while SMTPUTF8 is not in effect (RFC 6531 §3.2).
    NonAsciiWithoutSmtpUtf8,
    /// The local part exceeds the limit (RFC 5321 §4.5.3.1.1).
    LocalPartTooLong {
        /// Octets found.
        length: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The domain exceeds the limit (RFC 5321 §4.5.3.1.2).
    DomainTooLong {
        /// Octets found.
        length: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The whole path exceeds the limit (RFC 5321 §4.5.3.1.3).
    PathTooLong {
        /// Octets found.
        length: usize,
        /// Configured maximum.
        max: usize,
    },
}

impl fmt::Display for PathErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathErrorKind::MissingBrackets => f.write_str("path not enclosed in <>"),
            PathErrorKind::InvalidSourceRoute => f.write_str("invalid source route"),
            PathErrorKind::InvalidLocalPart => f.write_str("invalid local part"),
            PathErrorKind::MissingAt => f.write_str("missing @ after local part"),
            PathErrorKind::InvalidDomain => f.write_str("invalid domain"),
            PathErrorKind::InvalidAddressLiteral => f.write_str("invalid address literal"),
            PathErrorKind::NonAsciiWithoutSmtpUtf8 => {
                f.write_str("non-ASCII address without SMTPUTF8")
            }
            PathErrorKind::LocalPartTooLong { length, max } => {
                write!(f, "local part too long ({length} > {max} octets)")
            }
            PathErrorKind::DomainTooLong { length, max } => {
                write!(f, "domain too long ({length} > {max} octets)")
            }
            PathErrorKind::PathTooLong { length, max } => {
                write!(f, "path too long ({length} > {max} octets)")
            }
        }
    }
}

/// Why a command line could not be parsed.
///
/// Each variant maps to the reply a server gives ([`ParseError::reply_code`],
/// [`ParseError::enhanced_code`]); `Display` names the offending input, bounded to
/// [`SNIPPET_MAX`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The line is empty.
    Empty,
    /// The line exceeds the command line limit (RFC 5321 §4.5.3.1.4), counting the CRLF.
    LineTooLong {
        /// Octets found, including the CRLF the framing layer removed.
        length: usize,
        /// Configured maximum for this command.
        max: usize,
    },
    /// NUL, CR or LF inside the line (RFC 5321 §2.3.8, §4.1.1).
    ForbiddenByte {
        /// The byte.
        byte: u8,
        /// Its offset in the line.
        offset: usize,
    },
    /// The line is not valid UTF-8 (only ASCII, or UTF-8 with SMTPUTF8, is allowed).
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The command verb is not a sequence of letters and digits (RFC 5321 §4.1.1).
    InvalidVerb(Snippet),
    /// The arguments of a known command do not follow its grammar.
    Syntax {
        /// The command verb, upper case.
        command: &'static str,
        /// What the grammar expected at this point.
        expected: &'static str,
        /// The input from the point of failure.
        found: Snippet,
    },
    /// The HELO / EHLO / LHLO argument is not a domain or address literal.
    InvalidHost(Snippet),
    /// Non-ASCII in an argument while SMTPUTF8 is not in effect (RFC 6531 §3.2).
    NonAsciiWithoutSmtpUtf8(Snippet),
    /// A reverse-path or forward-path is invalid (RFC 5321 §4.1.2).
    Path {
        /// Sender or recipient.
        role: PathRole,
        /// What is wrong.
        kind: PathErrorKind,
        /// The path text.
        found: Snippet,
    },
    /// An ESMTP parameter is malformed, or has a value it must not have, or lacks one.
    InvalidParameter {
        /// The keyword, upper case.
        keyword: String,
        /// The value (or the raw parameter).
        found: Snippet,
    },
    /// The same ESMTP parameter twice in one command.
    DuplicateParameter {
        /// The keyword, upper case.
        keyword: String,
    },
    /// A known parameter with a value this implementation does not support (e.g.
    /// `BODY=9BIT`).
    UnsupportedParameterValue {
        /// The keyword, upper case.
        keyword: String,
        /// The value.
        found: Snippet,
    },
    /// An unknown parameter while [`ParseConfig::reject_unknown_params`] is set.
    ///
    /// [`ParseConfig::reject_unknown_params`]: super::ParseConfig::reject_unknown_params
    UnknownParameter {
        /// The keyword, upper case.
        keyword: String,
    },
    /// A size (SIZE= or BDAT) does not fit in 64 bits (RFC 1870 §6, RFC 3030 §2).
    SizeOverflow(Snippet),
    /// AUTH mechanism name is not 1 to 20 of `A-Z 0-9 - _` (RFC 4954 §4).
    InvalidMechanism(Snippet),
    /// AUTH initial response is neither `=` nor base64 (RFC 4954 §4).
    InvalidInitialResponse(Snippet),
}

impl ParseError {
    /// The reply code a server answers this error with.
    ///
    /// RFC 5321 §4.2.2 / §4.5.3.1.9: 500 for a line that is not a command (bad verb, too
    /// long, forbidden bytes), 501 for bad arguments and paths; RFC 1870 §6: 552 for a SIZE
    /// beyond any limit; RFC 5321 §4.1.1.11: 504 for an unsupported parameter value and
    /// 555 for an unrecognised MAIL/RCPT parameter; RFC 6531 §3.6.1: 553 for a non-ASCII
    /// address without SMTPUTF8.
    pub fn reply_code(&self) -> ReplyCode {
        let code = match self {
            ParseError::Empty
            | ParseError::LineTooLong { .. }
            | ParseError::ForbiddenByte { .. }
            | ParseError::InvalidUtf8 { .. }
            | ParseError::InvalidVerb(_) => 500,
            ParseError::Syntax { .. }
            | ParseError::InvalidHost(_)
            | ParseError::NonAsciiWithoutSmtpUtf8(_)
            | ParseError::InvalidParameter { .. }
            | ParseError::DuplicateParameter { .. }
            | ParseError::InvalidMechanism(_)
            | ParseError::InvalidInitialResponse(_) => 501,
            ParseError::Path { kind, .. } => match kind {
                PathErrorKind::NonAsciiWithoutSmtpUtf8 => 553,
                _ => 501,
            },
            ParseError::UnsupportedParameterValue { .. } => 504,
            ParseError::UnknownParameter { .. } => 555,
            ParseError::SizeOverflow(_) => 552,
        };
        ReplyCode::new_unchecked(code)
    }

    /// The enhanced status code (RFC 3463) matching [`ParseError::reply_code`].
    pub fn enhanced_code(&self) -> EnhancedCode {
        let (s, d) = match self {
            ParseError::Empty | ParseError::InvalidVerb(_) => (5, 1),
            ParseError::LineTooLong { .. }
            | ParseError::ForbiddenByte { .. }
            | ParseError::InvalidUtf8 { .. }
            | ParseError::Syntax { .. }
            | ParseError::InvalidHost(_) => (5, 2),
            ParseError::NonAsciiWithoutSmtpUtf8(_) => (6, 7),
            ParseError::Path { role, kind, .. } => match (kind, role) {
                (PathErrorKind::NonAsciiWithoutSmtpUtf8, _) => (6, 7),
                (_, PathRole::Sender) => (1, 7),
                (_, PathRole::Recipient) => (1, 3),
            },
            ParseError::InvalidParameter { .. }
            | ParseError::DuplicateParameter { .. }
            | ParseError::UnsupportedParameterValue { .. }
            | ParseError::UnknownParameter { .. }
            | ParseError::InvalidMechanism(_)
            | ParseError::InvalidInitialResponse(_) => (5, 4),
            ParseError::SizeOverflow(_) => (3, 4),
        };
        EnhancedCode {
            class: 5,
            subject: s,
            detail: d,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty command line"),
            ParseError::LineTooLong { length, max } => {
                write!(f, "command line too long ({length} > {max} octets)")
            }
            ParseError::ForbiddenByte { byte, offset } => {
                write!(f, "forbidden byte 0x{byte:02x} at offset {offset}")
            }
            ParseError::InvalidUtf8 { offset } => {
                write!(f, "invalid UTF-8 at offset {offset}")
            }
            ParseError::InvalidVerb(s) => write!(f, "invalid command verb near {s}"),
            ParseError::Syntax {
                command,
                expected,
                found,
            } => write!(f, "{command}: expected {expected}, found {found}"),
            ParseError::InvalidHost(s) => {
                write!(f, "invalid domain or address literal {s}")
            }
            ParseError::NonAsciiWithoutSmtpUtf8(s) => {
                write!(f, "non-ASCII argument without SMTPUTF8: {s}")
            }
            ParseError::Path { role, kind, found } => {
                let r = match role {
                    PathRole::Sender => "sender",
                    PathRole::Recipient => "recipient",
                };
                write!(f, "{r} path: {kind}: {found}")
            }
            ParseError::InvalidParameter { keyword, found } => {
                write!(f, "invalid parameter {keyword}: {found}")
            }
            ParseError::DuplicateParameter { keyword } => {
                write!(f, "duplicate parameter {keyword}")
            }
            ParseError::UnsupportedParameterValue { keyword, found } => {
                write!(f, "unsupported value for {keyword}: {found}")
            }
            ParseError::UnknownParameter { keyword } => {
                write!(f, "unrecognised parameter {keyword}")
            }
            ParseError::SizeOverflow(s) => write!(f, "size out of range: {s}"),
            ParseError::InvalidMechanism(s) => write!(f, "invalid SASL mechanism name {s}"),
            ParseError::InvalidInitialResponse(s) => {
                write!(f, "invalid AUTH initial response {s}")
            }
        }
    }
}

impl core::error::Error for ParseError {}

/// Why a value could not be encoded. Nothing is appended to the output on error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// CR, LF or NUL in an argument: a client must never emit them (RFC 5321 §2.3.8),
    /// they would end or corrupt the line.
    ForbiddenByte {
        /// Which field held it.
        field: &'static str,
        /// The byte.
        byte: u8,
    },
    /// The value cannot be written in the protocol's syntax.
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::ForbiddenByte { field, byte } => {
                write!(f, "forbidden byte 0x{byte:02x} in {field}")
            }
            EncodeError::Invalid { field, reason } => write!(f, "invalid {field}: {reason}"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Errors of the reply parser ([`ReplyParser`](super::ReplyParser)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyError {
    /// The line does not start with a valid 3-digit code (RFC 5321 §4.2).
    InvalidCode(Snippet),
    /// After the code comes neither SP, `-` nor the end of line.
    InvalidSeparator(Snippet),
    /// NUL, CR or LF inside the line.
    ForbiddenByte {
        /// The byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
    /// The line exceeds the reply line limit (RFC 5321 §4.5.3.1.5), counting the CRLF.
    LineTooLong {
        /// Octets found including CRLF.
        length: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A multi-line reply has more lines than configured.
    TooManyLines {
        /// Configured maximum.
        max: usize,
    },
    /// A line of a multi-line reply carries another code than the first (RFC 5321 §4.2.1).
    InconsistentCode {
        /// The code of the first line.
        expected: ReplyCode,
        /// The code found.
        found: ReplyCode,
    },
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::InvalidCode(s) => write!(f, "invalid reply code in {s}"),
            ReplyError::InvalidSeparator(s) => {
                write!(f, "expected SP or '-' after reply code in {s}")
            }
            ReplyError::ForbiddenByte { byte, offset } => {
                write!(f, "forbidden byte 0x{byte:02x} at offset {offset} of reply")
            }
            ReplyError::LineTooLong { length, max } => {
                write!(f, "reply line too long ({length} > {max} octets)")
            }
            ReplyError::TooManyLines { max } => {
                write!(f, "multi-line reply longer than {max} lines")
            }
            ReplyError::InconsistentCode { expected, found } => {
                write!(
                    f,
                    "reply code {found} in a multi-line reply started as {expected}"
                )
            }
        }
    }
}

impl core::error::Error for ReplyError {}

impl From<crate::line::ForbiddenOctet> for EncodeError {
    fn from(f: crate::line::ForbiddenOctet) -> Self {
        EncodeError::ForbiddenByte {
            field: f.field,
            byte: f.byte,
        }
    }
}
