//! The adapter's error type: what failed, in words a log can use, convertible to
//! `io::Error`.

use std::{fmt, io};

use mailproto_core::pop3::client::CommandKind;
use mailproto_core::pop3::{ResponseCode, Status};
use mailproto_core::smtp::{EnhancedCode, Reply};

use crate::smtp_client::RecipientResult;

/// What a server answered when it refused: an SMTP reply or a POP3 `-ERR`, kept whole,
/// with the command it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// An SMTP reply (4xx or 5xx; RFC 5321 §4.2.1) to `command` (`greeting`, `EHLO`,
    /// `STARTTLS`, `AUTH`, `MAIL`, `DATA`, `end of data`, `RSET`, or `session` for a
    /// `421` that closed it).
    Smtp {
        /// The command refused.
        command: &'static str,
        /// The reply: code, enhanced status code (RFC 3463) and text lines.
        reply: Reply,
    },
    /// A POP3 `-ERR` (RFC 1939 §3) to `command` (`None`: the greeting), with its
    /// response code (RFC 2449 §8, RFC 3206) when it has one.
    Pop3 {
        /// The command refused.
        command: Option<CommandKind>,
        /// The `-ERR` line.
        status: Status,
    },
}

impl Refusal {
    /// Whether trying again later may succeed: an SMTP `4xx` (RFC 5321 §4.2.1), a POP3
    /// `[IN-USE]`, `[LOGIN-DELAY]` (RFC 2449 §8.1) or `[SYS/TEMP]` (RFC 3206 §4).
    pub fn is_transient(&self) -> bool {
        match self {
            Refusal::Smtp { reply, .. } => reply.code.class() == 4,
            Refusal::Pop3 { status, .. } => matches!(
                status.code,
                Some(ResponseCode::InUse | ResponseCode::LoginDelay | ResponseCode::SysTemp)
            ),
        }
    }

    /// Whether the same request will fail again: an SMTP `5xx`, a POP3 `[AUTH]` or
    /// `[SYS/PERM]` (RFC 3206). A POP3 `-ERR` without a code is neither: RFC 1939 does
    /// not say.
    pub fn is_permanent(&self) -> bool {
        match self {
            Refusal::Smtp { reply, .. } => reply.code.class() == 5,
            Refusal::Pop3 { status, .. } => {
                matches!(
                    status.code,
                    Some(ResponseCode::Auth | ResponseCode::SysPerm)
                )
            }
        }
    }

    /// The SMTP reply, if this is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Refusal::Smtp { reply, .. } => Some(reply),
            Refusal::Pop3 { .. } => None,
        }
    }

    /// The POP3 `-ERR` line, if this is one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Refusal::Pop3 { status, .. } => Some(status),
            Refusal::Smtp { .. } => None,
        }
    }

    /// The enhanced status code of an SMTP reply (RFC 3463), when it has one.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.reply().and_then(|r| r.enhanced)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Smtp { command, reply } => write!(f, "{command}: {reply}"),
            Refusal::Pop3 { command, status } => {
                let mut line = Vec::new();
                let _ = status.encode(&mut line);
                let line = String::from_utf8_lossy(&line);
                match command {
                    Some(c) => write!(f, "{c}: {}", line.trim_end()),
                    None => write!(f, "greeting: {}", line.trim_end()),
                }
            }
        }
    }
}

/// Something that ended or refused an operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed.
    Io(io::Error),
    /// TLS could not be set up or broke (handshake, certificate, configuration).
    Tls(String),
    /// The peer did not answer within the machine's timeout.
    Timeout,
    /// The peer broke the protocol; the text names what it sent.
    Protocol(String),
    /// The server refused a command: its reply, kept whole.
    Rejected(Refusal),
    /// No recipient of a message was accepted: each recipient with the server's reply.
    RecipientsRejected(Vec<RecipientResult>),
    /// The message cannot be sent as it is: no sender or recipient in its header, a bad
    /// address, or content the server cannot take (8-bit, UTF-8, size).
    Message(crate::message::MessageError),
    /// TLS was used the wrong way for this port: a plaintext greeting where a TLS
    /// handshake was expected, or silence where a greeting was expected; the text names
    /// the likely mistake and the option that fixes it.
    TlsMode(String),
    /// A message's end of data went out and no answer came (the connection broke, a
    /// deadline passed): the relay may have delivered it. Not retried; the cause is
    /// inside.
    OutcomeUnknown(Box<Error>),
    /// The server does not offer what the request needs (an AUTH mechanism, an
    /// extension); the text says what and what to do.
    Unsupported(String),
    /// The session is closed.
    Closed,
    /// The machine waits for the application to answer an event, so there is nothing to
    /// read: a bug in the calling code.
    Idle,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Tls(e) => write!(f, "TLS error: {e}"),
            Error::Timeout => f.write_str("timed out waiting for the peer"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Rejected(refusal) => write!(f, "server refused {refusal}"),
            Error::RecipientsRejected(list) => {
                f.write_str("no recipient accepted")?;
                for r in list {
                    match &r.reply {
                        Err(reply) | Ok(reply) => write!(f, "; {}: {reply}", r.recipient)?,
                    }
                }
                Ok(())
            }
            Error::Unsupported(what) => f.write_str(what),
            Error::TlsMode(what) => f.write_str(what),
            Error::Message(e) => write!(f, "message not sent: {e}"),
            Error::OutcomeUnknown(cause) => write!(
                f,
                "outcome unknown: the message was sent but not answered ({cause}); it may \
                 have been delivered, so it was not sent again"
            ),
            Error::Closed => f.write_str("the session is closed"),
            Error::Idle => f.write_str(
                "the machine is waiting for the application to answer an event; nothing to read",
            ),
        }
    }
}

impl Error {
    /// Whether trying again later may succeed: the server refused with a transient
    /// reply ([`Refusal::is_transient`]), or refused every recipient transiently. A
    /// connection that failed or timed out is neither transient nor permanent here:
    /// whether to retry it is the caller's decision.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Rejected(r) => r.is_transient(),
            Error::RecipientsRejected(list) => {
                !list.is_empty() && list.iter().all(RecipientResult::is_transient)
            }
            _ => false,
        }
    }

    /// Whether the same request will fail again ([`Refusal::is_permanent`]; every
    /// recipient refused permanently; the server lacks what is needed).
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Rejected(r) => r.is_permanent(),
            Error::RecipientsRejected(list) => {
                !list.is_empty() && list.iter().all(RecipientResult::is_permanent)
            }
            Error::Unsupported(_) | Error::Message(_) => true,
            _ => false,
        }
    }

    /// The server's refusal, when it refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::OutcomeUnknown(e) => Some(e),
            Error::Message(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::message::MessageError> for Error {
    fn from(e: crate::message::MessageError) -> Self {
        Error::Message(e)
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e.to_string())
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            Error::Timeout => io::Error::new(io::ErrorKind::TimedOut, e.to_string()),
            Error::Closed => io::Error::new(io::ErrorKind::NotConnected, e.to_string()),
            Error::Tls(_) | Error::TlsMode(_) | Error::Protocol(_) => {
                io::Error::new(io::ErrorKind::InvalidData, e.to_string())
            }
            Error::Rejected(_)
            | Error::RecipientsRejected(_)
            | Error::Unsupported(_)
            | Error::OutcomeUnknown(_)
            | Error::Idle => io::Error::other(e.to_string()),
            Error::Message(e) => e.into(),
        }
    }
}
