//! [`ServerConfig`]: what a POP3 server session offers and tolerates.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::line::BareLineEnding;
use crate::pop3::{Expiry, Limits};
use crate::sasl::{Mechanism, ServerAuthConfig};
use crate::time::RateDeadline;

/// The shortest autologout timer RFC 1939 §3 allows: 10 minutes (the default of
/// [`Timeouts::idle`]).
pub const MIN_AUTOLOGOUT: Duration = Duration::from_secs(600);

/// The server's deadlines (see [`crate::time`] and the table in docs/design.md). Each
/// ends the session without UPDATE and without a response (RFC 1939 §3), except the
/// application's, which sends `-ERR [SYS/TEMP]` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Waiting for the next command in the AUTHORIZATION state, default 2 minutes: a
    /// client that has not logged in holds no maildrop and gets less patience.
    pub authorization_idle: Duration,
    /// Waiting for the next command in the TRANSACTION state: the autologout timer,
    /// default [`MIN_AUTOLOGOUT`]. RFC 1939 §3 asks for at least 10 minutes; a shorter
    /// value is the operator's choice and is kept as given.
    pub idle: Duration,
    /// From a command line's first octet to its CRLF, default 2 minutes; a drip of
    /// single octets does not extend it.
    pub line: Duration,
    /// Responses queued and not taken by the client (a RETR the client stopped
    /// reading): 10 minutes from when they were queued, extended by one second per
    /// 500 octets taken. On expiry the maildrop is released at once, nothing deleted.
    pub write: RateDeadline,
    /// The whole session, default 2 hours; `None` for no cap.
    pub session: Option<Duration>,
    /// Logging in, from the greeting to the TRANSACTION state, default 3 minutes (as
    /// Dovecot's login processes); `None` for no limit. Runs whatever the client does
    /// meanwhile (CAPA, STLS, failed tries), so a client that never logs in holds no
    /// connection for long.
    pub login: Option<Duration>,
    /// The TLS handshake after STLS, default 1 minute.
    pub tls_handshake: Duration,
    /// The application's answer to an event, default `None` (no limit). Time the
    /// application takes never counts against the client.
    pub application: Option<Duration>,
}

crate::setters::setters!(Timeouts {
    set with_authorization_idle: authorization_idle: Duration,
    set with_idle: idle: Duration,
    set with_line: line: Duration,
    set with_write: write: RateDeadline,
    set with_tls_handshake: tls_handshake: Duration,
    into with_session: session: Option<Duration>,
    into with_login: login: Option<Duration>,
    into with_application: application: Option<Duration>,
});

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Timeouts {
            authorization_idle: Duration::from_secs(2 * MIN),
            idle: MIN_AUTOLOGOUT,
            line: Duration::from_secs(2 * MIN),
            write: RateDeadline::new(Duration::from_secs(10 * MIN), 500),
            session: Some(Duration::from_secs(120 * MIN)),
            login: Some(Duration::from_secs(3 * MIN)),
            tls_handshake: Duration::from_secs(MIN),
            application: None,
        }
    }
}

impl Timeouts {
    /// Both idle timers, the line and the write deadlines set to `timeout` (minimum
    /// rate kept).
    pub fn uniform(timeout: Duration) -> Timeouts {
        let d = Timeouts::default();
        Timeouts {
            authorization_idle: timeout,
            idle: timeout,
            line: timeout,
            write: d.write.with_timeout(timeout),
            ..d
        }
    }
}

/// The greeting text of [`ServerConfig::default`].
pub(super) const DEFAULT_GREETING: &str = "POP3 server ready";

/// Configuration of one POP3 server session.
///
/// `#[non_exhaustive]`: start from [`ServerConfig::default`] and use the `with_*` setters
/// (or assign fields).
///
/// ```
/// use mailproto_core::pop3::server::ServerConfig;
///
/// let config = ServerConfig::default()
///     .with_greeting("POP3 server ready")
///     .with_apop_timestamp("<1896.697170952@dbc.mtview.ca.us>")
///     .with_stls_offered(true)
///     .with_pipelining(true);
/// assert!(!config.allow_plaintext_login);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Text of the `+OK` greeting (RFC 1939 §4), before the APOP timestamp. Default
    /// `"POP3 server ready"` (also used if this text holds a CR, LF or NUL).
    pub greeting: String,
    /// Text of the `+OK` answer to QUIT (RFC 1939 §§4, 6). In the UPDATE state the
    /// machine appends `(maildrop empty)` or `(N messages left)`. Default
    /// `"POP3 server signing off"`.
    pub signoff: String,
    /// The APOP timestamp of this session, `<pid.clock@host>` (RFC 1939 §7). The core has
    /// no clock or randomness: the caller makes a fresh one per connection. `None`
    /// (default) disables APOP. A value that is not msg-id-like (`<...@...>`, printable
    /// ASCII, at most 256 octets) disables APOP too. Without an explicit CRAM-MD5
    /// challenge in [`ServerConfig::sasl`], CRAM-MD5 uses this timestamp as its
    /// challenge (RFC 2195 §2 uses the same form).
    pub apop_timestamp: Option<String>,
    /// Offer STLS (RFC 2595 §4) in the AUTHORIZATION state. Default false.
    pub stls_offered: bool,
    /// The connection is already under TLS (implicit TLS, port 995, RFC 8314): STLS is
    /// refused and plaintext logins are allowed. Default false.
    pub tls_active: bool,
    /// Allow plaintext password logins (USER/PASS and the SASL mechanisms that send the
    /// password or a bearer token: PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) without TLS.
    /// Default false: RFC 5034 §4 requires a configuration that neither advertises nor
    /// permits them before TLS and makes it the default; RFC 2595 §2.3 likewise. When
    /// false they are hidden from CAPA and refused with `-ERR [AUTH]` until TLS is
    /// active (through STLS or [`ServerConfig::tls_active`]).
    pub allow_plaintext_login: bool,
    /// SASL mechanisms offered by `AUTH` (RFC 5034) and in the CAPA `SASL` line, in this
    /// order. Mechanisms this crate does not implement are never offered. Default PLAIN
    /// and LOGIN.
    pub sasl_mechanisms: Vec<Mechanism>,
    /// Limits of each SASL exchange (and the CRAM-MD5 challenge, see
    /// [`ServerConfig::apop_timestamp`]).
    pub sasl: ServerAuthConfig,
    /// Advertise PIPELINING (RFC 2449 §6.6). Commands are always processed in order
    /// whatever this says. Default false.
    pub pipelining: bool,
    /// Offer the UTF8 command and capability (RFC 6856 §2). Default false.
    pub utf8: bool,
    /// The IMPLEMENTATION capability text (RFC 2449 §6.9). Default `None`.
    pub implementation: Option<String>,
    /// The EXPIRE capability (RFC 2449 §6.7). Default `None` (not advertised).
    pub expire: Option<Expiry>,
    /// The LOGIN-DELAY capability in seconds (RFC 2449 §6.5). The application enforces
    /// it by answering a login with [`ResponseCode::LoginDelay`]. Default `None`.
    ///
    /// [`ResponseCode::LoginDelay`]: crate::pop3::ResponseCode::LoginDelay
    pub login_delay: Option<u32>,
    /// Line limits (RFC 2449 §4: 255-octet commands; a larger allowance for PASS, APOP
    /// and AUTH lines and SASL responses, [`Limits::credential_line`]).
    pub limits: Limits,
    /// Refused commands tolerated: the one that reaches this count is answered with
    /// `-ERR` and the session closes. 0 disables the limit. Default 10.
    ///
    /// Counted: lines refused by the framing (too long, bare CR/LF), commands that do
    /// not parse, unknown or unsupported commands, commands given in the wrong state
    /// (RFC 1939 §3), PASS without USER, refused plaintext logins and SASL exchanges
    /// that fail before the application sees credentials (a `*` cancel excepted). Not
    /// counted: `-ERR` for a message number that does not exist or is deleted, and
    /// rejected credentials (see [`max_auth_failures`](Self::max_auth_failures)).
    pub max_errors: u32,
    /// Rejected logins ([`Server::login_failed`](super::Server::login_failed))
    /// tolerated: the one that reaches this count closes the session. 0 disables the
    /// limit. Default 3.
    pub max_auth_failures: u32,
    /// Deadlines, the autologout timer among them.
    pub timeouts: Timeouts,
    /// Bare CR / bare LF in command lines. Default [`BareLineEnding::Reject`].
    pub bare_line_ending: BareLineEnding,
    /// Most unprocessed input held, in octets (raised to twice the longest line). The
    /// machine only holds more than a line when the adapter feeds it while
    /// [`Io::Open`](crate::Io::Open) says `wants_read: false`; past this it closes.
    /// Default 64 KiB.
    pub max_buffered_input: usize,
    /// Let the application decide the commands the machine otherwise answers itself:
    /// USER, CAPA, STAT, LIST, UIDL, DELE, NOOP and RSET, once they passed the
    /// machine's checks (syntax, state) each comes as [`Event::Command`] and waits for
    /// [`Server::command_allow`] (answered as usual), [`Server::command_refuse`] (a
    /// `-ERR` instead, nothing done) or [`Server::command_close`]. Default false.
    ///
    /// [`Event::Command`]: super::Event::Command
    /// [`Server::command_allow`]: super::Server::command_allow
    /// [`Server::command_refuse`]: super::Server::command_refuse
    /// [`Server::command_close`]: super::Server::command_close
    pub ask_commands: bool,
}

crate::setters::setters!(ServerConfig {
    set with_stls_offered: stls_offered: bool,
    set with_tls_active: tls_active: bool,
    set with_pipelining: pipelining: bool,
    set with_utf8: utf8: bool,
    set with_limits: limits: Limits,
    set with_max_errors: max_errors: u32,
    set with_max_auth_failures: max_auth_failures: u32,
    set with_timeouts: timeouts: Timeouts,
    set with_bare_line_ending: bare_line_ending: BareLineEnding,
    set with_max_buffered_input: max_buffered_input: usize,
    set with_ask_commands: ask_commands: bool,
    into with_greeting: greeting: String,
    into with_signoff: signoff: String,
    some_into with_apop_timestamp: apop_timestamp: String,
    some_into with_implementation: implementation: String,
    some with_expire: expire: Expiry,
    some with_login_delay: login_delay: u32,
});

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            greeting: String::from(DEFAULT_GREETING),
            signoff: String::from("POP3 server signing off"),
            apop_timestamp: None,
            stls_offered: false,
            tls_active: false,
            allow_plaintext_login: false,
            sasl_mechanisms: vec![Mechanism::Plain, Mechanism::Login],
            sasl: ServerAuthConfig::default(),
            pipelining: false,
            utf8: false,
            implementation: None,
            expire: None,
            login_delay: None,
            limits: Limits::default(),
            max_errors: 10,
            max_auth_failures: 3,
            timeouts: Timeouts::default(),
            bare_line_ending: BareLineEnding::Reject,
            max_buffered_input: 64 * 1024,
            ask_commands: false,
        }
    }
}

impl ServerConfig {
    /// Set [`allow_plaintext_login`](Self::allow_plaintext_login).
    pub fn with_plaintext_login(mut self, allow: bool) -> Self {
        self.allow_plaintext_login = allow;
        self
    }

    /// Set [`sasl_mechanisms`](Self::sasl_mechanisms).
    pub fn with_sasl_mechanisms(mut self, mechanisms: impl IntoIterator<Item = Mechanism>) -> Self {
        self.sasl_mechanisms = mechanisms.into_iter().collect();
        self
    }

    /// Set [`sasl`](Self::sasl).
    pub fn with_sasl_config(mut self, sasl: ServerAuthConfig) -> Self {
        self.sasl = sasl;
        self
    }

    /// Set the autologout timer of the TRANSACTION state ([`Timeouts::idle`]).
    pub fn with_autologout(mut self, timer: Duration) -> Self {
        self.timeouts.idle = timer;
        self
    }
}
