//! Exit codes after sysexits(3), so that scripts and mail programs can tell a usage
//! mistake from a server that said "later" from one that said "never".

use std::fmt;

use mailproto_std::{Error, Refusal};

/// The command line was wrong.
pub const USAGE: u8 = 64;
/// The input data was wrong (a message without sender or recipients, a bad address).
pub const DATA: u8 = 65;
/// An input file could not be read.
pub const NO_INPUT: u8 = 66;
/// The server's host name does not resolve.
pub const NO_HOST: u8 = 68;
/// The service is unavailable: connection refused, TLS failed, a permanent (`5xx`)
/// refusal, the server lacks what is needed.
pub const UNAVAILABLE: u8 = 69;
/// An internal error.
pub const SOFTWARE: u8 = 70;
/// An output file or directory could not be created or written (the Maildir, fetch's
/// journal).
pub const CANT_CREATE: u8 = 73;
/// A temporary failure: a `4xx` reply, `[IN-USE]`, a timeout, a connection lost, an
/// unknown outcome; try again later.
pub const TEMPORARY: u8 = 75;
/// The server broke the protocol.
pub const PROTOCOL: u8 = 76;
/// Authentication failed.
pub const PERMISSION: u8 = 77;

/// The table for `--help`.
pub const HELP: &str = "Exit status (sysexits): 0 done; 1 a message was sent but some \
recipients were refused (send); 64 usage; 65 bad input data; 66 input file unreadable; \
68 host not found; 69 service unavailable (connection refused, TLS, a permanent 5xx \
refusal); 70 internal error; 73 cannot write the output (fetch's Maildir); 75 temporary failure (4xx, [IN-USE], \
timeout; try again later); 76 protocol error; 77 authentication failed.";

/// A failure with its exit code and the message for the user.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What to print.
    pub message: String,
}

impl Failure {
    /// `message` with `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A client error of the library, with what it was doing (`context`, e.g. the
    /// server's address) before it.
    pub fn client(context: &str, e: &Error) -> Failure {
        Failure::new(code_of(e), format!("{context}: {e}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for a client error of the library.
pub fn code_of(e: &Error) -> u8 {
    match e {
        Error::Rejected(Refusal::Smtp {
            command: "AUTH", ..
        }) => PERMISSION,
        Error::Rejected(r @ Refusal::Pop3 { .. })
            if r.status().and_then(|s| s.code.as_ref())
                == Some(&mailproto_std::core::pop3::ResponseCode::Auth) =>
        {
            PERMISSION
        }
        e if e.is_transient() => TEMPORARY,
        Error::Rejected(_) | Error::RecipientsRejected(_) | Error::Unsupported(_) => UNAVAILABLE,
        Error::Message(_) => DATA,
        Error::Tls(_) | Error::TlsMode(_) => UNAVAILABLE,
        Error::Timeout | Error::Closed | Error::OutcomeUnknown(_) => TEMPORARY,
        Error::Protocol(_) => PROTOCOL,
        Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => UNAVAILABLE,
            std::io::ErrorKind::NotFound => NO_HOST,
            _ if io.to_string().contains("lookup") => NO_HOST,
            std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof => TEMPORARY,
            _ => UNAVAILABLE,
        },
        _ => SOFTWARE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailproto_std::core::smtp::{Reply, ReplyCode};

    fn refused(command: &'static str, code: u16) -> Error {
        let reply = Reply::new(ReplyCode::new(code).unwrap(), None, "x");
        Error::Rejected(Refusal::Smtp { command, reply })
    }

    #[test]
    fn codes_follow_the_kind_of_failure() {
        assert_eq!(code_of(&refused("MAIL", 451)), TEMPORARY);
        assert_eq!(code_of(&refused("MAIL", 550)), UNAVAILABLE);
        assert_eq!(code_of(&refused("AUTH", 535)), PERMISSION);
        assert_eq!(code_of(&Error::Timeout), TEMPORARY);
        assert_eq!(
            code_of(&Error::Io(std::io::ErrorKind::ConnectionRefused.into())),
            UNAVAILABLE
        );
        assert_eq!(code_of(&Error::Protocol("x".into())), PROTOCOL);
    }
}
