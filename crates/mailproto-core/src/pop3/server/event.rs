//! What the POP3 server machine reports ([`Event`]), why it closed ([`CloseReason`]), and
//! the error an answer method returns when nothing asked for it ([`MisuseError`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::machine::Misuse;
use crate::time::Deadline;

use crate::line::LineError;
use crate::pop3::{EncodeError, ParseError};
use crate::sasl::{AuthError, Credentials};
use crate::secret::Secret;

/// What the server machine reports to the application.
///
/// `Login`, `Apop`, `Auth`, `Command`, `Retrieve` and `Update` ask a question: the machine
/// processes no further command until the application answers it through the method
/// named on the variant. The others are informational.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `USER name` then `PASS string` (RFC 1939 §7). Answer with
    /// [`Server::login_ok`](super::Server::login_ok),
    /// [`login_failed`](super::Server::login_failed),
    /// [`login_in_use`](super::Server::login_in_use) or
    /// [`login_error`](super::Server::login_error).
    Login {
        /// The `USER` argument.
        user: String,
        /// The `PASS` argument (the rest of the line, spaces included).
        password: Secret<String>,
    },
    /// `APOP name digest` (RFC 1939 §7). The digest is right if it equals
    /// [`apop_digest`](crate::pop3::apop_digest)`(timestamp, shared_secret)`. Answered like
    /// [`Event::Login`].
    Apop {
        /// The mailbox name.
        user: String,
        /// 32 lower-case hex digits.
        digest: String,
        /// The timestamp of this session's greeting, brackets included.
        timestamp: String,
    },
    /// A completed `AUTH` exchange (RFC 5034 §4). The SASL layer checked the syntax only;
    /// the application checks the credentials. Answered like [`Event::Login`].
    Auth {
        /// What the client presented.
        credentials: Credentials,
    },
    /// `RETR msg` or `TOP msg n` (RFC 1939 §§5, 7) for a message that exists and is not
    /// marked as deleted. Answer with
    /// [`message_start`](super::Server::message_start), then
    /// [`message_data`](super::Server::message_data) per chunk of the stored message and
    /// [`message_end`](super::Server::message_end); or with
    /// [`message_unavailable`](super::Server::message_unavailable).
    Retrieve {
        /// The message number (1-based, as in the maildrop given at login).
        msg: u32,
        /// `None` for RETR; `Some(n)` for `TOP msg n`. The machine cuts the message
        /// itself after the header, the blank line and `n` body lines.
        top_lines: Option<u32>,
    },
    /// `QUIT` in the TRANSACTION state: the session enters the UPDATE state
    /// (RFC 1939 §6). Remove these messages, then answer with
    /// [`update_done`](super::Server::update_done) or
    /// [`update_failed`](super::Server::update_failed). Never reported when the session
    /// ends any other way.
    Update {
        /// The messages marked as deleted, in increasing order.
        deleted: Vec<u32>,
    },
    /// USER, CAPA, STAT, LIST, UIDL, DELE, NOOP or RSET passed the machine's checks,
    /// under [`ask_commands`](super::ServerConfig::ask_commands) only. Answer with
    /// [`command_allow`](super::Server::command_allow) (the machine answers it as
    /// usual), [`command_refuse`](super::Server::command_refuse) (a `-ERR` instead, the
    /// command has no effect) or [`command_close`](super::Server::command_close).
    Command {
        /// The command (never one holding a credential).
        command: crate::pop3::Command,
    },
    /// `STLS` was accepted (RFC 2595 §4): every plaintext byte after the command is
    /// dropped unread, and [`Io::AwaitingTls`](crate::Io::AwaitingTls) follows.
    TlsStarting,
    /// Plaintext the client sent after STLS was dropped unread: reported once, with
    /// every octet counted (held at the switch or fed before the handshake completed),
    /// when the handshake completes or the session ends. Non-zero means the client
    /// pipelined after STLS, which RFC 2595 §4 forbids, or someone injected commands.
    TlsInjection {
        /// Plaintext octets discarded.
        discarded: usize,
    },
    /// A command was refused; for logging. The client got a `-ERR` already.
    ProtocolError {
        /// What was wrong.
        error: ProtocolError,
    },
    /// The session is over; reported exactly once.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a command line was refused (reported in [`Event::ProtocolError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The line framing refused the line (too long, bare CR or LF).
    Line(LineError),
    /// The line is not a valid command.
    Parse(ParseError),
    /// A known command not valid in the current state (RFC 1939 §3).
    WrongState {
        /// The command keyword.
        command: String,
        /// The state it was given in.
        state: State,
    },
    /// A command this server does not offer (unknown keyword, APOP without timestamp,
    /// STLS not offered, ...).
    Unsupported {
        /// The command keyword.
        command: String,
    },
    /// PASS without a successful USER right before it (RFC 1939 §7).
    PassWithoutUser,
    /// A plaintext login (USER/PASS, AUTH PLAIN or LOGIN ...) refused before TLS
    /// (RFC 2595 §2.3, RFC 5034 §4).
    PlaintextRefused,
    /// A SASL exchange failed before the credentials reached the application.
    Auth(AuthError),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Line(e) => e.fmt(f),
            ProtocolError::Parse(e) => e.fmt(f),
            ProtocolError::WrongState { command, state } => {
                write!(f, "{command} not valid in the {state} state")
            }
            ProtocolError::Unsupported { command } => write!(f, "{command} not supported"),
            ProtocolError::PassWithoutUser => f.write_str("PASS must follow a successful USER"),
            ProtocolError::PlaintextRefused => f.write_str("plaintext login refused without TLS"),
            ProtocolError::Auth(e) => e.fmt(f),
        }
    }
}

/// The session states of RFC 1939 §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Before a successful login (RFC 1939 §4).
    Authorization,
    /// Logged in, maildrop open (RFC 1939 §5).
    Transaction,
    /// After QUIT in TRANSACTION, while the application removes messages (RFC 1939 §6).
    Update,
    /// The session is over.
    Closed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Authorization => "AUTHORIZATION",
            State::Transaction => "TRANSACTION",
            State::Update => "UPDATE",
            State::Closed => "closed",
        })
    }
}

/// Why the session ended (reported in [`Event::Closed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// QUIT in the AUTHORIZATION state (RFC 1939 §4): no UPDATE.
    Quit,
    /// QUIT in the TRANSACTION state, after the UPDATE state (RFC 1939 §6).
    Update {
        /// Whether the application removed every deleted message.
        removed: bool,
    },
    /// The peer closed the connection (RFC 1939 §6: nothing is removed).
    PeerClosed,
    /// A deadline expired: the autologout timer (RFC 1939 §3: no UPDATE, no response),
    /// a command line not completed, output not taken, the TLS handshake, the session's
    /// lifetime, or the application's answer (`-ERR [SYS/TEMP]` sent).
    Timeout(Deadline),
    /// Too many refused commands ([`ServerConfig::max_errors`](super::ServerConfig)).
    TooManyErrors,
    /// Too many rejected logins ([`ServerConfig::max_auth_failures`](super::ServerConfig)).
    TooManyAuthFailures,
    /// The application gave up in the middle of a message
    /// ([`Server::message_abort`](super::Server::message_abort)).
    Aborted,
    /// More input was fed than the machine may buffer (an adapter fed it while
    /// [`Io::Open`](crate::Io::Open) said `wants_read: false`).
    InputOverflow,
    /// The server is shutting down ([`Server::shutdown`](super::Server::shutdown)):
    /// `-ERR [SYS/TEMP]` sent where a response could begin; no UPDATE.
    Shutdown,
    /// The application closed the session
    /// ([`Server::command_close`](super::Server::command_close)); no UPDATE.
    Application,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::Quit => "QUIT",
            CloseReason::Update { removed: true } => "QUIT, deleted messages removed",
            CloseReason::Update { removed: false } => "QUIT, some deleted messages not removed",
            CloseReason::PeerClosed => "connection closed by the client",
            CloseReason::Timeout(d) => return write!(f, "{d} expired"),
            CloseReason::TooManyErrors => "too many command errors",
            CloseReason::TooManyAuthFailures => "too many authentication failures",
            CloseReason::Aborted => "message transfer aborted by the application",
            CloseReason::InputOverflow => "input buffer overflow",
            CloseReason::Shutdown => "server shutting down",
            CloseReason::Application => "closed by the application",
        })
    }
}

/// What the machine is waiting for, as named in a [`MisuseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Awaiting {
    /// The next client command: no question is open.
    Command,
    /// An answer to [`Event::Login`], [`Event::Apop`] or [`Event::Auth`].
    Login,
    /// [`message_start`](super::Server::message_start) or
    /// [`message_unavailable`](super::Server::message_unavailable) for
    /// [`Event::Retrieve`].
    MessageStart,
    /// [`message_data`](super::Server::message_data) or
    /// [`message_end`](super::Server::message_end).
    MessageData,
    /// An answer to [`Event::Update`].
    Update,
    /// The TLS handshake ([`Io::AwaitingTls`](crate::Io::AwaitingTls)).
    Tls,
    /// An answer to [`Event::Command`].
    CommandAnswer,
    /// Nothing: the session is closed.
    Closed,
}

impl fmt::Display for Awaiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Awaiting::Command => "the next command",
            Awaiting::Login => "a login answer",
            Awaiting::MessageStart => "message_start or message_unavailable",
            Awaiting::MessageData => "message_data or message_end",
            Awaiting::Update => "an update answer",
            Awaiting::Tls => "the TLS handshake",
            Awaiting::CommandAnswer => "an answer to a command",
            Awaiting::Closed => "nothing (session closed)",
        })
    }
}

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MisuseKind {
    /// The machine was not waiting for this answer.
    NotAwaited {
        /// What it was waiting for.
        awaiting: Awaiting,
    },
    /// A status that must be `-ERR` was `+OK`.
    PositiveStatus,
    /// The status cannot be written (CR, LF or NUL in its text, a malformed code).
    InvalidStatus(EncodeError),
}

/// An answer method called out of turn, or with an unusable value: the machine state is
/// unchanged and the argument is handed back ([`Misuse::value`]).
pub type MisuseError<T> = Misuse<MisuseKind, T>;

impl fmt::Display for MisuseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MisuseKind::NotAwaited { awaiting } => {
                write!(f, "the POP3 server awaits {awaiting}")
            }
            MisuseKind::PositiveStatus => f.write_str("needs a -ERR status, got +OK"),
            MisuseKind::InvalidStatus(e) => write!(f, "unusable status: {e}"),
        }
    }
}
