//! The machine's internal state: where the input stands, what the session knows, the
//! open transaction and the answer awaited.

use alloc::boxed::Box;

use super::{AbortReason, Awaiting};
use crate::sasl::ServerAuth;
use crate::smtp::Reply;

/// Where the input stream stands.
#[derive(Debug)]
pub(super) enum Phase {
    /// Reading command lines.
    Command,
    /// Reading SASL response lines of an AUTH exchange.
    Sasl(Box<ServerAuth>),
    /// Reading a DATA body.
    Data(DataState),
    /// Reading the octets of a BDAT chunk.
    Chunk(ChunkState),
    /// STARTTLS accepted; waiting for the handshake.
    AwaitingTls,
    /// Session over.
    Closed,
}

/// A DATA body in progress.
#[derive(Debug)]
pub(super) struct DataState {
    /// Octets delivered so far.
    pub(super) size: u64,
    /// Set once the body is refused; it is still read to its terminator.
    pub(super) failure: Option<AbortReason>,
}

/// A BDAT chunk in progress.
#[derive(Debug)]
pub(super) struct ChunkState {
    /// Octets of the chunk still to read.
    pub(super) remaining: u64,
    /// Octets in the whole chunk.
    pub(super) size: u64,
    /// `BDAT n LAST`.
    pub(super) last: bool,
    /// What to do with the chunk.
    pub(super) outcome: ChunkOutcome,
}

#[derive(Debug)]
pub(super) enum ChunkOutcome {
    /// Deliver the octets as body chunks.
    Deliver,
    /// Read and drop the octets, then send `reply` (RFC 3030 §2). With
    /// `end_transaction`, a LAST chunk ends the failed transaction; with `count_error`
    /// the refusal counts towards [`ServerLimits::max_errors`](super::ServerLimits::max_errors).
    /// `verdict`: this chunk fails the message, so a LAST chunk's reply is the message's
    /// outcome, sent once per accepted recipient in LMTP (RFC 2033 §4.2). A chunk that
    /// follows an already refused one is only discarded and gets one reply, like any
    /// command (RFC 3030 §2, RFC 2920 §3.1): the client already holds the failure.
    Discard {
        reply: Reply,
        end_transaction: bool,
        count_error: bool,
        verdict: bool,
    },
}

/// What the session knows about the client.
#[derive(Debug, Clone, Default)]
pub(super) struct Session {
    /// Greeted with 554: only QUIT is accepted (RFC 5321 §3.1).
    pub(super) refusing: bool,
    /// HELO (false) / EHLO or LHLO (true) accepted.
    pub(super) hello: Option<bool>,
    /// AUTH succeeded (RFC 4954 §4: no second AUTH).
    pub(super) authenticated: bool,
    /// TLS is active (implicit, or after STARTTLS).
    pub(super) tls: bool,
}

/// The open mail transaction.
#[derive(Debug)]
pub(super) struct Transaction {
    /// MAIL had the SMTPUTF8 parameter (RFC 6531 §3.4).
    pub(super) smtputf8: bool,
    /// MAIL had BODY=BINARYMIME (RFC 3030 §3: BDAT only).
    pub(super) binary: bool,
    /// Recipients answered with 2xx.
    pub(super) recipients: usize,
    /// The BDAT body, if one was started.
    pub(super) chunks: Chunks,
}

#[derive(Debug)]
pub(super) enum Chunks {
    /// No BDAT yet.
    None,
    /// BDAT chunks delivered so far (a body is in progress).
    Receiving { size: u64 },
    /// A BDAT failed: further chunks are read and refused with this reply until LAST
    /// or RSET (RFC 3030 §2).
    Failed(Reply),
}

/// The answer the machine waits for, with what it needs to apply it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pending {
    Mail {
        smtputf8: bool,
        binary: bool,
    },
    Rcpt,
    MessageEnd {
        replies: usize,
    },
    Auth,
    Vrfy,
    Expn,
    /// HELO/EHLO/LHLO under [`ServerConfig::ask_hello`](super::ServerConfig::ask_hello).
    Hello {
        extended: bool,
    },
    /// DATA (before `354`) or a first BDAT chunk under
    /// [`ServerConfig::ask_data`](super::ServerConfig::ask_data).
    Data {
        chunked: bool,
    },
}

impl Pending {
    pub(super) fn public(self) -> Awaiting {
        match self {
            Pending::Mail { .. } => Awaiting::Mail,
            Pending::Rcpt => Awaiting::Rcpt,
            Pending::MessageEnd { replies } => Awaiting::MessageEnd { replies },
            Pending::Auth => Awaiting::Auth,
            Pending::Vrfy => Awaiting::Vrfy,
            Pending::Expn => Awaiting::Expn,
            Pending::Hello { .. } => Awaiting::Hello,
            Pending::Data { chunked } => Awaiting::Data { chunked },
        }
    }
}

/// Whether a reply may wait for the rest of a pipelined group (RFC 2920 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// Release it (and everything before it) at once.
    Now,
    /// Hold it while another complete command is buffered.
    Later,
}
