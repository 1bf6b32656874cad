//! [`ClientError`]: a command the client refuses to issue.

use core::fmt;

use super::event::{CommandKind, SessionState};
use crate::machine::Misuse;
use crate::pop3::EncodeError;

/// Why a command was not issued. Nothing was queued or sent and the client's state is
/// unchanged, so the application can correct the call and go on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The session is over.
    Closed,
    /// QUIT was issued: no command may follow it (RFC 1939 §6).
    Quitting,
    /// STLS was issued: no command may follow until the server answered and TLS is up
    /// (RFC 2595 §4).
    TlsPending,
    /// The command is not valid in this state (RFC 1939 §§4-7, RFC 2595 §4, RFC 6856
    /// §2.1). TRANSACTION commands are accepted while a login is outstanding, so they
    /// can be pipelined after it.
    WrongState {
        /// The command refused.
        command: CommandKind,
        /// The state it was refused in.
        state: SessionState,
    },
    /// PASS may only follow USER (RFC 1939 §7).
    PassWithoutUser,
    /// APOP needs the timestamp of the greeting (RFC 1939 §7), and this greeting had none
    /// (or has not arrived yet).
    NoApopTimestamp,
    /// TLS is already active: STLS would fail (RFC 2595 §4).
    TlsAlreadyActive,
    /// STLS after UTF8 is forbidden (RFC 6856 §2.1).
    StlsAfterUtf8,
    /// As many commands are outstanding as
    /// [`ClientConfig::max_pending`](super::ClientConfig) allows.
    TooManyPending {
        /// The limit.
        limit: usize,
    },
    /// An argument cannot be written on the command line: CR, LF or NUL, a space in a
    /// user name, message number 0 ... (see [`Command::encode`](crate::pop3::Command)).
    Encode {
        /// The command refused.
        command: CommandKind,
        /// What is wrong with its arguments.
        error: EncodeError,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Closed => f.write_str("the POP3 session is closed"),
            ClientError::Quitting => f.write_str("QUIT was issued; no command may follow it"),
            ClientError::TlsPending => {
                f.write_str("STLS was issued; no command may follow until TLS is up")
            }
            ClientError::WrongState { command, state } => {
                write!(f, "{} is not allowed in {state}", command.keyword())
            }
            ClientError::PassWithoutUser => f.write_str("PASS must directly follow USER"),
            ClientError::NoApopTimestamp => {
                f.write_str("APOP needs a greeting with a timestamp, and there is none")
            }
            ClientError::TlsAlreadyActive => f.write_str("STLS refused: TLS is already active"),
            ClientError::StlsAfterUtf8 => f.write_str("STLS may not follow UTF8"),
            ClientError::TooManyPending { limit } => {
                write!(f, "{limit} commands are already outstanding")
            }
            ClientError::Encode { command, error } => {
                write!(f, "cannot write {}: {error}", command.keyword())
            }
        }
    }
}

impl core::error::Error for ClientError {}

/// A refused call that hands its argument back ([`Misuse::value`]), e.g.
/// [`Client::auth`](super::Client::auth) returns the
/// [`ClientAuth`](crate::sasl::ClientAuth) it could not use.
pub type Refused<T> = Misuse<ClientError, T>;

impl<T> From<Refused<T>> for ClientError {
    fn from(refused: Refused<T>) -> ClientError {
        refused.into_kind()
    }
}
