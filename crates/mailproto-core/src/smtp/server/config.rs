//! [`ServerConfig`]: what the server advertises, enforces and says.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::line::BareLineEnding;
use crate::sasl::Mechanism;
use crate::smtp::{Extension, Limits};
use crate::time::RateDeadline;

/// The service extensions the server advertises in its EHLO/LHLO reply (RFC 5321
/// §4.1.1.1) and therefore accepts.
///
/// A parameter or command of an extension that is not advertised is refused (555 for
/// MAIL/RCPT parameters, RFC 5321 §4.1.1.11; 502 for commands).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extensions {
    /// `PIPELINING` (RFC 2920). Default on. The machine processes pipelined commands
    /// whether or not this is advertised; it only changes the EHLO reply.
    pub pipelining: bool,
    /// `SIZE n` with `n` = [`ServerLimits::max_message_size`] (RFC 1870), and the
    /// `SIZE=` MAIL parameter. Default on.
    pub size: bool,
    /// `8BITMIME` (RFC 6152) and `BODY=7BIT` / `BODY=8BITMIME`. Default on.
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531): UTF-8 addresses in a transaction that asks for it with
    /// the `SMTPUTF8` MAIL parameter. Default off.
    pub smtputf8: bool,
    /// `CHUNKING` (RFC 3030): the `BDAT` command. Default on.
    pub chunking: bool,
    /// `BINARYMIME` (RFC 3030 §3): `BODY=BINARYMIME`; advertised only together with
    /// CHUNKING. Default off.
    pub binary_mime: bool,
    /// `DSN` (RFC 3461): `RET=`, `ENVID=`, `NOTIFY=`, `ORCPT=`. Default off (the
    /// application then generates the notifications).
    pub dsn: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034): every reply the machine generates carries its
    /// `class.subject.detail` code (RFC 3463), except the greeting, the replies to
    /// HELO/EHLO/LHLO and 3xx replies (RFC 2034 §3). Default on.
    pub enhanced_status_codes: bool,
    /// `STARTTLS` (RFC 3207), advertised while TLS is not active. Default off: the
    /// adapter must be able to run a TLS handshake.
    pub starttls: bool,
    /// `AUTH` mechanisms (RFC 4954), in the order advertised. Empty (the default): no
    /// AUTH. Mechanisms that send a password or token ([`Mechanism::needs_tls`]) are
    /// advertised and accepted before TLS only when
    /// [`ServerConfig::auth_requires_tls`] is false.
    pub auth: Vec<Mechanism>,
    /// `REQUIRETLS` (RFC 8689), advertised and accepted only under TLS. Default off.
    pub requiretls: bool,
    /// Further EHLO keywords to advertise (e.g. `HELP`). Their MAIL/RCPT parameters are
    /// still refused unless [`ServerConfig::allow_unknown_params`] is set.
    pub other: Vec<Extension>,
}

crate::setters::setters!(Extensions {
    set with_pipelining: pipelining: bool,
    set with_size: size: bool,
    set with_eight_bit_mime: eight_bit_mime: bool,
    set with_smtputf8: smtputf8: bool,
    set with_chunking: chunking: bool,
    set with_binary_mime: binary_mime: bool,
    set with_dsn: dsn: bool,
    set with_enhanced_status_codes: enhanced_status_codes: bool,
    set with_starttls: starttls: bool,
    set with_requiretls: requiretls: bool,
    into with_auth: auth: Vec<Mechanism>,
    into with_other: other: Vec<Extension>,
});

impl Default for Extensions {
    fn default() -> Self {
        Extensions {
            pipelining: true,
            size: true,
            eight_bit_mime: true,
            smtputf8: false,
            chunking: true,
            binary_mime: false,
            dsn: false,
            enhanced_status_codes: true,
            starttls: false,
            auth: Vec::new(),
            requiretls: false,
            other: Vec::new(),
        }
    }
}

/// Limits the server enforces. All are on by default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Command parser limits: command line 512 octets (RFC 5321 §4.5.3.1.4), extra
    /// allowance for MAIL/RCPT parameters, AUTH line 12288 octets (RFC 4954 §4), path,
    /// local part and domain lengths (§4.5.3.1.1-3). The AUTH allowance also bounds each
    /// line of a SASL exchange.
    pub parse: Limits,
    /// Accepted recipients per transaction, default 100 (RFC 5321 §4.5.3.1.8: at least
    /// 100). One more is refused with `452 4.5.3` (§4.5.3.1.10).
    pub max_recipients: usize,
    /// Largest message in octets (after dot-unstuffing for DATA), default 25 MiB.
    /// Advertised as `SIZE n`; a larger `SIZE=` or body is refused with `552 5.3.4`
    /// (RFC 1870 §6).
    pub max_message_size: u64,
    /// Command errors (unknown verbs, syntax errors, bad sequence, unsupported
    /// parameters) after which the session is closed with `421 4.7.0`; default 10,
    /// 0 for no limit.
    pub max_errors: usize,
    /// Failed AUTH exchanges after which the session is closed with `421 4.7.0`;
    /// default 3, 0 for no limit.
    pub max_auth_failures: usize,
    /// Challenges one SASL exchange may take (LOGIN needs 2), default 2.
    pub max_auth_rounds: usize,
    /// Input bytes held before the machine stops asking for more
    /// (`Io::Open { wants_read: false }`), default 64 KiB. Raised to at least twice the
    /// longest allowed line. Input fed beyond it while not asked for closes the session
    /// with `421 4.7.0`.
    pub max_buffered: usize,
}

crate::setters::setters!(ServerLimits {
    set with_parse: parse: Limits,
    set with_max_recipients: max_recipients: usize,
    set with_max_message_size: max_message_size: u64,
    set with_max_errors: max_errors: usize,
    set with_max_auth_failures: max_auth_failures: usize,
    set with_max_auth_rounds: max_auth_rounds: usize,
    set with_max_buffered: max_buffered: usize,
});

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            parse: Limits::default(),
            max_recipients: 100,
            max_message_size: 25 * 1024 * 1024,
            max_errors: 10,
            max_auth_failures: 3,
            max_auth_rounds: 2,
            max_buffered: 64 * 1024,
        }
    }
}

/// The server's deadlines (RFC 5321 §4.5.3.2; see [`crate::time`] and the table in
/// docs/design.md). Every expiry but [`write`](Self::write) and
/// [`tls_handshake`](Self::tls_handshake) ends the session with `421 4.4.2`; those two
/// close at once, as the client cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Waiting for the first octet of the next command or SASL response, default 5
    /// minutes (RFC 5321 §4.5.3.2.7 "Server Timeout").
    pub idle: Duration,
    /// From a command line's first octet to its CRLF, default 5 minutes. A drip of
    /// single octets does not extend it (Postfix's `smtpd_per_record_deadline`).
    pub line: Duration,
    /// One DATA body or BDAT chunk: 3 minutes (RFC 5321 §4.5.3.2.5 "Data Block"),
    /// extended by one second per 500 octets received (Postfix's
    /// `smtpd_min_data_rate`).
    pub data: RateDeadline,
    /// The whole message, from its first octet to its end (across BDAT chunks),
    /// default 1 hour; `None` for no cap.
    pub message: Option<Duration>,
    /// The whole session, default 1 hour; `None` for no cap.
    pub session: Option<Duration>,
    /// From the greeting to the first `MAIL` accepted, default 5 minutes; `None` for no
    /// limit. Runs whatever the client does meanwhile (EHLO, STARTTLS, AUTH tries,
    /// NOOP), so a client that never gets to sending mail holds no connection for long;
    /// once a transaction opened, the other deadlines govern. Expiry: `421 4.4.2`.
    pub first_transaction: Option<Duration>,
    /// Replies queued and not taken by the client: 5 minutes from when they were
    /// queued, extended by one second per 500 octets the client takes.
    pub write: RateDeadline,
    /// The TLS handshake after STARTTLS, default 1 minute.
    pub tls_handshake: Duration,
    /// The application's answer to an event, default `None` (no limit). Time the
    /// application takes never counts against the client; when this expires the
    /// session ends with `421 4.3.0`.
    pub application: Option<Duration>,
}

crate::setters::setters!(Timeouts {
    set with_idle: idle: Duration,
    set with_line: line: Duration,
    set with_data: data: RateDeadline,
    set with_write: write: RateDeadline,
    set with_tls_handshake: tls_handshake: Duration,
    into with_message: message: Option<Duration>,
    into with_session: session: Option<Duration>,
    into with_first_transaction: first_transaction: Option<Duration>,
    into with_application: application: Option<Duration>,
});

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Timeouts {
            idle: Duration::from_secs(5 * MIN),
            line: Duration::from_secs(5 * MIN),
            data: RateDeadline::new(Duration::from_secs(3 * MIN), 500),
            message: Some(Duration::from_secs(60 * MIN)),
            session: Some(Duration::from_secs(60 * MIN)),
            first_transaction: Some(Duration::from_secs(5 * MIN)),
            write: RateDeadline::new(Duration::from_secs(5 * MIN), 500),
            tls_handshake: Duration::from_secs(MIN),
            application: None,
        }
    }
}

impl Timeouts {
    /// Idle, line, data-block and write deadlines all set to `timeout` (minimum rates
    /// kept), as Postfix's `smtpd_timeout` with `smtpd_per_record_deadline = yes`.
    pub fn uniform(timeout: Duration) -> Timeouts {
        let d = Timeouts::default();
        Timeouts {
            idle: timeout,
            line: timeout,
            data: d.data.with_timeout(timeout),
            write: d.write.with_timeout(timeout),
            ..d
        }
    }
}

/// Configuration of one SMTP (or LMTP) server session.
///
/// ```
/// use mailproto_core::sasl::Mechanism;
/// use mailproto_core::smtp::server::ServerConfig;
///
/// let mut config = ServerConfig::new("mx.example.org");
/// config.extensions.starttls = true;
/// config.extensions.auth = vec![Mechanism::Plain, Mechanism::Login];
/// config.limits.max_message_size = 10_000_000;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The server's name, first word of the greeting and of the EHLO reply (RFC 5321
    /// §4.2, §4.1.1.1). Default `localhost`.
    pub hostname: String,
    /// Text after the host name in the `220` greeting. Default `ESMTP ready`
    /// (`LMTP ready` in LMTP mode).
    pub greeting: String,
    /// What EHLO advertises.
    pub extensions: Extensions,
    /// The connection is already under TLS (implicit TLS, RFC 8314 §3): STARTTLS is not
    /// offered and AUTH needs no upgrade.
    pub tls_active: bool,
    /// Refuse mechanisms that send a password or token before TLS (RFC 4954 §4,
    /// RFC 4616 §5): `530 5.7.0 Must issue a STARTTLS command first` when STARTTLS is
    /// offered, else `504 5.7.11` (RFC 4954 §6 deprecates 538). Default true.
    pub auth_requires_tls: bool,
    /// Refuse MAIL (and every command but AUTH, EHLO, HELO, NOOP, RSET, QUIT and
    /// STARTTLS) with `530 5.7.0 Authentication required` until AUTH succeeded
    /// (RFC 4954 §6). Default false.
    pub auth_required: bool,
    /// LMTP (RFC 2033): LHLO instead of HELO/EHLO, and one reply per accepted
    /// recipient after the message. Default false.
    pub lmtp: bool,
    /// Limits.
    pub limits: ServerLimits,
    /// Bare CR / bare LF in command lines and DATA bodies (RFC 5321 §2.3.8). Default
    /// [`BareLineEnding::Reject`]; [`BareLineEnding::Normalize`] reads them as line
    /// breaks. Neither lets a bare line ending end a body.
    pub bare_line_ending: BareLineEnding,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// Hand VRFY and EXPN to the application as events. Default false: the machine
    /// answers `252 2.5.0 Cannot VRFY user, but will accept message and attempt
    /// delivery` (RFC 5321 §3.5.3, §7.3) and the same for EXPN.
    pub vrfy_expn_events: bool,
    /// The CRAM-MD5 challenge (RFC 2195 §2) for this session, e.g.
    /// `<1896.697170952@postoffice.example.net>`. The core has no clock or randomness,
    /// so the caller makes it unique; without it CRAM-MD5 fails with `454 4.7.0`.
    pub cram_md5_challenge: Option<String>,
    /// Accept MAIL/RCPT parameters this crate does not know (they reach the
    /// application in `params.other`) instead of refusing them with `555 5.5.4`.
    /// Default false.
    pub allow_unknown_params: bool,
    /// Accept `MAIL FROM: <a@b>` with a space after the colon, as many servers do for
    /// broken clients (RFC 5321 §4.1.1.2 forbids it). Default false.
    pub allow_space_after_colon: bool,
    /// Let the application decide HELO/EHLO/LHLO: [`Event::Hello`] then comes before
    /// the machine replies and needs an answer ([`Server::accept`]: the machine's `250`
    /// with the capabilities; [`Server::reply`]: a refusal, e.g. `550 5.7.1`, after
    /// which the client may greet again; `421` closes). Default false: the machine
    /// accepts every well-formed greeting itself.
    ///
    /// [`Event::Hello`]: super::Event::Hello
    /// [`Server::accept`]: super::Server::accept
    /// [`Server::reply`]: super::Server::reply
    pub ask_hello: bool,
    /// Let the application decide DATA before the `354`, and a BDAT body at its first
    /// chunk: [`Event::DataStart`] then needs an answer ([`Server::accept`]: `354`, or
    /// the chunk is taken; [`Server::reply`]: that reply instead, RFC 5321 §4.1.1.4 and
    /// RFC 3030 §2, the chunk's octets read and dropped; the transaction ends). Default
    /// false: the machine sends `354` itself.
    ///
    /// [`Event::DataStart`]: super::Event::DataStart
    /// [`Server::accept`]: super::Server::accept
    /// [`Server::reply`]: super::Server::reply
    pub ask_data: bool,
}

crate::setters::setters!(ServerConfig {
    set with_extensions: extensions: Extensions,
    set with_tls_active: tls_active: bool,
    set with_auth_requires_tls: auth_requires_tls: bool,
    set with_auth_required: auth_required: bool,
    set with_lmtp: lmtp: bool,
    set with_limits: limits: ServerLimits,
    set with_bare_line_ending: bare_line_ending: BareLineEnding,
    set with_timeouts: timeouts: Timeouts,
    set with_vrfy_expn_events: vrfy_expn_events: bool,
    set with_allow_unknown_params: allow_unknown_params: bool,
    set with_allow_space_after_colon: allow_space_after_colon: bool,
    set with_ask_hello: ask_hello: bool,
    set with_ask_data: ask_data: bool,
    into with_hostname: hostname: String,
    into with_greeting: greeting: String,
    some_into with_cram_md5_challenge: cram_md5_challenge: String,
});

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            hostname: String::from("localhost"),
            greeting: String::from("ESMTP ready"),
            extensions: Extensions::default(),
            tls_active: false,
            auth_requires_tls: true,
            auth_required: false,
            lmtp: false,
            limits: ServerLimits::default(),
            bare_line_ending: BareLineEnding::Reject,
            timeouts: Timeouts::default(),
            vrfy_expn_events: false,
            cram_md5_challenge: None,
            allow_unknown_params: false,
            allow_space_after_colon: false,
            ask_hello: false,
            ask_data: false,
        }
    }
}

impl ServerConfig {
    /// The default configuration for a server named `hostname`.
    pub fn new(hostname: &str) -> Self {
        ServerConfig {
            hostname: String::from(hostname),
            ..ServerConfig::default()
        }
    }

    /// The default LMTP (RFC 2033) configuration for a server named `hostname`:
    /// LHLO, PIPELINING and ENHANCEDSTATUSCODES, per-recipient replies.
    pub fn lmtp(hostname: &str) -> Self {
        ServerConfig {
            hostname: String::from(hostname),
            greeting: String::from("LMTP ready"),
            lmtp: true,
            ..ServerConfig::default()
        }
    }
}
