//! [`ClientError`]: a command method was called when it may not be; [`Refused`] hands the
//! value back.

use core::fmt;

use crate::dot::DotError;
use crate::machine::Misuse;
use crate::smtp::EncodeError;

/// Why a [`Client`](super::Client) method refused to act. The machine's state and output
/// are unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// A reply is still outstanding, or a body is being sent: wait for the event that
    /// concludes the current command (RFC 5321 §4.1.4 and RFC 2920 §3.1: one command at
    /// a time unless pipelined by the machine itself).
    Busy,
    /// The session is closed (or waiting for the TLS handshake).
    Closed,
    /// The command needs another session state.
    WrongState {
        /// The command refused.
        command: &'static str,
        /// What it needs, in words.
        needs: &'static str,
    },
    /// The server did not advertise the extension the command or parameter needs
    /// (RFC 5321 §2.2.1; RFC 3207, RFC 4954, RFC 3030, RFC 1870, RFC 6531, RFC 3461 ...).
    NotAdvertised {
        /// The EHLO keyword, e.g. `"STARTTLS"`.
        extension: &'static str,
    },
    /// The SASL mechanism is not among the server's AUTH mechanisms (RFC 4954 §3); use
    /// [`auth_forced`](super::Client::auth_forced) to try anyway.
    MechanismNotAdvertised,
    /// The mechanism sends the password or token itself and the connection is not
    /// encrypted (RFC 4616 §5, RFC 4954 §4, RFC 7628 §5); use
    /// [`auth_forced`](super::Client::auth_forced) to send it anyway.
    NeedsTls,
    /// STARTTLS on a connection that already runs TLS (RFC 3207 §4.2).
    AlreadyTls,
    /// AUTH after a successful AUTH (RFC 4954 §4: the server answers 503).
    AlreadyAuthenticated,
    /// An envelope without recipients.
    NoRecipients,
    /// More recipients than [`ClientConfig::max_recipients`](super::ClientConfig::max_recipients).
    TooManyRecipients {
        /// The recipients given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `SIZE=` is above the maximum the server advertised (RFC 1870 §6: do not send it).
    MessageTooLarge {
        /// The declared size.
        size: u64,
        /// The server's maximum.
        max: u64,
    },
    /// A mailbox is not ASCII and the MAIL parameters lack `SMTPUTF8` (RFC 6531 §3.4).
    NeedsSmtpUtf8,
    /// `BODY=BINARYMIME` needs BDAT (RFC 3030 §3).
    BinaryNeedsBdat,
    /// A command argument could not be written (CR, LF, NUL or bad syntax;
    /// RFC 5321 §2.3.8).
    Encode(EncodeError),
    /// The body has a bare CR or LF and the policy is `Reject` (RFC 5321 §2.3.8).
    Body(DotError),
    /// The transaction already failed (a refused envelope or BDAT chunk): no more body
    /// may be sent; its concluding event is on its way.
    TransactionFailed,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Busy => f.write_str("a reply is still outstanding"),
            ClientError::Closed => f.write_str("the session is closed"),
            ClientError::WrongState { command, needs } => {
                write!(f, "{command} needs {needs}")
            }
            ClientError::NotAdvertised { extension } => {
                write!(f, "the server did not advertise {extension}")
            }
            ClientError::MechanismNotAdvertised => {
                f.write_str("the server did not advertise this SASL mechanism")
            }
            ClientError::NeedsTls => {
                f.write_str("this SASL mechanism sends the secret in the clear: TLS first")
            }
            ClientError::AlreadyTls => f.write_str("the connection already runs TLS"),
            ClientError::AlreadyAuthenticated => f.write_str("already authenticated"),
            ClientError::NoRecipients => f.write_str("an envelope needs at least one recipient"),
            ClientError::TooManyRecipients { count, max } => {
                write!(f, "{count} recipients, more than the limit of {max}")
            }
            ClientError::MessageTooLarge { size, max } => {
                write!(f, "SIZE={size} above the server's maximum of {max}")
            }
            ClientError::NeedsSmtpUtf8 => {
                f.write_str("a non-ASCII mailbox needs the SMTPUTF8 MAIL parameter")
            }
            ClientError::BinaryNeedsBdat => f.write_str("BODY=BINARYMIME needs BDAT"),
            ClientError::Encode(e) => write!(f, "cannot encode the command: {e}"),
            ClientError::Body(e) => write!(f, "cannot send the body: {e}"),
            ClientError::TransactionFailed => f.write_str("the transaction already failed"),
        }
    }
}

impl core::error::Error for ClientError {}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        ClientError::Encode(e)
    }
}

/// A refused command together with the value it was given, so nothing is lost
/// ([`Misuse::value`]).
pub type Refused<T> = Misuse<ClientError, T>;

impl<T> From<Refused<T>> for ClientError {
    fn from(r: Refused<T>) -> Self {
        r.into_kind()
    }
}
