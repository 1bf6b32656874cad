//! [`Event`]: what the client machine reports to the application.

use core::fmt;

use crate::time::Deadline;

use crate::line::LineError;
use crate::smtp::{Capabilities, Reply, ReplyError};

/// What the client reports, from [`Machine::poll_event`](crate::Machine::poll_event).
///
/// Each command method leads to exactly one concluding event (named below) unless the
/// session closes first, in which case [`Event::Closed`] is the last event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's greeting (RFC 5321 §4.2, §3.1). `220`: issue
    /// [`ehlo`](super::Client::ehlo). Anything else (typically `554`, RFC 5321 §4.3.2)
    /// means the server will not serve this client: only
    /// [`quit`](super::Client::quit) is allowed. (A `421` greeting gives
    /// [`Event::Closed`] instead, as `421` does everywhere.)
    Greeting(Reply),
    /// EHLO/LHLO succeeded (`extended: true`, with the advertised capabilities) or, after
    /// EHLO was refused with 500/502, HELO did (`extended: false`, no capabilities;
    /// RFC 5321 §4.1.4, §3.2).
    Ready {
        /// The service extensions the server advertised (RFC 5321 §4.1.1.1).
        capabilities: Capabilities,
        /// Whether the session is ESMTP (EHLO/LHLO) rather than plain SMTP (HELO).
        extended: bool,
    },
    /// The server refused the hello: EHLO/LHLO with something other than 500/502, or
    /// HELO too after the fallback (RFC 5321 §4.1.1.1). The caller may QUIT.
    HelloRefused(Reply),
    /// The server answered STARTTLS with `220`, but more bytes had arrived after that
    /// reply in plaintext. They were thrown away unread (response injection,
    /// CVE-2021-22947 / CVE-2020-14954 class; RFC 3207 §4.2). The TLS switch goes on
    /// ([`Io::AwaitingTls`](crate::Io::AwaitingTls)); a cautious caller closes instead.
    TlsInjection {
        /// How many plaintext octets were discarded.
        discarded: usize,
    },
    /// The TLS handshake completed ([`Machine::tls_established`](crate::Machine::tls_established)):
    /// capabilities and authentication are forgotten and the caller must EHLO again
    /// (RFC 3207 §4.2).
    TlsReady,
    /// The server refused STARTTLS (`454` TLS not available, `501`, `5xx`; RFC 3207 §4).
    /// The session stays in plaintext: whether to continue is the caller's decision.
    StartTlsRefused(Reply),
    /// AUTH succeeded (`235`, RFC 4954 §6).
    Authenticated,
    /// AUTH failed (`535`, `534`, `538`, `454`, or `501` after the client cancelled;
    /// RFC 4954 §6).
    AuthFailed(Reply),
    /// The reply to `MAIL FROM` (RFC 5321 §4.1.1.2).
    MailReply(Reply),
    /// The reply to one `RCPT TO`, by its index in the recipient list
    /// (RFC 5321 §4.1.1.3). With PIPELINING every recipient gets one (RFC 2920 §3.1).
    RcptReply {
        /// Index into the recipients given to
        /// [`send_envelope`](super::Client::send_envelope).
        index: usize,
        /// The server's reply.
        reply: Reply,
    },
    /// The body may be sent now with [`send_body`](super::Client::send_body): DATA was
    /// answered `354` and at least one recipient was accepted, or (BDAT) the envelope is
    /// out and the next chunk may go. With BDAT it comes again whenever chunks may be
    /// sent after the in-flight limit held them back ([`Client::body_writable`](super::Client::body_writable)).
    ReadyForBody,
    /// The transaction ended before the body: MAIL refused, every recipient refused, or
    /// DATA refused. The machine has already sent RSET where the transaction was open
    /// (or a lone `.` when DATA was accepted anyway, RFC 2920 §3.1) and is ready for new
    /// commands.
    TransactionFailed {
        /// What failed.
        reason: FailureReason,
        /// The reply that made the transaction fail (the MAIL reply, the last RCPT
        /// reply, or the DATA reply).
        reply: Reply,
    },
    /// The server accepted the message (`250` after `.` or `BDAT ... LAST`).
    MessageAccepted(Reply),
    /// The server refused the message: the reply after the data, or the first refused
    /// BDAT chunk (RFC 3030 §2; the machine then sends RSET before reporting).
    MessageRejected(Reply),
    /// LMTP (RFC 2033 §4.2): the delivery result for one accepted recipient, in RCPT
    /// order, after the data.
    LmtpReply {
        /// Index into the recipients given to
        /// [`send_envelope`](super::Client::send_envelope).
        index: usize,
        /// The server's reply for that recipient.
        reply: Reply,
        /// Whether this is the last one of the transaction.
        last: bool,
    },
    /// The reply to [`rset`](super::Client::rset) (RFC 5321 §4.1.1.5).
    Reset(Reply),
    /// The reply to [`noop`](super::Client::noop) (RFC 5321 §4.1.1.9).
    Noop(Reply),
    /// The reply to [`vrfy`](super::Client::vrfy) (RFC 5321 §4.1.1.6).
    Verify(Reply),
    /// The session is over; [`Io::Closed`](crate::Io::Closed) from now on.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a transaction failed before its body ([`Event::TransactionFailed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// MAIL FROM was refused (RFC 5321 §4.1.1.2).
    MailRejected,
    /// Every RCPT TO was refused (RFC 5321 §3.3, RFC 2920 §3.1).
    NoValidRecipients,
    /// DATA was refused although recipients were accepted (RFC 5321 §4.1.1.4).
    DataRejected,
}

/// Why the session closed ([`Event::Closed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server answered QUIT (RFC 5321 §4.1.1.10).
    Quit(Reply),
    /// The server said `421` (RFC 5321 §3.8, §4.2.2): it is shutting the channel, at any
    /// point of the session. A transaction in progress did not complete.
    ServiceNotAvailable(Reply),
    /// The server closed the connection without a 221/421 (RFC 5321 §3.8: treat an open
    /// transaction as failed).
    PeerClosed,
    /// A deadline expired ([`Machine::handle_timeout`](crate::Machine::handle_timeout)):
    /// a reply did not come in time (RFC 5321 §4.5.3.2), the server did not take what
    /// was sent, or the TLS handshake did not complete.
    Timeout(Deadline),
    /// The server sent more than the client could hold while the application did not
    /// take its events.
    InputOverflow,
    /// The server's bytes broke the protocol; nothing more is read (RFC 5321 §4.2: a
    /// client cannot resynchronise on a broken reply stream).
    Protocol(ProtocolError),
}

/// How the server's bytes broke the protocol ([`CloseReason::Protocol`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reply line could not be framed (over-long, bare CR).
    Line(LineError),
    /// A reply line was malformed (RFC 5321 §4.2).
    Reply(ReplyError),
    /// A reply arrived while none was expected (RFC 5321 §4.2: one reply per command).
    /// Only `421` may come unsolicited.
    UnexpectedReply(Reply),
    /// The server kept challenging after the client cancelled AUTH with `*`
    /// (RFC 4954 §4: the server must then reject with 501).
    AuthNotCancelled,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Line(e) => write!(f, "bad reply line: {e}"),
            ProtocolError::Reply(e) => write!(f, "bad reply: {e}"),
            ProtocolError::UnexpectedReply(r) => {
                write!(
                    f,
                    "unexpected reply {} while no command was pending",
                    r.code
                )
            }
            ProtocolError::AuthNotCancelled => {
                f.write_str("server sent another AUTH challenge after the client cancelled")
            }
        }
    }
}

impl core::error::Error for ProtocolError {}
