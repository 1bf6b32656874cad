//! The adapter's error type: what failed, in words a log can use, convertible to
//! `io::Error`.

use std::{fmt, io};

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
    /// The server refused a command; the text is its reply.
    Rejected(String),
    /// No recipient of a message was accepted: each recipient with the server's reply.
    RecipientsRejected(Vec<(String, String)>),
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
            Error::Rejected(reply) => write!(f, "server refused: {reply}"),
            Error::RecipientsRejected(list) => {
                f.write_str("no recipient accepted")?;
                for (recipient, reply) in list {
                    write!(f, "; {recipient}: {reply}")?;
                }
                Ok(())
            }
            Error::Closed => f.write_str("the session is closed"),
            Error::Idle => f.write_str(
                "the machine is waiting for the application to answer an event; nothing to read",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
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
            Error::Tls(_) | Error::Protocol(_) => {
                io::Error::new(io::ErrorKind::InvalidData, e.to_string())
            }
            Error::Rejected(_) | Error::RecipientsRejected(_) | Error::Idle => {
                io::Error::other(e.to_string())
            }
        }
    }
}
