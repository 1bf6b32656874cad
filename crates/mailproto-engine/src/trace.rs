//! What the servers tell `tracing`: one span per session (protocol, peer, TLS, the user
//! once logged in), at `debug` the session's transcript (every command and status line,
//! credentials masked, from the machine) and an event per protocol event (the machines'
//! own events, whose `Debug` never shows a credential), and the security events at `warn`: a
//! STARTTLS/STLS injection attempt, a failed login with the client's address, a limit
//! hit, a session that ended in an error. Nothing is printed unless the application
//! installs a subscriber.

use std::net::SocketAddr;

use mailproto_core::Machine;
use mailproto_core::pop3::server::Event as Pop3Event;
use mailproto_core::smtp::server::Event as SmtpEvent;

use crate::Error;

/// The span of one server session.
pub fn session_span(protocol: &'static str, peer: Option<SocketAddr>, tls: bool) -> tracing::Span {
    tracing::info_span!(
        "session",
        protocol,
        peer = peer.map(|p| p.to_string()),
        tls,
        user = tracing::field::Empty
    )
}

/// How a session ended; an error that would otherwise be dropped is logged.
pub fn session_end(result: &Result<(), Error>) {
    match result {
        Ok(()) => tracing::debug!("session closed"),
        Err(e) => tracing::info!(error = %e, "session ended with an error"),
    }
}

/// One SMTP server event.
pub fn smtp_event(event: &SmtpEvent) {
    match event {
        SmtpEvent::TlsInjection { discarded } => tracing::warn!(
            discarded,
            "STARTTLS injection attempt: plaintext after STARTTLS discarded"
        ),
        SmtpEvent::Auth { credentials, .. } => {
            tracing::debug!(user = credentials.username().unwrap_or(""), "AUTH");
        }
        SmtpEvent::BodyChunk(chunk) => tracing::trace!(octets = chunk.len(), "body"),
        other => tracing::debug!(event = ?other, "command"),
    }
}

/// One POP3 server event.
pub fn pop3_event(event: &Pop3Event) {
    match event {
        Pop3Event::TlsInjection { discarded } => tracing::warn!(
            discarded,
            "STLS injection attempt: plaintext after STLS discarded"
        ),
        // A login: the user only, never the password, digest or SASL response.
        Pop3Event::Login { user, .. } | Pop3Event::Apop { user, .. } => login(user),
        Pop3Event::Auth { credentials } => login(credentials.username().unwrap_or("")),
        other => tracing::debug!(event = ?other, "command"),
    }
}

fn login(user: &str) {
    tracing::debug!(user, "login");
}

/// The target of the transcript events, for a subscriber to pick them out.
pub const TRANSCRIPT: &str = "mailproto::transcript";

/// Keep the machine's transcript when `debug` events of [`TRANSCRIPT`] are wanted here
/// (see [`transcript`]).
pub fn start_transcript<M: Machine>(machine: &mut M) {
    if tracing::enabled!(target: TRANSCRIPT, tracing::Level::DEBUG) {
        machine.record_transcript(true);
    }
}

/// The lines the machine recorded since the last call, one `debug` event each (`C: …`
/// received, `S: …` sent; credentials masked, message contents left out by the machine).
pub fn transcript<M: Machine>(machine: &mut M) {
    while let Some(line) = machine.poll_transcript() {
        tracing::debug!(target: TRANSCRIPT, line = %line, "transcript");
    }
}

/// The client logged in as `user`: the session span says so from now on.
pub fn logged_in(user: &str) {
    tracing::Span::current().record("user", user);
}
