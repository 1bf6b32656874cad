//! The SMTP (and LMTP) client state machine (RFC 5321 §3, §4; RFC 2033).
//!
//! [`Client`] implements [`Machine`]: the adapter feeds the server's bytes, writes what
//! [`Machine::poll_transmit`] gives, and hands [`Event`]s to the application, which
//! issues commands through typed methods ([`Client::ehlo`], [`Client::starttls`],
//! [`Client::auth`], [`Client::send_envelope`], [`Client::send_body`], ...), each at
//! the current time. A method called at the wrong time returns a [`Refused`] (the
//! crate's one [`Misuse`](crate::Misuse) type: a [`ClientError`] and the value handed
//! back) and changes nothing.
//!
//! What the machine does by itself, so that every application gets it right:
//! - falls back from EHLO to HELO on `500`/`502` (RFC 5321 §4.1.4);
//! - with PIPELINING, writes MAIL, every RCPT and DATA as one group and checks every reply
//!   in order (RFC 2920 §3.1), reporting a result per recipient; without it, sends one
//!   command at a time and stops at the first refusal that ends the transaction;
//! - sends RSET after a failed transaction, or a lone `.` when DATA was accepted although
//!   no recipient was (RFC 2920 §3.1);
//! - dot-stuffs the body and normalises line endings as it streams ([`crate::dot`]), or
//!   frames BDAT chunks (RFC 3030 §2), never holding more than one chunk;
//! - at STARTTLS, throws away whatever plaintext followed the `220` and reports it
//!   ([`Event::TlsInjection`]), then forgets the capabilities after the handshake
//!   (RFC 3207 §4.2);
//! - treats `421` at any point as the end of the session (RFC 5321 §3.8).
//!
//! Replies are framed by [`LineReader`] (a bare LF ends a line; bare CR is refused) and
//! parsed by [`ReplyParser`] with [`ReplyLimits`](crate::smtp::ReplyLimits): a malformed
//! reply closes the session with [`CloseReason::Protocol`].
//!
//! # States
//!
//! ```text
//!  Greeting ──220──▶ Connected ──ehlo()──▶ [EHLO/LHLO] ──250──▶ Ready ◀─────────────────┐
//!     │                 ▲  ▲                  │ 500/502: HELO ─250─┘ │                   │
//!     │ 554 etc.        │  │                  └─ refused: HelloRefused (Connected)       │
//!     ▼                 │  │                                                             │
//!  Rejected (quit only) │  └── tls_established(): TlsReady ◀── AwaitingTls ◀─220─ starttls()
//!                       │                                         (454/5xx: StartTlsRefused)
//!                       │
//!  Ready ──auth()──▶ [AUTH ⇄ 334] ──235: Authenticated / 5xx: AuthFailed──▶ Ready
//!
//!  Ready ──send_envelope()──▶ MAIL ─▶ RCPT… ─▶ DATA (one group with PIPELINING)
//!            │ MAIL refused / no RCPT accepted / DATA refused
//!            │     ──▶ [RSET, or lone "." after a 354] ──▶ TransactionFailed ──▶ Ready
//!            │ 354 (or BDAT: envelope sent) ──▶ ReadyForBody
//!            ▼
//!         Body: send_body()* ──finish_body()──▶ "." / BDAT … LAST
//!            ──▶ MessageAccepted | MessageRejected | LmtpReply × accepted ──▶ Ready
//!
//!  any state ──quit()──▶ 221 ──▶ Closed
//!  any state ── 421 / EOF / timeout / malformed reply ──▶ Closed
//! ```
//!
//! # Example
//!
//! ```
//! use mailproto_core::{Instant, Io, Machine};
//! use mailproto_core::smtp::client::{BodyMode, Client, ClientConfig, Event};
//! use mailproto_core::smtp::{Domain, ForwardPath, Host, MailParams, Mailbox, RcptParams, ReversePath};
//!
//! let mailbox = |l: &str, d: &str| Mailbox {
//!     local_part: l.into(),
//!     domain: Host::Domain(Domain::new(d).unwrap()),
//! };
//! let now = Instant::ZERO;
//! let config = ClientConfig::new(Host::Domain(Domain::new("bar.com").unwrap()));
//! let mut client = Client::new(now, config);
//! let mut wire = Vec::new();
//! client.feed(now, b"220 foo.com ESMTP\r\n");
//! assert!(matches!(client.poll_event(), Some(Event::Greeting(_))));
//! client.ehlo(now).unwrap();
//! let _ = client.poll_transmit(&mut wire);
//! client.transmitted(now, wire.len());
//! client.feed(now, b"250-foo.com\r\n250 PIPELINING\r\n");
//! assert!(matches!(client.poll_event(), Some(Event::Ready { extended: true, .. })));
//! client
//!     .send_envelope(
//!         now,
//!         ReversePath::Mailbox(mailbox("Smith", "bar.com")),
//!         MailParams::default(),
//!         vec![(ForwardPath::Mailbox(mailbox("Jones", "foo.com")), RcptParams::default())],
//!         BodyMode::Data,
//!     )
//!     .unwrap();
//! wire.clear();
//! let _ = client.poll_transmit(&mut wire);
//! assert_eq!(wire, b"MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nDATA\r\n");
//! assert_eq!(client.io(), Io::Open { wants_read: true });
//! ```

mod body;
mod config;
mod error;
mod event;
mod session;
mod transaction;

#[cfg(test)]
mod tests;

#[cfg(doc)]
use crate::{Io, Machine};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::kernel::{self, Kernel, KernelConfig, Rules, Waiting};
use crate::line::{BareLineEnding, LineReader};
use crate::smtp::{Capabilities, Reply, ReplyCode, ReplyParser};
use crate::time::{Deadline, Instant, RateDeadline};

pub use body::BodyMode;
pub use config::{ClientConfig, Timeouts};
pub use error::{ClientError, Refused};
pub use event::{CloseReason, Event, FailureReason, ProtocolError};
pub use transaction::Envelope;

use transaction::Txn;

/// Where the session stands (see the module's state diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the server's greeting.
    Greeting,
    /// Greeted (or after TLS, or after a refused hello): EHLO is next.
    Connected,
    /// The greeting was not 220: QUIT only.
    Rejected,
    /// EHLO/HELO/LHLO succeeded.
    Ready,
    /// STARTTLS got 220: the adapter runs the handshake.
    AwaitingTls,
    /// Over.
    Closed,
}

/// A reply the client waits for, in the order the commands were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Hello(Hello),
    StartTls,
    Auth,
    Mail,
    Rcpt {
        index: usize,
    },
    Data,
    /// The lone `.` sent after a 354 with no valid recipient (RFC 2920 §3.1).
    LoneDot,
    Bdat {
        last: bool,
    },
    /// The reply after the terminating `.`.
    DataEnd,
    /// LMTP: the reply for the `pos`-th accepted recipient after the first.
    Lmtp {
        pos: usize,
    },
    Rset {
        internal: bool,
    },
    Noop,
    Vrfy,
    Quit,
}

/// The hello command in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hello {
    Ehlo,
    Helo,
    Lhlo,
}

/// The SMTP/LMTP client machine. See the [module documentation](self) for the state
/// diagram, and [`crate::machine`] for the polling order:
///
/// 1. `poll_transmit` and write everything it gives;
/// 2. `poll_event` until `None`, issuing commands in answer;
/// 3. act on `io()`: read and `feed` (or `feed_eof`) with `read_timeout()`, run the TLS
///    handshake and call `tls_established()`, or close.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    k: Kernel<Event>,
    parser: ReplyParser,
    scratch: Vec<u8>,
    expect: VecDeque<Expect>,
    /// Replies read so far (the key of the reply deadline).
    replies: u64,
    stage: Stage,
    capabilities: Capabilities,
    extended: bool,
    tls_active: bool,
    authenticated: bool,
    auth: Option<crate::sasl::ClientExchange>,
    txn: Option<Txn>,
}

impl Client {
    /// A client whose connection opened at `now`: it waits for the server's greeting
    /// (RFC 5321 §3.1).
    pub fn new(now: Instant, config: ClientConfig) -> Client {
        // A bare LF ends a reply line (lenient towards old servers); a bare CR stays in
        // the line, where the reply parser refuses it.
        let reader = LineReader::new(config.reply_limits.line, BareLineEnding::Keep);
        let parser = ReplyParser::new(config.reply_limits.clone());
        let tls_active = config.tls_active;
        let t = &config.timeouts;
        let kernel =
            KernelConfig::new(now, t.write, t.session, t.tls_handshake, None).wiping_output();
        let mut client = Client {
            k: Kernel::new(reader, kernel, |discarded| Event::TlsInjection {
                discarded,
            }),
            config,
            parser,
            scratch: Vec::new(),
            expect: VecDeque::from([Expect::Greeting]),
            replies: 0,
            stage: Stage::Greeting,
            capabilities: Capabilities::default(),
            extended: false,
            tls_active,
            authenticated: false,
            auth: None,
            txn: None,
        };
        kernel::settle(&mut client, now);
        client
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The capabilities of the last successful EHLO/LHLO (empty before, after HELO and
    /// after STARTTLS).
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Whether the session is ESMTP (the last hello was EHLO/LHLO).
    pub fn is_extended(&self) -> bool {
        self.extended
    }

    /// Whether the connection runs inside TLS (implicit, or after STARTTLS).
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// Whether AUTH succeeded in this session (reset by STARTTLS).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether a new command may be issued now: the hello succeeded, no reply is
    /// outstanding and no transaction is open.
    pub fn is_ready(&self) -> bool {
        self.stage == Stage::Ready && self.is_idle()
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// No reply outstanding and no transaction open.
    fn is_idle(&self) -> bool {
        self.expect.is_empty() && self.txn.is_none()
    }

    /// The common gate of the command methods: open, greeted, idle.
    fn check_idle(&self) -> Result<(), ClientError> {
        match self.stage {
            Stage::Closed | Stage::AwaitingTls => Err(ClientError::Closed),
            _ if !self.is_idle() => Err(ClientError::Busy),
            _ => Ok(()),
        }
    }

    /// Queue a command line (CRLF included) and the reply it waits for.
    fn send(&mut self, line: &[u8], expect: Expect) {
        if let Some(t) = self.k.transcript.as_mut() {
            t.sent_command(line);
        }
        self.k.out.push(line);
        self.expect.push_back(expect);
    }

    fn emit(&mut self, event: Event) {
        self.k.emit(event);
    }

    /// End the session: nothing more is read or expected.
    fn close(&mut self, reason: CloseReason) {
        if self.stage == Stage::Closed {
            return;
        }
        self.stage = Stage::Closed;
        self.expect.clear();
        self.txn = None;
        self.auth = None;
        self.parser = ReplyParser::new(self.config.reply_limits.clone());
        self.k.close(Event::Closed { reason });
    }

    fn protocol_error(&mut self, error: ProtocolError) {
        self.close(CloseReason::Protocol(error));
    }

    /// Frame and parse every complete reply held, dispatching each.
    fn process(&mut self) {
        while matches!(
            self.stage,
            Stage::Greeting | Stage::Connected | Stage::Rejected | Stage::Ready
        ) {
            let parsed = match self.k.input.next_line() {
                None => return,
                Some(Err(e)) => Err(ProtocolError::Line(e)),
                Some(Ok(line)) => {
                    if let Some(t) = self.k.transcript.as_mut() {
                        t.received(line, line.len());
                    }
                    self.parser.feed_line(line).map_err(ProtocolError::Reply)
                }
            };
            match parsed {
                Err(e) => self.protocol_error(e),
                Ok(None) => {}
                Ok(Some(reply)) => self.on_reply(reply),
            }
        }
    }

    /// One complete reply: match it with the oldest outstanding command.
    fn on_reply(&mut self, reply: Reply) {
        if reply.code == ReplyCode::NOT_AVAILABLE {
            // RFC 5321 §3.8: 421 may answer any command, or come unsolicited.
            self.close(CloseReason::ServiceNotAvailable(reply));
            return;
        }
        self.replies += 1;
        let Some(expect) = self.expect.pop_front() else {
            self.protocol_error(ProtocolError::UnexpectedReply(reply));
            return;
        };
        match expect {
            Expect::Greeting => {
                self.stage = if reply.code.class() == 2 {
                    Stage::Connected
                } else {
                    Stage::Rejected
                };
                self.emit(Event::Greeting(reply));
            }
            Expect::Hello(hello) => self.on_hello(hello, reply),
            Expect::StartTls => self.on_starttls(reply),
            Expect::Auth => self.on_auth(reply),
            Expect::Rset { internal: false } => self.emit(Event::Reset(reply)),
            Expect::Noop => self.emit(Event::Noop(reply)),
            Expect::Vrfy => self.emit(Event::Verify(reply)),
            Expect::Quit => self.close(CloseReason::Quit(reply)),
            Expect::Rset { internal: true }
            | Expect::Mail
            | Expect::Rcpt { .. }
            | Expect::Data
            | Expect::LoneDot
            | Expect::Bdat { .. }
            | Expect::DataEnd
            | Expect::Lmtp { .. } => self.on_txn_reply(expect, reply),
        }
    }
}

impl Rules for Client {
    /// The reply to the oldest outstanding command, with its RFC 5321 §4.5.3.2 limit
    /// (for a pipelined group the first outstanding reply decides). Between commands the
    /// client still reads, untimed.
    fn waiting(&self) -> Waiting {
        let t = &self.config.timeouts;
        let Some(expect) = self.expect.front() else {
            return Waiting::Nothing;
        };
        let limit = match expect {
            Expect::Greeting => t.greeting,
            Expect::Mail => t.mail,
            Expect::Rcpt { .. } => t.rcpt,
            Expect::Data => t.data_initiation,
            Expect::Bdat { last: false } => t.data_block,
            Expect::Bdat { last: true }
            | Expect::DataEnd
            | Expect::LoneDot
            | Expect::Lmtp { .. } => t.data_termination,
            Expect::Hello(_)
            | Expect::StartTls
            | Expect::Auth
            | Expect::Rset { .. }
            | Expect::Noop
            | Expect::Vrfy
            | Expect::Quit => t.command,
        };
        Waiting::Peer {
            kind: Deadline::Reply,
            key: self.replies,
            limit: RateDeadline::fixed(limit),
        }
    }

    fn wants_read(&self) -> bool {
        true
    }

    fn on_eof(&mut self) {
        self.close(CloseReason::PeerClosed);
    }

    fn on_timeout(&mut self, deadline: Deadline) {
        self.close(CloseReason::Timeout(deadline));
    }

    fn on_tls_established(&mut self) {
        // RFC 3207 §4.2: discard all knowledge obtained from the server before TLS.
        self.stage = Stage::Connected;
        self.capabilities = Capabilities::default();
        self.extended = false;
        self.authenticated = false;
        self.tls_active = true;
        self.parser = ReplyParser::new(self.config.reply_limits.clone());
        self.emit(Event::TlsReady);
    }

    fn on_input_overflow(&mut self) {
        self.close(CloseReason::InputOverflow);
    }

    fn settle_rules(&mut self) {
        // RFC 5321 §4.5.3.2.5: while a body is sent, each block of it has the data-block
        // limit.
        let t = &self.config.timeouts;
        let body = self.txn.as_ref().is_some_and(|t| t.body_open());
        self.k.out.set_limit(if body {
            t.write.with_timeout(t.data_block)
        } else {
            t.write
        });
    }
}

kernel::impl_machine!(Client, Event, k, true);
