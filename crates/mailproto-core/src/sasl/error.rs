//! [`AuthError`]: everything that can end a SASL exchange early.

use alloc::string::String;
use core::fmt;

/// Why a SASL exchange failed, on either side.
///
/// Each variant names the RFC rule it enforces; the protocol layers map them to replies
/// (RFC 4954 §4 and §6 for SMTP, RFC 5034 §4 for POP3's `-ERR`):
///
/// | variant | SMTP reply |
/// |---|---|
/// | [`Cancelled`](AuthError::Cancelled), [`BadBase64`](AuthError::BadBase64), [`UnexpectedInitialResponse`](AuthError::UnexpectedInitialResponse) | 501 |
/// | [`UnsupportedMechanism`](AuthError::UnsupportedMechanism), [`InvalidMechanismName`](AuthError::InvalidMechanismName) | 504 |
/// | [`LineTooLong`](AuthError::LineTooLong) | 500 |
/// | [`MissingChallenge`](AuthError::MissingChallenge) | 454 (server misconfiguration) |
/// | everything else (malformed messages, too many rounds, rejected) | 535 |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// A line was not canonical base64 (RFC 4648 §4; RFC 4954 §4 requires rejecting any
    /// character outside the alphabet and any misplaced `=`).
    BadBase64 {
        /// Offset of the first offending octet in the line.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// A decoded message does not follow its mechanism's grammar.
    Malformed {
        /// Mechanism whose grammar was broken (IANA name).
        mechanism: &'static str,
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// A field is not UTF-8 (RFC 4616 §2: PLAIN is UTF-8; the LOGIN draft §2 and RFC 7628
    /// §3.1 likewise).
    InvalidUtf8 {
        /// The field, e.g. `"authcid"`.
        field: &'static str,
    },
    /// A field is empty where the grammar needs at least one character
    /// (RFC 4616 §2: `authcid = 1*SAFE`, `passwd = 1*SAFE`).
    EmptyField {
        /// The field, e.g. `"passwd"`.
        field: &'static str,
    },
    /// A field is longer than the configured limit (RFC 4616 §2: servers must accept at
    /// least 255 octets; this crate's default limit is exactly that).
    FieldTooLong {
        /// The field, e.g. `"authzid"`.
        field: &'static str,
        /// Its length in octets.
        len: usize,
        /// The limit in octets.
        max: usize,
    },
    /// A field holds a character its grammar forbids (NUL in PLAIN fields, RFC 4616 §2;
    /// `%x01` in OAuth key/values, RFC 7628 §3.1).
    ForbiddenCharacter {
        /// The field, e.g. `"authcid"`.
        field: &'static str,
        /// The forbidden octet.
        byte: u8,
    },
    /// A client response line exceeded the configured length (RFC 4954 §4: "longer than
    /// the server's authentication buffer", answered with 500).
    LineTooLong {
        /// Length of the line in octets.
        len: usize,
        /// The limit in octets.
        max: usize,
    },
    /// The exchange needed more challenges than the configured bound.
    TooManyRounds {
        /// The bound.
        max: usize,
    },
    /// The client cancelled with a line holding a single `*` (RFC 4954 §4: 501; RFC 5034
    /// §4: `-ERR`).
    Cancelled,
    /// The mechanism is not implemented here (RFC 4954 §4: 504).
    UnsupportedMechanism(String),
    /// A mechanism name breaks RFC 4422 §3.1 (`1*20` of `A-Z 0-9 - _`).
    InvalidMechanismName,
    /// The client sent an initial response for a mechanism where the server speaks first,
    /// e.g. CRAM-MD5 (RFC 4954 §4: 501).
    UnexpectedInitialResponse,
    /// The server sent a challenge this client's mechanism has no answer for.
    UnexpectedChallenge,
    /// CRAM-MD5 was started but the server configuration holds no challenge
    /// (the core has no clock or randomness, so the caller must provide it; RFC 2195 §2).
    MissingChallenge,
    /// The client credentials lack what the mechanism needs, e.g. a token for XOAUTH2.
    MissingCredential {
        /// What is missing, e.g. `"token"`.
        what: &'static str,
    },
    /// The application rejected the credentials after an error challenge
    /// (RFC 7628 §3.2.3; XOAUTH2 behaves alike).
    Rejected,
    /// `step` was called after the exchange had already ended.
    Finished,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::BadBase64 { offset, reason } => {
                write!(f, "invalid base64 at offset {offset}: {reason}")
            }
            AuthError::Malformed { mechanism, reason } => {
                write!(f, "malformed {mechanism} message: {reason}")
            }
            AuthError::InvalidUtf8 { field } => write!(f, "SASL field {field} is not UTF-8"),
            AuthError::EmptyField { field } => write!(f, "SASL field {field} is empty"),
            AuthError::FieldTooLong { field, len, max } => {
                write!(f, "SASL field {field} is {len} octets long, limit {max}")
            }
            AuthError::ForbiddenCharacter { field, byte } => {
                write!(
                    f,
                    "SASL field {field} contains forbidden octet 0x{byte:02x}"
                )
            }
            AuthError::LineTooLong { len, max } => {
                write!(f, "SASL response line is {len} octets long, limit {max}")
            }
            AuthError::TooManyRounds { max } => {
                write!(f, "SASL exchange needs more than {max} challenges")
            }
            AuthError::Cancelled => f.write_str("SASL exchange cancelled by the client"),
            AuthError::UnsupportedMechanism(name) => {
                let end = name.char_indices().nth(32).map_or(name.len(), |(i, _)| i);
                let shown = &name[..end];
                write!(f, "unsupported SASL mechanism {shown:?}")
            }
            AuthError::InvalidMechanismName => f.write_str("invalid SASL mechanism name"),
            AuthError::UnexpectedInitialResponse => {
                f.write_str("initial response not allowed for this SASL mechanism")
            }
            AuthError::UnexpectedChallenge => {
                f.write_str("unexpected SASL challenge from the server")
            }
            AuthError::MissingChallenge => {
                f.write_str("CRAM-MD5 needs a challenge in the server configuration")
            }
            AuthError::MissingCredential { what } => {
                write!(f, "SASL mechanism needs a {what}, none given")
            }
            AuthError::Rejected => f.write_str("credentials rejected"),
            AuthError::Finished => f.write_str("SASL exchange already finished"),
        }
    }
}

impl core::error::Error for AuthError {}
