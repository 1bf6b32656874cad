//! What the client reports: [`Event`], and the names and reasons it carries.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::dot::DotError;
use crate::pop3::table::{self, Verb};
use crate::pop3::{
    Capabilities, DropListing, ParseError, ScanListing, Snippet, Status, UniqueIdListing,
};
use crate::sasl::{AuthError, Mechanism};
use crate::time::Deadline;

/// Which command a response answers, with its numeric arguments (never a name or a
/// credential, so an event can be logged as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandKind {
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `USER name` (RFC 1939 §7).
    User,
    /// `PASS string` (RFC 1939 §7).
    Pass,
    /// `APOP name digest` (RFC 1939 §7).
    Apop,
    /// `AUTH mechanism [initial-response]` (RFC 5034 §4).
    Auth,
    /// `AUTH` without argument: the list of SASL mechanisms (RFC 1734 era).
    AuthList,
    /// `UTF8` (RFC 6856 §2.1).
    Utf8,
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List(Option<u32>),
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),
    /// `RETR msg` (RFC 1939 §5).
    Retr(u32),
    /// `TOP msg n` (RFC 1939 §7).
    Top {
        /// The message number.
        msg: u32,
        /// Body lines asked for.
        lines: u32,
    },
    /// `DELE msg` (RFC 1939 §5).
    Dele(u32),
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `QUIT` (RFC 1939 §§4, 6).
    Quit,
}

impl CommandKind {
    /// The command keyword, in upper case (from the protocol table).
    pub fn keyword(self) -> &'static str {
        table::rule(self.verb()).keyword
    }

    /// The command's row in the protocol table.
    pub fn verb(self) -> Verb {
        match self {
            CommandKind::Capa => Verb::Capa,
            CommandKind::Stls => Verb::Stls,
            CommandKind::User => Verb::User,
            CommandKind::Pass => Verb::Pass,
            CommandKind::Apop => Verb::Apop,
            CommandKind::Auth | CommandKind::AuthList => Verb::Auth,
            CommandKind::Utf8 => Verb::Utf8,
            CommandKind::Stat => Verb::Stat,
            CommandKind::List(_) => Verb::List,
            CommandKind::Uidl(_) => Verb::Uidl,
            CommandKind::Retr(_) => Verb::Retr,
            CommandKind::Top { .. } => Verb::Top,
            CommandKind::Dele(_) => Verb::Dele,
            CommandKind::Rset => Verb::Rset,
            CommandKind::Noop => Verb::Noop,
            CommandKind::Quit => Verb::Quit,
        }
    }

    /// Whether the command carries an argument (a message number, a mechanism).
    pub fn has_argument(self) -> bool {
        matches!(
            self,
            CommandKind::User
                | CommandKind::Pass
                | CommandKind::Apop
                | CommandKind::Auth
                | CommandKind::List(Some(_))
                | CommandKind::Uidl(Some(_))
                | CommandKind::Retr(_)
                | CommandKind::Top { .. }
                | CommandKind::Dele(_)
        )
    }

    /// Whether a `+OK` answer to this command is followed by dot-terminated lines, as
    /// the protocol table says (RFC 1939 §3: LIST and UIDL without argument, RETR, TOP;
    /// RFC 2449 §5: CAPA; the mechanism list of a bare AUTH). A `-ERR` answer is always
    /// a single line.
    pub fn is_multi_line(self) -> bool {
        table::is_multi_line(self.verb(), self.has_argument())
    }
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match *self {
            CommandKind::List(Some(n))
            | CommandKind::Uidl(Some(n))
            | CommandKind::Retr(n)
            | CommandKind::Dele(n) => write!(f, " {n}"),
            CommandKind::Top { msg, lines } => write!(f, " {msg} {lines}"),
            _ => Ok(()),
        }
    }
}

/// The session state as the client sees it (RFC 1939 §3), plus the two waits of the
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Connected, the greeting has not arrived yet (RFC 1939 §4).
    Greeting,
    /// AUTHORIZATION: the greeting was `+OK`, no login has succeeded yet.
    Authorization,
    /// STLS was accepted: the TLS handshake must run (RFC 2595 §4).
    AwaitingTls,
    /// TRANSACTION: PASS, APOP or AUTH succeeded (RFC 1939 §5).
    Transaction,
    /// The session is over.
    Closed,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionState::Greeting => "waiting for the greeting",
            SessionState::Authorization => "AUTHORIZATION state",
            SessionState::AwaitingTls => "waiting for the TLS handshake",
            SessionState::Transaction => "TRANSACTION state",
            SessionState::Closed => "closed",
        })
    }
}

/// What the POP3 client reports, in the order the server's bytes say it.
///
/// Every command issued gets exactly one outcome, in issue order (RFC 2449 §6.6): for a
/// multi-line `+OK` the outcome spans several events (`MessageStart`, `MessageData`...,
/// then `MessageEnd` or `Malformed`), otherwise it is one of `Ok`, `Err`, `LoggedIn`,
/// `Capabilities`, `SaslMechanisms`, `Stat`, `Scan`, `ScanList`, `Uidl`, `UidlList` or
/// `Malformed`. STLS is the exception: its `+OK` shows as
/// [`Io::AwaitingTls`](crate::Io::AwaitingTls), then `TlsReady`. `Closed` ends the
/// session; commands still outstanding then have no outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server greeting (RFC 1939 §4). A `-ERR` greeting is followed by `Closed`.
    Greeting {
        /// The greeting line.
        status: Status,
        /// The APOP timestamp (RFC 1939 §7), brackets included, if the greeting carries
        /// a well-formed one.
        apop_timestamp: Option<String>,
    },
    /// A `+OK` to a command without a typed answer (USER, DELE, RSET, NOOP, UTF8,
    /// QUIT).
    Ok {
        /// The command answered.
        command: CommandKind,
        /// The `+OK` line.
        status: Status,
    },
    /// A `-ERR` to any command, with its response code if any (RFC 2449 §8, RFC 3206:
    /// `[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, `[SYS/PERM]`, `[AUTH]`).
    Err {
        /// The command refused.
        command: CommandKind,
        /// The `-ERR` line.
        status: Status,
    },
    /// PASS, APOP or AUTH succeeded: the session is in TRANSACTION state (RFC 1939 §5).
    /// The cached capabilities are dropped; CAPA again to learn what TRANSACTION offers
    /// (RFC 2449 §5).
    LoggedIn {
        /// [`CommandKind::Pass`], [`CommandKind::Apop`] or [`CommandKind::Auth`].
        command: CommandKind,
        /// The `+OK` line.
        status: Status,
    },
    /// The answer to CAPA (RFC 2449 §5). Lines that do not parse are skipped.
    Capabilities(Capabilities),
    /// The answer to `AUTH` without argument: the mechanisms offered. Names that are not
    /// valid SASL mechanism names (RFC 4422 §3.1) are skipped.
    SaslMechanisms(Vec<Mechanism>),
    /// The answer to STAT (RFC 1939 §5).
    Stat(DropListing),
    /// The answer to `LIST msg` (RFC 1939 §5).
    Scan(ScanListing),
    /// The answer to `LIST` (RFC 1939 §5).
    ScanList(Vec<ScanListing>),
    /// The answer to `UIDL msg` (RFC 1939 §7).
    Uidl(UniqueIdListing),
    /// The answer to `UIDL` (RFC 1939 §7).
    UidlList(Vec<UniqueIdListing>),
    /// A `+OK` to RETR or TOP: the message follows as `MessageData` events, then
    /// `MessageEnd`.
    MessageStart {
        /// The message number.
        msg: u32,
        /// `None` for RETR, the body lines asked for with TOP.
        lines: Option<u32>,
        /// The `+OK` line.
        status: Status,
    },
    /// The next bytes of the message, unstuffed (RFC 1939 §3), streamed as they arrive.
    /// Chunk boundaries depend on how the bytes arrived; their concatenation does not.
    MessageData(Vec<u8>),
    /// The terminating `.` line of the message was read.
    MessageEnd,
    /// A `+OK` answer the client could not use, although the stream stays in step (a
    /// STAT without numbers, a bad LIST line, a body with a bare line ending under
    /// [`BareLineEnding::Reject`](crate::line::BareLineEnding::Reject)). For a
    /// multi-line answer this comes after its terminator, instead of its listing event
    /// or `MessageEnd`.
    Malformed {
        /// The command answered.
        command: CommandKind,
        /// What is wrong.
        error: ResponseError,
    },
    /// The client cancelled an AUTH exchange with `*` (RFC 5034 §4), because a challenge
    /// was not valid base64 or the mechanism had no answer to it. The server's `-ERR`
    /// follows as `Err`.
    AuthCancelled {
        /// Why the client cancelled.
        reason: AuthError,
    },
    /// Bytes received in plaintext after the `+OK` to STLS were thrown away unread
    /// (response injection, CVE-2021-22947 / CVE-2020-14954 class). Reported once, when
    /// the wait for TLS ends, before `TlsReady`.
    TlsInjection {
        /// How many bytes were discarded.
        discarded: usize,
    },
    /// The TLS handshake after STLS completed. The capabilities were dropped (RFC 2595
    /// §4): CAPA again before relying on them.
    TlsReady,
    /// The session is over; the adapter closes the connection.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// QUIT was answered (RFC 1939 §6).
    Quit,
    /// The greeting was `-ERR` (RFC 1939 §4).
    GreetingRejected,
    /// The server closed the connection before QUIT was answered.
    PeerClosed,
    /// A deadline expired ([`ClientConfig::timeouts`](super::ClientConfig)): no response
    /// in time, commands not taken by the server, or the TLS handshake.
    Timeout(Deadline),
    /// The server sent more than the client could hold while the application did not
    /// take its events.
    InputOverflow,
    /// The application called [`Client::abort`](super::Client::abort).
    Aborted,
    /// The server broke the protocol; the stream cannot be trusted any further.
    Protocol(ProtocolError),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Quit => f.write_str("QUIT answered"),
            CloseReason::GreetingRejected => f.write_str("the server refused the session"),
            CloseReason::PeerClosed => f.write_str("the server closed the connection"),
            CloseReason::Timeout(d) => write!(f, "{d} expired"),
            CloseReason::InputOverflow => f.write_str("too much input while none was asked for"),
            CloseReason::Aborted => f.write_str("aborted by the application"),
            CloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// A server response the client cannot stay in step with; the session is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A greeting or first response line over [`Limits::status_line`] octets (RFC 2449
    /// §4: 512), or a SASL challenge over [`Limits::continuation_line`].
    ///
    /// [`Limits::status_line`]: crate::pop3::Limits::status_line
    /// [`Limits::continuation_line`]: crate::pop3::Limits::continuation_line
    LineTooLong {
        /// The limit that applied, CRLF included.
        limit: usize,
    },
    /// A line that is not `+OK ...` or `-ERR ...` (RFC 1939 §3), or holds NUL or CR.
    InvalidResponse(ParseError),
    /// A SASL continuation `+ ...` (RFC 5034 §4) where none can come: not during AUTH,
    /// or after the client cancelled.
    UnexpectedContinuation,
    /// A line arrived while no response was expected: before any command was written,
    /// or after every answer was complete (RFC 1939 §3: the server only answers).
    Unsolicited {
        /// The line, bounded.
        found: Snippet,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::LineTooLong { limit } => {
                write!(f, "response line longer than {limit} octets")
            }
            ProtocolError::InvalidResponse(e) => write!(f, "invalid response: {e}"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("SASL continuation \"+ \" outside an AUTH exchange")
            }
            ProtocolError::Unsolicited { found } => {
                write!(f, "server sent {found} while no response was expected")
            }
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Why a `+OK` answer could not be used ([`Event::Malformed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The status text or a listing line does not parse (RFC 1939 §§5, 7).
    Parse(ParseError),
    /// More listing lines than [`ClientConfig::max_listing_lines`](super::ClientConfig).
    TooManyLines {
        /// The limit.
        limit: usize,
    },
    /// A listing line longer than its limit.
    LineTooLong {
        /// The limit, CRLF included.
        limit: usize,
    },
    /// A bare CR or LF in a body under
    /// [`BareLineEnding::Reject`](crate::line::BareLineEnding::Reject).
    BareLineEnding(DotError),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Parse(e) => e.fmt(f),
            ResponseError::TooManyLines { limit } => {
                write!(f, "listing longer than {limit} lines")
            }
            ResponseError::LineTooLong { limit } => {
                write!(f, "listing line longer than {limit} octets")
            }
            ResponseError::BareLineEnding(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for ResponseError {}
