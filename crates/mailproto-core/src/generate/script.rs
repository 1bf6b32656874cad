//! Client sessions as data: the steps a player sends, in order.

use alloc::vec::Vec;

use crate::pop3;
use crate::smtp;
use crate::time::Duration;

/// One step of an SMTP client session, as [`SmtpPlayer`](super::SmtpPlayer) plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpStep {
    /// Send this command (encoded with [`smtp::Command::encode`]) and wait for its
    /// reply. A `334` challenge is cancelled with `*` (RFC 4954 §4); a `354` is
    /// followed by an empty body. A `BDAT` sent this way is the line alone: the server
    /// then reads its octets from the steps that follow (use [`SmtpStep::Bdat`] for a
    /// chunk).
    Command(smtp::Command),
    /// `DATA`, then on `354` this body, dot-stuffed and terminated (RFC 5321 §4.5.2),
    /// and wait for the reply to the end of the message. The body is sent as given
    /// (bare CR or LF included); a body that does not end with CRLF gets one before
    /// the terminating dot.
    Data(Vec<u8>),
    /// `BDAT <size>[ LAST]` and the chunk's octets in one write (RFC 3030 §2), then
    /// wait for the reply.
    Bdat {
        /// The chunk.
        chunk: Vec<u8>,
        /// Whether this is the last chunk of the message.
        last: bool,
    },
    /// Send these bytes and CRLF as one command line, and wait for one reply: for
    /// lines no encoder writes.
    Raw(Vec<u8>),
    /// Let this much (virtual) time pass before the next step.
    Pause(Duration),
}

/// An SMTP client session: the steps a [`SmtpPlayer`](super::SmtpPlayer) sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmtpScript {
    /// The steps, in order.
    pub steps: Vec<SmtpStep>,
}

/// One step of a POP3 client session, as [`Pop3Player`](super::Pop3Player) plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pop3Step {
    /// Send this command (encoded with [`pop3::Command::encode`]) and wait for its
    /// answer, multi-line where the protocol table says an `+OK` to it is. A SASL
    /// challenge is cancelled with `*` (RFC 5034 §4).
    Command(pop3::Command),
    /// Send these bytes and CRLF as one command line, and wait for a single-line
    /// answer.
    Raw(Vec<u8>),
    /// Let this much (virtual) time pass before the next step.
    Pause(Duration),
}

/// A POP3 client session: the steps a [`Pop3Player`](super::Pop3Player) sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pop3Script {
    /// The steps, in order.
    pub steps: Vec<Pop3Step>,
}
