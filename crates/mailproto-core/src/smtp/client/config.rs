//! [`ClientConfig`] and [`Timeouts`]: what a client machine is told before it starts.

use core::time::Duration;

use crate::line::BareLineEnding;
use crate::smtp::{Domain, Host, ReplyLimits};
use crate::time::RateDeadline;

/// The client's deadlines: how long it waits for each reply (RFC 5321 §4.5.3.2), for
/// the server to take what it sends, and for a TLS handshake.
///
/// A reply's deadline counts from when it became the oldest outstanding one (for a
/// pipelined group the first outstanding reply decides); a reply that drips in does not
/// extend it. Between commands the client reads without a deadline, so an unsolicited
/// `421` or a close is still seen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The initial 220 greeting, default 5 minutes (RFC 5321 §4.5.3.2.1).
    pub greeting: Duration,
    /// The reply to MAIL, default 5 minutes (RFC 5321 §4.5.3.2.2).
    pub mail: Duration,
    /// The reply to each RCPT, default 5 minutes (RFC 5321 §4.5.3.2.3).
    pub rcpt: Duration,
    /// The 354 reply to DATA, default 2 minutes (RFC 5321 §4.5.3.2.4).
    pub data_initiation: Duration,
    /// Sending message data, default 3 minutes (RFC 5321 §4.5.3.2.5): while a body is
    /// sent it replaces the [`write`](Self::write) timeout (the minimum rate kept). The
    /// machine also uses it for the reply to a BDAT chunk that is not the last
    /// (RFC 3030 §2).
    pub data_block: Duration,
    /// The reply after the end of the message data (`.` or `BDAT ... LAST`), default 10
    /// minutes (RFC 5321 §4.5.3.2.6): a spurious timeout here duplicates mail.
    pub data_termination: Duration,
    /// Every other reply (EHLO, STARTTLS, AUTH, RSET, NOOP, VRFY, QUIT), default 5
    /// minutes, as RFC 5321 §4.5.3.2 gives for commands without a value of their own.
    pub command: Duration,
    /// Output queued and not taken by the server: 5 minutes from when it was queued,
    /// extended by one second per 500 octets the server takes.
    pub write: RateDeadline,
    /// The TLS handshake after STARTTLS, default 1 minute.
    pub tls_handshake: Duration,
    /// The whole session, default `None` (no cap).
    pub session: Option<Duration>,
}

crate::setters::setters!(Timeouts {
    set with_greeting: greeting: Duration,
    set with_mail: mail: Duration,
    set with_rcpt: rcpt: Duration,
    set with_data_initiation: data_initiation: Duration,
    set with_data_block: data_block: Duration,
    set with_data_termination: data_termination: Duration,
    set with_command: command: Duration,
    set with_write: write: RateDeadline,
    set with_tls_handshake: tls_handshake: Duration,
    into with_session: session: Option<Duration>,
});

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Timeouts {
            greeting: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_initiation: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_termination: Duration::from_secs(10 * MIN),
            command: Duration::from_secs(5 * MIN),
            write: RateDeadline::new(Duration::from_secs(5 * MIN), 500),
            tls_handshake: Duration::from_secs(MIN),
            session: None,
        }
    }
}

/// Configuration of a [`Client`](super::Client).
///
/// `#[non_exhaustive]`: start from [`ClientConfig::default`] or
/// [`ClientConfig::new`] and set fields.
///
/// ```
/// use mailproto_core::smtp::{Domain, Host};
/// use mailproto_core::smtp::client::ClientConfig;
/// let mut config = ClientConfig::new(Host::Domain(Domain::new("client.example.org").unwrap()));
/// config.lmtp = true;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The name sent with EHLO/HELO/LHLO: the client's fully qualified domain name, or an
    /// address literal when it has none (RFC 5321 §4.1.1.1, §4.1.4). HELO takes a domain
    /// only, so the HELO fallback is not available with an address literal. Default
    /// `localhost`; set it.
    pub hostname: Host,
    /// Speak LMTP (RFC 2033): `LHLO` instead of EHLO (no HELO fallback), and one reply
    /// per accepted recipient after the message data.
    pub lmtp: bool,
    /// Bare CR / bare LF in message bodies: `Normalize` (default) sends them as CRLF, so
    /// a body with Unix line endings goes out correctly (RFC 5321 §2.3.8); `Reject`
    /// refuses such a body; `Keep` sends the bytes as given (still dot-stuffed after
    /// every line break). BODY=BINARYMIME bodies are always sent verbatim (RFC 3030 §3).
    pub body_line_ending: BareLineEnding,
    /// Limits on reply lines and on the lines of one reply: lines of up to 4096 octets
    /// are read, more than the 512 RFC 5321 §4.5.3.1.5 lets servers send
    /// ([`ReplyLimits::lenient`]).
    pub reply_limits: ReplyLimits,
    /// Deadlines (RFC 5321 §4.5.3.2).
    pub timeouts: Timeouts,
    /// The connection already runs inside TLS (implicit TLS, RFC 8314 §3): STARTTLS is
    /// refused and password mechanisms are allowed for AUTH.
    pub tls_active: bool,
    /// Most recipients in one transaction, default 100 (RFC 5321 §4.5.3.1.8: the
    /// minimum a server must accept). Bounds a pipelined group.
    pub max_recipients: usize,
    /// Most BDAT chunks awaiting their reply when PIPELINING is advertised, default 16
    /// (without PIPELINING it is 1: RFC 3030 §2, RFC 2920 §3.1). Keeps the pipeline from
    /// filling both directions' buffers (RFC 2920 §3.1 deadlock warning).
    pub max_chunks_in_flight: usize,
    /// Most `334` challenges answered in one AUTH exchange before the client cancels with
    /// `*` (RFC 4954 §4), default 8.
    pub max_auth_rounds: usize,
}

crate::setters::setters!(ClientConfig {
    set with_lmtp: lmtp: bool,
    set with_body_line_ending: body_line_ending: BareLineEnding,
    set with_reply_limits: reply_limits: ReplyLimits,
    set with_timeouts: timeouts: Timeouts,
    set with_tls_active: tls_active: bool,
    set with_max_recipients: max_recipients: usize,
    set with_max_chunks_in_flight: max_chunks_in_flight: usize,
    set with_max_auth_rounds: max_auth_rounds: usize,
    into with_hostname: hostname: Host,
});

impl ClientConfig {
    /// The default configuration with this EHLO/HELO name.
    pub fn new(hostname: Host) -> Self {
        ClientConfig {
            hostname,
            ..ClientConfig::default()
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            hostname: Host::Domain(Domain::from_validated("localhost")),
            lmtp: false,
            body_line_ending: BareLineEnding::Normalize,
            reply_limits: ReplyLimits::lenient(),
            timeouts: Timeouts::default(),
            tls_active: false,
            max_recipients: 100,
            max_chunks_in_flight: 16,
            max_auth_rounds: crate::sasl::DEFAULT_MAX_ROUNDS,
        }
    }
}
