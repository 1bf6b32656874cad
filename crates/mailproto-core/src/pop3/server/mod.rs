//! The POP3 server state machine (RFC 1939, with CAPA and response codes from RFC 2449,
//! STLS from RFC 2595, AUTH from RFC 5034, `[SYS/*]`/`[AUTH]` from RFC 3206 and UTF8 from
//! RFC 6856).
//!
//! [`Server`] is sans-IO: bytes in through [`Machine::feed`], responses out through
//! [`Machine::poll_transmit`], questions for the application out through
//! [`Machine::poll_event`] (see [`crate::machine`] for the polling order). The machine
//! answers most commands itself; it asks the application only for what it cannot know:
//! whether credentials are good ([`Event::Login`], [`Event::Apop`], [`Event::Auth`]), the
//! bytes of a message ([`Event::Retrieve`]) and the removal of deleted messages
//! ([`Event::Update`]). With [`ServerConfig::ask_commands`] it also asks before it
//! answers USER, CAPA, STAT, LIST, UIDL, DELE, NOOP and RSET ([`Event::Command`]). While
//! a question is open no further command is processed and [`Io::Open`] says
//! `wants_read: false`.
//!
//! # States
//!
//! ```text
//!             new(): +OK greeting [<apop timestamp>]
//!                          |
//!                          v
//!   +------------------------------------------+  QUIT: +OK, closed, no UPDATE
//!   |             AUTHORIZATION                |----------------------------------> closed
//!   |  CAPA  USER+PASS  APOP  AUTH  UTF8  STLS |
//!   +------------------------------------------+
//!      |  ^                    |  Login / Apop / Auth event
//!      |  | tls_established()  |  login_ok(maildrop):  +OK maildrop has N messages
//!      v  |                    |  login_failed / login_in_use / login_error: -ERR, stay
//!   AwaitingTls                v
//!   (STLS +OK,   +------------------------------------------+
//!    input       |               TRANSACTION                |
//!    discarded)  |  STAT LIST UIDL DELE RSET NOOP CAPA      |  answered by the machine
//!                |  RETR TOP -> Retrieve event, streamed    |  from the Maildrop
//!                +------------------------------------------+
//!                                      |  QUIT: Update { deleted } event
//!                                      v
//!                +------------------------------------------+
//!                |                  UPDATE                  |
//!                |  update_done: +OK   update_failed: -ERR  |
//!                +------------------------------------------+
//!                                      |
//!                                      v
//!                                    closed
//!
//!   From any state, without UPDATE (RFC 1939 §§3, 6): end of input (feed_eof),
//!   a deadline (handle_timeout: autologout, line, write, ...; no response), too many
//!   bad commands or failed logins (-ERR, then closed).
//! ```
//!
//! # Pipelining
//!
//! Commands are processed in order (RFC 2449 §6.6), as many as are buffered, and their
//! responses queued together; [`Machine::poll_transmit`] hands them out at once, so a
//! pipelined group is answered in one write. Processing pauses while a question is open,
//! and while more than 32 KiB of output waits to be taken (a flood of `LIST` cannot grow
//! memory without bound); it resumes when the application answers or the client takes
//! the output ([`Machine::transmitted`]).
//!
//! # Deadlines
//!
//! [`Timeouts`]: idle in AUTHORIZATION and in TRANSACTION (the autologout timer), a
//! command line not completed, output not taken (a client that stops reading a RETR is
//! dropped and the maildrop released, nothing deleted), the TLS handshake, the session's
//! life, and optionally the application's answer. While the application answers, the
//! client's deadlines pause.
//!
//! # Example
//!
//! The RFC 1939 §10 session, up to the first retrieval:
//!
//! ```
//! use mailproto_core::pop3::server::{Event, Maildrop, MessageInfo, Server, ServerConfig};
//! use mailproto_core::pop3::{UniqueId, apop_digest};
//! use mailproto_core::{Instant, Machine};
//!
//! let now = Instant::ZERO;
//! let config = ServerConfig::default()
//!     .with_apop_timestamp("<1896.697170952@dbc.mtview.ca.us>");
//! let mut server = Server::new(now, config);
//! let mut out = Vec::new();
//! let _ = server.poll_transmit(&mut out);
//! assert_eq!(out, b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
//!
//! server.transmitted(now, out.len());
//! server.feed(now, b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
//! let Some(Event::Apop { user, digest, timestamp }) = server.poll_event() else { panic!() };
//! assert_eq!(digest, apop_digest(&timestamp, b"tanstaaf"));
//! let maildrop = Maildrop::new(vec![
//!     MessageInfo::new(120, UniqueId::new("whqtswO00WBw418f9t5JxYwZ")?),
//!     MessageInfo::new(200, UniqueId::new("QhdPYR:00WBw1Ph7x7")?),
//! ]);
//! server.login_ok(now, maildrop)?;
//!
//! server.feed(now, b"STAT\r\nRETR 1\r\n");
//! let Some(Event::Retrieve { msg: 1, top_lines: None }) = server.poll_event() else { panic!() };
//! server.message_start(now)?;
//! server.message_data(now, b"Subject: hi\r\n\r\n.hidden\r\n")?;
//! server.message_end(now)?;
//! out.clear();
//! let _ = server.poll_transmit(&mut out);
//! assert_eq!(
//!     out,
//!     &b"+OK mrose's maildrop has 2 messages (320 octets)\r\n+OK 2 320\r\n\
//!        +OK 120 octets\r\nSubject: hi\r\n\r\n..hidden\r\n.\r\n"[..]
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(doc)]
use crate::{Io, Machine};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroize;

use crate::dot::DotEncoder;
use crate::kernel::{self, Counter, Kernel, KernelConfig, Rules, Waiting};
use crate::line::LineReader;
use crate::pop3::{Greeting, Status};
use crate::sasl::ServerAuth;
use crate::time::{Deadline, Instant, RateDeadline};

mod answer;
mod auth;
mod commands;
mod config;
mod event;
mod maildrop;
mod top;

pub use config::{MIN_AUTOLOGOUT, ServerConfig, Timeouts};

use config::DEFAULT_GREETING;
pub use event::{Awaiting, CloseReason, Event, MisuseError, MisuseKind, ProtocolError, State};
pub use maildrop::{Maildrop, MessageInfo};

use maildrop::OpenMaildrop;
use top::TopFilter;

/// Where the session stands (RFC 1939 §3).
#[derive(Debug)]
enum Stage {
    Authorization,
    Transaction(OpenMaildrop),
    /// QUIT given in TRANSACTION; `left` messages stay after the removal.
    Update {
        left: u32,
    },
    Closed,
}

/// The question the application has not answered yet.
#[derive(Debug)]
enum Pending {
    Nothing,
    Login,
    MessageStart {
        top: Option<u32>,
        size: u64,
    },
    MessageData {
        encoder: DotEncoder,
        top: Option<TopFilter>,
    },
    Update,
    /// A command under [`ServerConfig::ask_commands`], run once allowed.
    Command(crate::pop3::Command),
}

/// A POP3 server session (see the [module documentation](self) for the states).
///
/// Polling order: as for every [`Machine`]; the answer methods
/// (`login_*`, `message_*`, `update_*`) are the "answer ev" step.
pub struct Server {
    config: ServerConfig,
    k: Kernel<Event>,
    stage: Stage,
    pending: Pending,
    /// A SASL exchange in progress: client lines go to it, not to the command parser.
    sasl: Option<ServerAuth>,
    /// The name of a successful USER, for the PASS that must follow.
    user: Option<String>,
    /// The name given in the login being decided, for the `+OK` text.
    login_name: Option<String>,
    apop_timestamp: Option<String>,
    tls_active: bool,
    utf8_enabled: bool,
    errors: Counter,
    auth_failures: Counter,
    /// AUTH exchanges started (each gets a fresh CRAM-MD5 challenge).
    auth_attempts: u32,
    /// The line being handled (zeroed after each: it may hold a password).
    scratch: Vec<u8>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("state", &self.state())
            .field("awaiting", &self.awaiting())
            .field("tls_active", &self.tls_active)
            .field("sasl", &self.sasl.as_ref().map(|a| a.mechanism().name()))
            .field("buffered_input", &self.k.input.len())
            .field("queued_output", &self.k.out.pending())
            .field("errors", &self.errors.get())
            .field("auth_failures", &self.auth_failures.get())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A session whose connection was accepted at `now`: the greeting (with the APOP
    /// timestamp, if configured and valid) is queued, the state is AUTHORIZATION.
    pub fn new(now: Instant, config: ServerConfig) -> Self {
        let max_line = config
            .limits
            .command_line
            .max(config.limits.credential_line);
        let input = LineReader::new(max_line, config.bare_line_ending);
        let apop_timestamp = config
            .apop_timestamp
            .clone()
            .filter(|ts| Greeting::with_timestamp("", ts).apop_timestamp() == Some(ts.as_str()));
        let greeting = |text: &str| match &apop_timestamp {
            Some(ts) => Greeting::with_timestamp(text, ts).status,
            None => Status::ok(text),
        };
        let mut greeting_line = greeting(&config.greeting);
        if greeting_line.encode(&mut Vec::new()).is_err() {
            // A CR or LF in the configured text: keep the timestamp, drop the text.
            greeting_line = greeting(DEFAULT_GREETING);
        }
        let t = &config.timeouts;
        let kernel = KernelConfig::new(now, t.write, t.session, t.tls_handshake, t.application)
            .login_within(t.login)
            .buffering(config.max_buffered_input);
        let mut server = Server {
            tls_active: config.tls_active,
            k: Kernel::new(input, kernel, |discarded| Event::TlsInjection { discarded }),
            errors: Counter::new(config.max_errors),
            auth_failures: Counter::new(config.max_auth_failures),
            auth_attempts: 0,
            config,
            stage: Stage::Authorization,
            pending: Pending::Nothing,
            sasl: None,
            user: None,
            login_name: None,
            apop_timestamp,
            utf8_enabled: false,
            scratch: Vec::new(),
        };
        server.send(&greeting_line);
        kernel::settle(&mut server, now);
        server
    }

    /// The RFC 1939 state of the session.
    pub fn state(&self) -> State {
        match self.stage {
            Stage::Authorization => State::Authorization,
            Stage::Transaction(_) => State::Transaction,
            Stage::Update { .. } => State::Update,
            Stage::Closed => State::Closed,
        }
    }

    /// What the machine waits for: the next command, or the answer to an event.
    pub fn awaiting(&self) -> Awaiting {
        if matches!(self.stage, Stage::Closed) {
            return Awaiting::Closed;
        }
        if self.k.is_awaiting_tls() {
            return Awaiting::Tls;
        }
        match self.pending {
            Pending::Nothing => Awaiting::Command,
            Pending::Login => Awaiting::Login,
            Pending::MessageStart { .. } => Awaiting::MessageStart,
            Pending::MessageData { .. } => Awaiting::MessageData,
            Pending::Update => Awaiting::Update,
            Pending::Command(_) => Awaiting::CommandAnswer,
        }
    }

    /// The server is going down: send `-ERR [SYS/TEMP] server shutting down` where a
    /// response may begin and close without UPDATE (nothing is deleted: RFC 1939 §6
    /// removes messages only after QUIT). In the middle of a multi-line response, or of
    /// a TLS handshake, nothing can be said: the session just closes. An UPDATE already
    /// under way is let finish (the session then closes by itself).
    pub fn shutdown(&mut self, now: Instant) {
        crate::kernel::answer(self, now, |m| {
            if matches!(m.stage, Stage::Closed | Stage::Update { .. }) {
                return;
            }
            if !m.k.is_awaiting_tls() && !matches!(m.pending, Pending::MessageData { .. }) {
                m.send(
                    &Status::err("server shutting down")
                        .with_code(crate::pop3::ResponseCode::SysTemp),
                );
            }
            m.close(CloseReason::Shutdown);
        });
    }

    /// Hold back every response queued (and queued meanwhile) and every command not
    /// yet acted on until `until`: the listener's delay after a failed login, so that a
    /// guesser's next try is read only then, whatever it pipelines. The client's
    /// deadlines pause meanwhile (the delay is ours); the session cap, the login
    /// deadline and shutdown still apply. Reached through
    /// [`poll_timeout`](crate::Machine::poll_timeout) like a deadline; a later call
    /// extends a hold, never shortens it.
    pub fn hold_until(&mut self, now: Instant, until: Instant) {
        crate::kernel::answer(self, now, |m| m.k.hold(until));
    }

    /// Whether the connection is under TLS (implicit, or after STLS).
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }

    /// Whether the client enabled UTF-8 mode (RFC 6856 §2.1): only then may messages with
    /// UTF-8 header fields be sent as they are.
    pub fn utf8_enabled(&self) -> bool {
        self.utf8_enabled
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The APOP timestamp of the greeting, if APOP is offered.
    pub fn apop_timestamp(&self) -> Option<&str> {
        self.apop_timestamp.as_deref()
    }

    /// Handle buffered command lines until a question is open, the output is full, the
    /// input holds no complete line, or the session ends.
    fn process(&mut self) {
        while self.ready() {
            let mut line = core::mem::take(&mut self.scratch);
            line.clear();
            let item = match self.k.input.next_line() {
                None => {
                    self.scratch = line;
                    if self.k.is_eof() {
                        self.close(CloseReason::PeerClosed);
                    }
                    return;
                }
                Some(Ok(bytes)) => {
                    line.extend_from_slice(bytes);
                    Ok(())
                }
                Some(Err(e)) => Err(e),
            };
            let authorizing = matches!(self.stage, Stage::Authorization);
            if authorizing {
                // USER/PASS, APOP and SASL lines hold credentials: no copy stays behind.
                self.k.wipe_input();
            }
            if let (Some(t), Ok(())) = (self.k.transcript.as_mut(), &item) {
                match self.sasl {
                    Some(_) => t.secret(),
                    None => {
                        let valid = !matches!(
                            crate::pop3::Command::parse(&line, &self.config.limits),
                            Err(_) | Ok(crate::pop3::Command::Unknown { .. })
                        );
                        t.command(&line, valid);
                    }
                }
            }
            match item {
                Ok(()) => self.handle_line(&line),
                Err(e) => self.line_error(e),
            }
            line.zeroize();
            self.scratch = line;
        }
    }

    /// Whether the next command may be handled now.
    fn ready(&self) -> bool {
        !self.k.is_held()
            && !matches!(self.stage, Stage::Closed | Stage::Update { .. })
            && !self.k.is_awaiting_tls()
            && matches!(self.pending, Pending::Nothing)
            && !self.k.out.is_full()
    }

    /// Queue a status line. A text that cannot be written (a CR or LF from the
    /// configuration) is dropped, keeping the indicator.
    fn send(&mut self, status: &Status) {
        let from = self.k.queued_len();
        if status.encode(self.k.out.buf()).is_err() {
            self.k.out.buf().extend_from_slice(if status.is_ok() {
                b"+OK\r\n"
            } else {
                b"-ERR\r\n"
            });
        }
        self.k.record_sent(from, false);
    }

    fn ok(&mut self, text: impl Into<String>) {
        self.send(&Status::ok(text));
    }

    fn err(&mut self, text: impl Into<String>) {
        self.send(&Status::err(text));
    }

    /// End the session: nothing more is read or processed.
    fn close(&mut self, reason: CloseReason) {
        if matches!(self.stage, Stage::Closed) {
            return;
        }
        self.stage = Stage::Closed;
        self.pending = Pending::Nothing;
        self.sasl = None;
        self.user = None;
        self.login_name = None;
        self.k.close(Event::Closed { reason });
    }
}

impl Rules for Server {
    fn waiting(&self) -> Waiting {
        let t = &self.config.timeouts;
        match (&self.stage, &self.pending) {
            (Stage::Update { .. }, _) => Waiting::Answer,
            (_, Pending::Nothing) => {
                // Before login the idle deadline runs from the last command even while
                // answers wait to be taken; in TRANSACTION it starts once the client
                // took everything (a long RETR read at the minimum rate is not cut off
                // by the autologout timer).
                let (idle, while_writing) = match self.stage {
                    Stage::Transaction(_) => (t.idle, false),
                    _ => (t.authorization_idle, true),
                };
                self.k.command_wait(
                    RateDeadline::fixed(idle),
                    RateDeadline::fixed(t.line),
                    while_writing,
                )
            }
            _ => Waiting::Answer,
        }
    }

    fn wants_read(&self) -> bool {
        matches!(self.pending, Pending::Nothing) && !matches!(self.stage, Stage::Update { .. })
    }

    /// The client closed its side: commands already complete are still handled (a
    /// pipelined `QUIT` still enters UPDATE), then the session closes without UPDATE
    /// (RFC 1939 §6).
    fn on_eof(&mut self) {
        if self.k.is_awaiting_tls() {
            self.close(CloseReason::PeerClosed);
            return;
        }
        self.process();
    }

    /// Close without UPDATE and without a response (RFC 1939 §3), except for the
    /// application's own deadline.
    fn on_timeout(&mut self, deadline: Deadline) {
        if deadline == Deadline::Application {
            self.send(
                &Status::err("server timed out, try again later")
                    .with_code(crate::pop3::ResponseCode::SysTemp),
            );
        }
        self.close(CloseReason::Timeout(deadline));
    }

    /// STLS's handshake completed: AUTHORIZATION again, under TLS, with nothing carried
    /// over from before it (RFC 2595 §4).
    fn on_tls_established(&mut self) {
        self.tls_active = true;
        self.user = None;
    }

    fn on_input_overflow(&mut self) {
        self.close(CloseReason::InputOverflow);
    }

    fn settle_rules(&mut self) {
        // Responses go out as soon as they are queued; a pipelined group's responses
        // are queued within one call and so leave together.
        self.k.out.release();
    }
}

kernel::impl_machine!(Server, Event, k, false);
