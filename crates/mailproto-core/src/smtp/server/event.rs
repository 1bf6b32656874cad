//! What the server reports ([`Event`]) and how the application's answers can go wrong
//! ([`AnswerError`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::dot::DotError;
use crate::machine::Misuse;
use crate::sasl::{Credentials, Mechanism};
use crate::smtp::{
    EncodeError, ForwardPath, Host, MailParams, RcptParams, Reply, ReplyCode, ReversePath,
};
use crate::time::Deadline;

/// What the server machine reports to the application, from
/// [`Machine::poll_event`](crate::Machine::poll_event).
///
/// Events marked *answer required* stop the machine until the application answers
/// with one of the [`Server`](super::Server) methods named; no further command is read
/// meanwhile. The others are informational.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// HELO, EHLO or LHLO was accepted; the machine has replied 250 (with the
    /// capabilities for EHLO/LHLO, RFC 5321 §4.1.1.1). Preceded by [`Event::Reset`] when
    /// it ended an open transaction (RFC 5321 §4.1.4).
    ///
    /// Under [`ask_hello`](super::ServerConfig::ask_hello) it comes before any reply
    /// and *answer required*: [`accept`](super::Server::accept) (or a 2xx
    /// [`reply`](super::Server::reply)) sends the machine's `250` and resets an open
    /// transaction ([`Event::Reset`] follows then); any other
    /// [`reply`](super::Server::reply) refuses the greeting and leaves the session as it
    /// was (`421` closes it).
    Hello {
        /// The name the client gave.
        domain: Host,
        /// EHLO or LHLO (true) rather than HELO.
        extended: bool,
    },
    /// `MAIL FROM:` passed the machine's checks (sequence, advertised parameters,
    /// declared SIZE). *Answer required*: [`accept`](super::Server::accept)
    /// (`250 2.1.0 Ok`, the transaction starts) or [`reply`](super::Server::reply) /
    /// [`reject`](super::Server::reject) (a 2xx reply also starts it).
    Mail {
        /// The reverse-path.
        from: ReversePath,
        /// Its ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:` passed the machine's checks (sequence, recipient limit). *Answer
    /// required*: [`accept`](super::Server::accept) (`250 2.1.5 Ok`) or
    /// [`reply`](super::Server::reply) / [`reject`](super::Server::reject). Only
    /// recipients answered with 2xx count as accepted.
    Rcpt {
        /// The forward-path.
        to: ForwardPath,
        /// Its ESMTP parameters.
        params: RcptParams,
    },
    /// A message body begins: after DATA (the machine has sent `354`), or with the first
    /// BDAT chunk of a transaction. Exactly one [`Event::MessageEnd`] or
    /// [`Event::MessageAborted`] follows, after any number of [`Event::BodyChunk`]s.
    ///
    /// Under [`ask_data`](super::ServerConfig::ask_data) it comes before the `354` (and
    /// before the first chunk's octets) and is *answer required*:
    /// [`accept`](super::Server::accept) (or a 2xx [`reply`](super::Server::reply))
    /// sends the `354` or takes the chunk, and the body follows as above; any other
    /// [`reply`](super::Server::reply) is the answer to DATA instead of `354` (RFC 5321
    /// §4.1.1.4; the transaction ends, [`Event::Reset`] follows), or to the BDAT chunk
    /// once its octets are read and dropped (RFC 3030 §2; later chunks of the
    /// transaction get it too, and the transaction ends at LAST). A refused start is not
    /// followed by `MessageEnd` or `MessageAborted`.
    DataStart {
        /// The body comes in BDAT chunks (RFC 3030) rather than after DATA.
        chunked: bool,
    },
    /// Body bytes as they arrived: dot-unstuffed for DATA (RFC 5321 §4.5.2), raw for
    /// BDAT. Adjacent chunks are just a continuation; how the body is cut depends on
    /// how the input arrived.
    BodyChunk(Vec<u8>),
    /// The body is complete (`CRLF.CRLF` after DATA, or `BDAT ... LAST`). *Answer
    /// required*: [`accept`](super::Server::accept) (`250 2.0.0 Ok: queued`) or
    /// [`reply`](super::Server::reply); in LMTP one answer per accepted recipient in
    /// RCPT order (RFC 2033 §4.2), e.g. [`reply_lmtp`](super::Server::reply_lmtp). The
    /// transaction ends either way.
    MessageEnd {
        /// Octets of body delivered in [`Event::BodyChunk`]s.
        size: u64,
    },
    /// The body being received is refused or cut off; the application must discard
    /// every chunk of it. The machine has replied itself when the client is still there
    /// (`552 5.3.4` too big, `550 5.5.2` bare line ending). The transaction ends.
    MessageAborted {
        /// Why.
        reason: AbortReason,
    },
    /// An AUTH exchange (RFC 4954) completed with syntactically valid credentials.
    /// *Answer required*: [`auth_accept`](super::Server::auth_accept)
    /// (`235 2.7.0`), [`auth_reject`](super::Server::auth_reject) (`535 5.7.8`),
    /// [`auth_reject_with_challenge`](super::Server::auth_reject_with_challenge) (OAuth
    /// error challenge, RFC 7628 §3.2.2) or [`reply`](super::Server::reply) (a 2xx reply
    /// authenticates, e.g. `454 4.7.0` does not).
    Auth {
        /// The SASL mechanism used.
        mechanism: Mechanism,
        /// What the client presented; checking it is the application's job.
        credentials: Credentials,
    },
    /// `VRFY string` (RFC 5321 §3.5), when [`vrfy_expn_events`] is on. *Answer
    /// required*: [`reply`](super::Server::reply) (250, 251, 252, 550, 551, 553 ...).
    ///
    /// [`vrfy_expn_events`]: super::ServerConfig::vrfy_expn_events
    Vrfy(String),
    /// `EXPN string` (RFC 5321 §3.5), when [`vrfy_expn_events`] is on. *Answer
    /// required*: [`reply`](super::Server::reply) (a multi-line 250, 252, 550 ...).
    ///
    /// [`vrfy_expn_events`]: super::ServerConfig::vrfy_expn_events
    Expn(String),
    /// STARTTLS was accepted: `220 2.0.0 Ready to start TLS` is queued, every plaintext
    /// byte received after the command is thrown away unread (command injection,
    /// CVE-2011-0411), and the machine waits in
    /// [`Io::AwaitingTls`](crate::Io::AwaitingTls) for the handshake.
    TlsStarting,
    /// Plaintext the client sent after STARTTLS was thrown away unread: reported once,
    /// with every octet counted (those held at the switch and those fed before the
    /// handshake completed), when the handshake completes or the session ends. A
    /// well-behaved client sends nothing there; a count is an injection attempt.
    TlsInjection {
        /// Plaintext octets discarded.
        discarded: usize,
    },
    /// The open transaction was dropped: RSET, a new HELO/EHLO/LHLO inside it
    /// (RFC 5321 §4.1.1.5, §4.1.4), or a DATA the application refused
    /// ([`ServerConfig::ask_data`](super::ServerConfig::ask_data)). Always emitted for
    /// RSET.
    Reset,
    /// The session is over; nothing more will be read. The adapter flushes the output
    /// and closes the connection.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a message body was given up ([`Event::MessageAborted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// The body grew beyond the configured maximum (RFC 1870 §6, `552 5.3.4`). For DATA
    /// the rest was read up to the terminator and dropped; for BDAT the chunk was read
    /// and dropped (RFC 3030 §2).
    TooBig {
        /// The limit in octets.
        limit: u64,
    },
    /// A bare CR or bare LF in a DATA body under [`BareLineEnding::Reject`]
    /// (RFC 5321 §2.3.8); the body was read to its terminator and refused.
    ///
    /// [`BareLineEnding::Reject`]: crate::line::BareLineEnding::Reject
    BareLineEnding(DotError),
    /// RSET or a new HELO/EHLO/LHLO between BDAT chunks (RFC 3030 §2).
    Reset,
    /// The session ended in the middle of the body (QUIT, end of stream, timeout, error
    /// limit).
    SessionEnded,
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbortReason::TooBig { limit } => {
                write!(f, "message larger than {limit} octets")
            }
            AbortReason::BareLineEnding(e) => fmt::Display::fmt(e, f),
            AbortReason::Reset => f.write_str("transaction reset between BDAT chunks"),
            AbortReason::SessionEnded => f.write_str("session ended during the message"),
        }
    }
}

/// Why a session ended ([`Event::Closed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT; the machine answered `221 2.0.0 Bye`.
    Quit,
    /// The client closed the connection (end of stream) without QUIT.
    PeerClosed,
    /// A deadline expired (RFC 5321 §4.5.3.2): the machine sent `421 4.4.2` (`421 4.3.0`
    /// for the application's deadline), or nothing for a write or handshake deadline.
    Timeout(Deadline),
    /// Input fed while the machine did not ask for it went beyond
    /// [`ServerLimits::max_buffered`](super::ServerLimits::max_buffered); `421 4.7.0`
    /// sent.
    InputOverflow,
    /// Too many command errors ([`ServerLimits::max_errors`]); `421 4.7.0` sent.
    ///
    /// [`ServerLimits::max_errors`]: super::ServerLimits::max_errors
    TooManyErrors,
    /// Too many failed AUTH exchanges ([`ServerLimits::max_auth_failures`]);
    /// `421 4.7.0` sent.
    ///
    /// [`ServerLimits::max_auth_failures`]: super::ServerLimits::max_auth_failures
    TooManyAuthFailures,
    /// The application answered with a `421` reply (RFC 5321 §3.8).
    Application,
    /// The server is shutting down ([`Server::shutdown`](super::Server::shutdown)):
    /// `421 4.3.2` sent.
    Shutdown,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::Quit => "client sent QUIT",
            CloseReason::PeerClosed => "client closed the connection",
            CloseReason::Timeout(d) => return write!(f, "{d} expired"),
            CloseReason::InputOverflow => "too much input while none was asked for",
            CloseReason::TooManyErrors => "too many command errors",
            CloseReason::TooManyAuthFailures => "too many authentication failures",
            CloseReason::Application => "application closed the session with 421",
            CloseReason::Shutdown => "server shutting down",
        })
    }
}

/// Which answer the machine waits for ([`Server::awaiting`](super::Server::awaiting)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Awaiting {
    /// An answer to [`Event::Mail`].
    Mail,
    /// An answer to [`Event::Rcpt`].
    Rcpt,
    /// Answers to [`Event::MessageEnd`]: one for SMTP, one per accepted recipient for
    /// LMTP.
    MessageEnd {
        /// Answers still due.
        replies: usize,
    },
    /// An answer to [`Event::Auth`].
    Auth,
    /// A reply to [`Event::Vrfy`].
    Vrfy,
    /// A reply to [`Event::Expn`].
    Expn,
    /// An answer to [`Event::Hello`] under
    /// [`ask_hello`](super::ServerConfig::ask_hello).
    Hello,
    /// An answer to [`Event::DataStart`] under
    /// [`ask_data`](super::ServerConfig::ask_data).
    Data {
        /// The body comes in BDAT chunks.
        chunked: bool,
    },
}

impl fmt::Display for Awaiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Awaiting::Mail => f.write_str("an answer to MAIL"),
            Awaiting::Rcpt => f.write_str("an answer to RCPT"),
            Awaiting::MessageEnd { replies } => {
                write!(f, "{replies} answer(s) to the end of the message")
            }
            Awaiting::Auth => f.write_str("an answer to AUTH"),
            Awaiting::Vrfy => f.write_str("a reply to VRFY"),
            Awaiting::Expn => f.write_str("a reply to EXPN"),
            Awaiting::Hello => f.write_str("an answer to HELO/EHLO"),
            Awaiting::Data { chunked: false } => f.write_str("an answer to DATA"),
            Awaiting::Data { chunked: true } => f.write_str("an answer to the first BDAT"),
        }
    }
}

/// An answer the application gave, handed back inside an [`AnswerError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// [`Server::accept`](super::Server::accept).
    Accept,
    /// [`Server::reply`](super::Server::reply) or [`Server::reject`](super::Server::reject).
    Reply(Reply),
    /// [`Server::reply_lmtp`](super::Server::reply_lmtp).
    Replies(Vec<Reply>),
    /// [`Server::auth_accept`](super::Server::auth_accept).
    AuthAccept,
    /// [`Server::auth_reject`](super::Server::auth_reject).
    AuthReject,
    /// [`Server::auth_reject_with_challenge`](super::Server::auth_reject_with_challenge),
    /// with the error challenge.
    AuthChallenge(Vec<u8>),
}

/// What was wrong with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerErrorKind {
    /// No event awaits an answer (or the session is closed).
    NothingPending,
    /// This kind of answer does not fit the event awaiting one (e.g. `accept` for VRFY,
    /// `auth_accept` for MAIL).
    WrongAnswer {
        /// What the machine waits for.
        awaiting: Awaiting,
    },
    /// The reply cannot be sent: CR, LF or NUL in its text, or an enhanced code of
    /// another class (RFC 3463 §2).
    InvalidReply(EncodeError),
    /// A 1xx or 3xx code: the machine sends the intermediate replies itself
    /// (`354`, `334`).
    IntermediateCode(ReplyCode),
    /// [`Server::reply_lmtp`](super::Server::reply_lmtp) with a number of replies other
    /// than the number due.
    WrongReplyCount {
        /// Replies due.
        expected: usize,
        /// Replies given.
        got: usize,
    },
}

/// An answer the machine refused; the state is unchanged and the answer is handed back
/// ([`Misuse::value`]).
pub type AnswerError = Misuse<AnswerErrorKind, Answer>;

impl fmt::Display for AnswerErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerErrorKind::NothingPending => f.write_str("no event awaits an answer"),
            AnswerErrorKind::WrongAnswer { awaiting } => {
                write!(f, "does not fit: the server waits for {awaiting}")
            }
            AnswerErrorKind::InvalidReply(e) => write!(f, "reply cannot be sent: {e}"),
            AnswerErrorKind::IntermediateCode(code) => {
                write!(f, "intermediate reply code {code} is the machine's to send")
            }
            AnswerErrorKind::WrongReplyCount { expected, got } => {
                write!(f, "{got} replies given, {expected} due")
            }
        }
    }
}
