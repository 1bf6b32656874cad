//! [`ClientConfig`]: the limits and policies of a POP3 client session.

use core::time::Duration;

use crate::line::BareLineEnding;
use crate::pop3::Limits;
use crate::time::RateDeadline;

/// The client's deadlines (see [`crate::time`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The greeting, or the response to the oldest command written: 10 minutes (the
    /// server's autologout minimum of RFC 1939 §3) from when it became the oldest,
    /// extended by one second per 500 octets received, so a large RETR over a slow
    /// link completes while a server that drips a status line does not hold the client.
    pub response: RateDeadline,
    /// Commands queued and not taken by the server: 10 minutes, extended by one second
    /// per 500 octets taken.
    pub write: RateDeadline,
    /// The TLS handshake after STLS, default 1 minute.
    pub tls_handshake: Duration,
    /// The whole session, default `None` (no cap).
    pub session: Option<Duration>,
}

crate::setters::setters!(Timeouts {
    set with_response: response: RateDeadline,
    set with_write: write: RateDeadline,
    set with_tls_handshake: tls_handshake: Duration,
    into with_session: session: Option<Duration>,
});

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            response: RateDeadline::new(Duration::from_secs(600), 500),
            write: RateDeadline::new(Duration::from_secs(600), 500),
            tls_handshake: Duration::from_secs(60),
            session: None,
        }
    }
}

/// How a [`Client`](super::Client) behaves. Start from [`ClientConfig::default`] and set
/// the fields that differ.
///
/// ```
/// use mailproto_core::pop3::client::ClientConfig;
///
/// // POP3S on port 995 (RFC 8314 §3.3): TLS is on from the start.
/// let mut config = ClientConfig::default();
/// config.tls_active = true;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Line limits. The client uses [`Limits::status_line`] for the greeting and every
    /// first line of a response (RFC 2449 §4: 512 octets), [`Limits::continuation_line`]
    /// for SASL challenges, [`Limits::capability_line`] for CAPA lines and
    /// [`Limits::command_line`] (255 octets) to decide whether an AUTH initial response
    /// fits on the command line (RFC 5034 §4).
    pub limits: Limits,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// What to do with a bare CR or bare LF inside a RETR or TOP body. Default
    /// [`BareLineEnding::Keep`]: the message comes back exactly as the server stored it.
    /// Whatever the policy, only `CRLF . CRLF` ends a body (RFC 1939 §3).
    pub body_line_endings: BareLineEnding,
    /// The most lines a multi-line LIST, UIDL, CAPA or AUTH listing may have. A longer
    /// listing is read to its end and reported as
    /// [`ResponseError::TooManyLines`](super::ResponseError::TooManyLines), so memory stays
    /// bounded. Default: 1,000,000 (about 16 MB for LIST, 100 MB for UIDL at most).
    pub max_listing_lines: usize,
    /// TLS is already on, because the connection uses implicit TLS (POP3S, RFC 8314
    /// §3.3). STLS is then refused locally.
    pub tls_active: bool,
    /// The most commands issued and not yet answered. Default: 4096.
    pub max_pending: usize,
    /// With PIPELINING, the most octets of commands sent and not yet answered (RFC 2449
    /// §6.6: a client "MUST not exceed the window size of the underlying transport
    /// layer"). A command is always sent when nothing is outstanding. Default: 4096,
    /// below any TCP window.
    pub pipeline_window: usize,
    /// The most SASL challenges one AUTH exchange may bring before the client cancels it
    /// with `*` (RFC 5034 §4). Default: [`DEFAULT_MAX_ROUNDS`](crate::sasl::DEFAULT_MAX_ROUNDS), 8, as for SMTP.
    pub max_auth_rounds: usize,
}

crate::setters::setters!(ClientConfig {
    set with_limits: limits: Limits,
    set with_timeouts: timeouts: Timeouts,
    set with_body_line_endings: body_line_endings: BareLineEnding,
    set with_max_listing_lines: max_listing_lines: usize,
    set with_tls_active: tls_active: bool,
    set with_max_pending: max_pending: usize,
    set with_pipeline_window: pipeline_window: usize,
    set with_max_auth_rounds: max_auth_rounds: usize,
});

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            body_line_endings: BareLineEnding::Keep,
            max_listing_lines: 1_000_000,
            tls_active: false,
            max_pending: 4096,
            pipeline_window: 4096,
            max_auth_rounds: crate::sasl::DEFAULT_MAX_ROUNDS,
        }
    }
}
