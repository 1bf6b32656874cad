//! The POP3 vocabulary: commands, status lines, typed response payloads and limits.
//!
//! Parsing lives in [`parse`](super::parse), encoding in [`encode`](super::encode), the
//! CAPA capabilities in `capabilities.rs`.

use super::table::{self, Verb};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Line length limits, all counted in octets **including** the CRLF, as RFC 2449 §4
/// counts them.
///
/// The parsers receive lines without their CRLF and add 2 before comparing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// A command line (RFC 2449 §4: 255 octets).
    pub command_line: usize,
    /// A `PASS`, `APOP` or `AUTH` command line. RFC 5034 §4 keeps AUTH at 255 octets,
    /// but deployed clients send longer initial responses (XOAUTH2 and OAUTHBEARER
    /// tokens) and long passphrases, so servers allow more by default: 4096 octets.
    /// Set it to `command_line` for strict RFC behaviour.
    pub credential_line: usize,
    /// The first line of a response, the greeting included (RFC 2449 §4: 512 octets).
    pub status_line: usize,
    /// A SASL challenge line `+ base64` (RFC 5034 §4 sets no limit; GSSAPI and
    /// OAUTHBEARER error challenges can exceed 512 octets): 4096 octets by default.
    pub continuation_line: usize,
    /// A capability line of a CAPA response (RFC 2449 §5: 512 octets).
    pub capability_line: usize,
}

crate::setters::setters!(Limits {
    set with_command_line: command_line: usize,
    set with_credential_line: credential_line: usize,
    set with_status_line: status_line: usize,
    set with_continuation_line: continuation_line: usize,
    set with_capability_line: capability_line: usize,
});

impl Limits {
    /// The limits of RFC 2449 §4, with the longer credential allowance described on
    /// [`Limits::credential_line`].
    pub const DEFAULT: Limits = Limits {
        command_line: 255,
        credential_line: 4096,
        status_line: 512,
        continuation_line: 4096,
        capability_line: 512,
    };

    /// The RFC limits with no extra allowance for credentials.
    pub const STRICT: Limits = Limits {
        command_line: 255,
        credential_line: 255,
        status_line: 512,
        continuation_line: 512,
        capability_line: 512,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A credential (a password, a SASL response): the crate's [`crate::secret::Secret`]
/// over a `String`, masked in `Debug` and zeroed on drop.
pub type Secret = crate::secret::Secret<String>;

/// A POP3 command (RFC 1939 §§4-7, RFC 2449, RFC 2595, RFC 5034, RFC 6856).
///
/// Keywords are case-insensitive on input and written in upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `USER name` (RFC 1939 §7).
    User(String),
    /// `PASS string` (RFC 1939 §7). The argument is the rest of the line after one space,
    /// spaces included, as §7 permits.
    Pass(Secret),
    /// `APOP name digest` (RFC 1939 §7).
    Apop {
        /// The mailbox name.
        name: String,
        /// MD5 digest of timestamp and secret: 32 lower-case hex digits (upper case is
        /// accepted on input and lowered).
        digest: String,
    },
    /// `AUTH mechanism [initial-response]` (RFC 5034 §4).
    Auth {
        /// The SASL mechanism name, in upper case (RFC 4422 §3.1).
        mechanism: String,
        /// The base64 initial response, still encoded; `Some("")` is the empty response,
        /// written `=` on the wire.
        initial_response: Option<Secret>,
    },
    /// `AUTH` with no argument: the pre-CAPA way (RFC 1734 era) of asking for the list of
    /// SASL mechanisms, still sent by some clients. Answered with a multi-line list.
    AuthList,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `UTF8` (RFC 6856 §2.1).
    Utf8,
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List(Option<u32>),
    /// `RETR msg` (RFC 1939 §5).
    Retr(u32),
    /// `DELE msg` (RFC 1939 §5).
    Dele(u32),
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `QUIT` (RFC 1939 §§4, 6).
    Quit,
    /// `TOP msg n` (RFC 1939 §7): the headers and the first `lines` body lines.
    Top {
        /// The message number.
        msg: u32,
        /// Body lines to send; 0 asks for the headers only.
        lines: u32,
    },
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),
    /// `LANG [lang]` (RFC 6856 §3): without an argument, a request for the language
    /// listing; `*` asks for the server's default.
    Lang(Option<String>),
    /// Any other well-formed command, kept as received so the server can answer `-ERR`.
    Unknown {
        /// The keyword, as received (3 or 4 printable characters).
        keyword: String,
        /// The space-separated arguments.
        args: Vec<String>,
    },
}

impl Command {
    /// The command keyword in upper case, from the protocol table (an unknown command
    /// gives its own keyword).
    pub fn keyword(&self) -> &str {
        match (self.verb(), self) {
            (Some(verb), _) => table::rule(verb).keyword,
            (None, Command::Unknown { keyword, .. }) => keyword,
            (None, _) => "",
        }
    }

    /// The command's row in the protocol table (`None` for an unknown command).
    pub fn verb(&self) -> Option<Verb> {
        Some(match self {
            Command::User(_) => Verb::User,
            Command::Pass(_) => Verb::Pass,
            Command::Apop { .. } => Verb::Apop,
            Command::Auth { .. } | Command::AuthList => Verb::Auth,
            Command::Stls => Verb::Stls,
            Command::Capa => Verb::Capa,
            Command::Utf8 => Verb::Utf8,
            Command::Stat => Verb::Stat,
            Command::List(_) => Verb::List,
            Command::Retr(_) => Verb::Retr,
            Command::Dele(_) => Verb::Dele,
            Command::Noop => Verb::Noop,
            Command::Rset => Verb::Rset,
            Command::Quit => Verb::Quit,
            Command::Top { .. } => Verb::Top,
            Command::Uidl(_) => Verb::Uidl,
            Command::Lang(_) => Verb::Lang,
            Command::Unknown { .. } => return None,
        })
    }
}

/// The status indicator that starts every response (RFC 1939 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusIndicator {
    /// `+OK`
    Ok,
    /// `-ERR`
    Err,
}

/// An extended response code (RFC 2449 §8), written `[CODE]` at the start of the text.
///
/// Parsing is case-insensitive. Known codes followed by unknown hierarchical detail
/// (`[IN-USE/EXTRA]`) are reported as the known code, as §8 requires clients to ignore
/// unknown detail; any other code is kept in [`ResponseCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseCode {
    /// `[IN-USE]`: authenticated, but the maildrop is locked (RFC 2449 §8.1.2).
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently (RFC 2449 §8.1.1).
    LoginDelay,
    /// `[SYS/TEMP]`: a transient system problem (RFC 3206 §4).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem (RFC 3206 §4).
    SysPerm,
    /// `[AUTH]`: the credentials are the problem (RFC 3206 §5).
    Auth,
    /// `[UTF8]`: the message needs UTF-8 mode (RFC 6856 §5).
    Utf8,
    /// Any other code, levels joined with `/` as received (`FOO/BAR`).
    Other(String),
}

/// A single-line response (RFC 1939 §3, RFC 2449 §3): `+OK text` or `-ERR text`, with an
/// optional extended response code (RFC 2449 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `+OK` or `-ERR`.
    pub indicator: StatusIndicator,
    /// The response code, when the text started with one.
    pub code: Option<ResponseCode>,
    /// The human-readable text after the code; may be empty.
    pub text: String,
}

impl Status {
    /// A `+OK` line.
    pub fn ok(text: impl Into<String>) -> Self {
        Status {
            indicator: StatusIndicator::Ok,
            code: None,
            text: text.into(),
        }
    }

    /// A `-ERR` line.
    pub fn err(text: impl Into<String>) -> Self {
        Status {
            indicator: StatusIndicator::Err,
            code: None,
            text: text.into(),
        }
    }

    /// The same line with a response code.
    pub fn with_code(mut self, code: ResponseCode) -> Self {
        self.code = Some(code);
        self
    }

    /// Whether this is `+OK`.
    pub fn is_ok(&self) -> bool {
        self.indicator == StatusIndicator::Ok
    }
}

/// Any first line a server sends in reply to a command (RFC 1939 §3, RFC 5034 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// `+OK ...` or `-ERR ...`.
    Status(Status),
    /// A SASL challenge `+ base64` (RFC 5034 §4), still encoded; empty for the empty
    /// challenge `+ `.
    Continuation(String),
}

/// The server greeting (RFC 1939 §4), a status line that may carry the APOP timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The greeting line.
    pub status: Status,
}

/// The STAT answer `+OK nn mm` (RFC 1939 §5), the "drop listing".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropListing {
    /// Messages in the maildrop (deleted ones excluded).
    pub count: u32,
    /// Their total size in octets.
    pub size: u64,
}

/// A scan listing `msg size` (RFC 1939 §5): the answer to `LIST msg`, or one line of the
/// multi-line `LIST` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanListing {
    /// The message number (1-based).
    pub msg: u32,
    /// The message size in octets.
    pub size: u64,
}

/// A unique-id (RFC 1939 §7): 1 to 70 characters in 0x21..0x7E.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UniqueId(String);

impl UniqueId {
    /// Longest unique-id (RFC 1939 §7).
    pub const MAX_LEN: usize = 70;

    /// Check and wrap a unique-id.
    pub fn new(value: impl Into<String>) -> Result<Self, super::ParseError> {
        let value = value.into();
        if UniqueId::is_valid(value.as_bytes()) {
            Ok(UniqueId(value))
        } else {
            Err(super::ParseError::InvalidUniqueId {
                found: super::Snippet::from_bytes(value.as_bytes()),
            })
        }
    }

    /// Whether `bytes` is a valid unique-id.
    pub fn is_valid(bytes: &[u8]) -> bool {
        (1..=UniqueId::MAX_LEN).contains(&bytes.len())
            && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    }

    /// The unique-id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A unique-id listing `msg uid` (RFC 1939 §7): the answer to `UIDL msg`, or one line of
/// the multi-line `UIDL` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueIdListing {
    /// The message number (1-based).
    pub msg: u32,
    /// The message's unique-id.
    pub uid: UniqueId,
}
