//! Driving the SMTP machines as an adapter does, with scripted applications whose
//! decisions come from the fuzz input, and the checks shared by the SMTP targets.

use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism, xoauth2_error_challenge};
use mailproto_core::smtp::client::{
    self, BodyMode, Client, ClientConfig, ClientError, Event as ClientEvent,
};
use mailproto_core::smtp::server::{Awaiting, Event, Server, ServerConfig};
use mailproto_core::smtp::{
    Body, Domain, EnhancedCode, ForwardPath, Host, MailParams, Mailbox, RcptParams, Reply,
    ReplyCode, ReplyParser, ReversePath,
};
use mailproto_core::{Instant, Io, Machine, Misuse};

const T0: Instant = Instant::ZERO;

use crate::{BareLineEnding, Choices, POLICIES, chunks};

/// A server configuration from two bytes: each bit turns on an extension or a policy.
/// STARTTLS only when `starttls` allows it (a TLS switch drops plaintext in flight, so
/// it depends on how the input was split).
pub fn server_config(a: u8, b: u8, starttls: bool) -> ServerConfig {
    let mut c = ServerConfig::new("mx.example.org");
    let on = |byte: u8, bit: u8| byte & (1 << bit) != 0;
    c.extensions.pipelining = on(a, 0);
    c.extensions.chunking = on(a, 1);
    c.lmtp = on(a, 2);
    c.extensions.enhanced_status_codes = on(a, 3);
    c.extensions.starttls = starttls && on(a, 4);
    if on(a, 5) {
        c.extensions.auth = vec![
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::XOAuth2,
            Mechanism::OAuthBearer,
        ];
        c.auth_requires_tls = false;
        c.cram_md5_challenge = Some(String::from("<1896.697170952@postoffice.example.net>"));
    }
    c.vrfy_expn_events = on(a, 6);
    if on(a, 7) {
        c.bare_line_ending = mailproto_core::line::BareLineEnding::Normalize;
    }
    c.extensions.smtputf8 = on(b, 0);
    c.extensions.dsn = on(b, 1);
    c.extensions.binary_mime = on(b, 2);
    c.auth_required = on(b, 3);
    if on(b, 4) {
        c.limits.max_message_size = 64;
        c.limits.max_recipients = 3;
        c.limits.max_auth_failures = 1;
    }
    c.limits.max_errors = if on(b, 5) { 0 } else { 10 };
    c.allow_unknown_params = on(b, 6);
    c.allow_space_after_colon = on(b, 7);
    c
}

/// What a server run showed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRun {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Everything the server sent.
    pub output: Vec<u8>,
}

/// Runs a server over `wire`, fed in chunks of `sizes` (see [`chunks`]) whenever it wants
/// input and ended by end of stream; every event is answered at once by a scripted
/// application. Panics if the machine stalls (wants no input, gives no event, waits for
/// no answer and is not closed) or acts after it closed.
pub fn run_server(
    config: ServerConfig,
    wire: &[u8],
    sizes: &[usize],
    choices: &[u8],
    timing: &[u8],
) -> ServerRun {
    let mut clock = crate::Clock::new(timing);
    let mut server = Server::new(T0, config);
    let mut choices = Choices::new(choices);
    let mut input = chunks(wire, sizes);
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut eof = false;
    loop {
        crate::take(&mut server, clock.now, &mut output);
        let mut answered = false;
        while let Some(event) = server.poll_event() {
            // Answered when the event that asks is handled, whatever came before it in
            // the same poll, so the decisions do not depend on the reads.
            if matches!(
                event,
                Event::Mail { .. }
                    | Event::Rcpt { .. }
                    | Event::MessageEnd { .. }
                    | Event::Auth { .. }
                    | Event::Vrfy(_)
                    | Event::Expn(_)
            ) {
                answer(&mut server, &mut choices);
            }
            events.push(event);
            answered = true;
        }
        if answered {
            continue;
        }
        match server.io() {
            Io::Closed => break,
            Io::AwaitingTls => server.tls_established(clock.now),
            Io::Open { wants_read: true } => match input.next() {
                Some(chunk) => {
                    clock.tick(&mut server);
                    if server.io() == (Io::Open { wants_read: true }) {
                        server.feed(clock.now, chunk);
                    }
                }
                None => {
                    assert!(!eof, "wants input after the end of stream");
                    eof = true;
                    server.feed_eof(clock.now);
                }
            },
            Io::Open { wants_read: false } => panic!(
                "stalled: no input wanted, no event, awaiting {:?}",
                server.awaiting()
            ),
            other => panic!("unknown Io {other:?}"),
        }
    }
    // A closed session reads nothing, says nothing and takes no answer.
    server.feed(T0, b"NOOP\r\n");
    server.feed_eof(T0);
    assert_eq!(server.poll_transmit(&mut output), 0, "output after Closed");
    assert_eq!(server.poll_event(), None, "event after Closed");
    assert!(server.accept(T0).is_err());
    ServerRun { events, output }
}

fn reply(code: u16, enhanced: Option<(u16, u16)>, text: &str) -> Reply {
    let code = ReplyCode::new(code).expect("a reply code");
    let enhanced = enhanced.map(|(s, d)| EnhancedCode::new(code.class(), s, d));
    Reply::new(code, enhanced, text)
}

/// The scripted application: answers whatever the server waits for, first trying
/// answers that must be refused without changing anything.
fn answer(server: &mut Server, choices: &mut Choices<'_>) {
    let awaiting = server
        .awaiting()
        .expect("an event that asks for an answer awaits one");
    // Misuse is refused and leaves the machine as it was.
    assert!(server.reply(T0, reply(354, None, "go ahead")).is_err());
    assert!(server.reply(T0, reply(250, None, "two\r\nlines")).is_err());
    let wrong_class = Reply::new(ReplyCode::OK, Some(EnhancedCode::new(5, 1, 1)), "Ok");
    assert!(server.reply(T0, wrong_class).is_err());
    if awaiting != Awaiting::Auth {
        assert!(server.auth_accept(T0).is_err());
        assert!(server.auth_reject(T0).is_err());
    }
    if !matches!(awaiting, Awaiting::MessageEnd { .. }) {
        assert!(server.reply_lmtp(T0, Vec::new()).is_err());
    }
    if matches!(awaiting, Awaiting::Auth | Awaiting::Vrfy | Awaiting::Expn) {
        assert!(server.accept(T0).is_err());
    }
    assert_eq!(
        server.awaiting(),
        Some(awaiting),
        "a refused answer changed the state"
    );

    let c = choices.byte();
    let result = match awaiting {
        Awaiting::Mail | Awaiting::Rcpt => match c % 8 {
            0 => server.reply(T0, reply(550, Some((1, 1)), "Refused")),
            1 => server.reply(T0, reply(451, Some((3, 0)), "Try later")),
            2 if c & 0x80 != 0 => server.reply(T0, reply(421, Some((3, 2)), "Going down")),
            3 => server.reply(
                T0,
                Reply {
                    code: ReplyCode::OK,
                    enhanced: None,
                    lines: vec![String::from("Ok"), String::from("and more")],
                },
            ),
            _ => server.accept(T0),
        },
        Awaiting::MessageEnd { replies } if c.is_multiple_of(4) => {
            let replies = (0..replies)
                .map(|_| match choices.byte() % 3 {
                    0 => reply(550, Some((2, 2)), "Mailbox full"),
                    _ => reply(250, Some((0, 0)), "Delivered"),
                })
                .collect();
            server.reply_lmtp(T0, replies)
        }
        Awaiting::MessageEnd { .. } => {
            let mut result = Ok(());
            while let Some(Awaiting::MessageEnd { .. }) = server.awaiting() {
                let c = choices.byte();
                result = match c % 6 {
                    0 => server.reply(T0, reply(554, Some((6, 0)), "Content refused")),
                    1 => server.reply(T0, reply(452, None, "No room")),
                    2 if c & 0x80 != 0 => server.reply(T0, reply(421, None, "Going down")),
                    _ => server.accept(T0),
                };
                if result.is_err() {
                    break;
                }
            }
            result
        }
        Awaiting::Auth => match c % 4 {
            0 => server.auth_reject(T0),
            1 => server.auth_reject_with_challenge(
                T0,
                xoauth2_error_challenge("401", "Bearer", "https://mail.example.org/"),
            ),
            2 => server.reply(T0, reply(454, Some((7, 0)), "Temporary failure")),
            _ => server.auth_accept(T0),
        },
        Awaiting::Vrfy | Awaiting::Expn => match c % 3 {
            0 => server.reply(T0, reply(550, Some((1, 1)), "No such user")),
            1 => server.reply(
                T0,
                Reply {
                    code: ReplyCode::OK,
                    enhanced: None,
                    lines: vec![
                        String::from("<a@example.org>"),
                        String::from("<b@example.org>"),
                    ],
                },
            ),
            _ => server.reply(T0, reply(252, Some((5, 0)), "Cannot VRFY")),
        },
        _ => server.accept(T0),
    };
    if let Err(e) = result {
        panic!("answer to {awaiting:?} refused: {e}");
    }
}

/// The replies are whole lines of printable ASCII ending in CRLF that a client parses:
/// codes consistent within a reply, lines of at most 512 octets (RFC 5321 §4.5.3.1.5),
/// no reply left unfinished.
pub fn check_replies(output: &[u8]) {
    assert!(
        output.is_empty() || output.ends_with(b"\r\n"),
        "output ends inside a line"
    );
    assert!(crate::crlf_clean(output), "bare CR or LF in the replies");
    let mut parser = ReplyParser::default();
    for line in output.split_inclusive(|&b| b == b'\n') {
        let line = &line[..line.len() - 2];
        assert!(
            line.iter().all(|&b| (0x20..0x7f).contains(&b)),
            "unprintable reply text {:?}",
            String::from_utf8_lossy(line)
        );
        if let Err(e) = parser.feed_line(line) {
            panic!("bad reply line {:?}: {e}", String::from_utf8_lossy(line));
        }
    }
    assert!(!parser.is_partial(), "unfinished multi-line reply");
}

/// The events are well nested: one `Closed`, last; body chunks only between `DataStart`
/// and `MessageEnd` (whose size is their total) or `MessageAborted`; no empty chunk.
pub fn check_events(events: &[Event]) {
    let closed = events
        .iter()
        .filter(|e| matches!(e, Event::Closed { .. }))
        .count();
    assert_eq!(closed, 1, "Closed once");
    assert!(matches!(events.last(), Some(Event::Closed { .. })));
    let mut body: Option<u64> = None;
    for e in events {
        match e {
            Event::DataStart { .. } => {
                assert!(body.is_none(), "DataStart inside a body");
                body = Some(0);
            }
            Event::BodyChunk(chunk) => {
                assert!(!chunk.is_empty(), "empty BodyChunk");
                let size = body.as_mut().expect("BodyChunk outside a body");
                *size += chunk.len() as u64;
            }
            Event::MessageEnd { size } => {
                assert_eq!(body.take(), Some(*size), "MessageEnd size");
            }
            Event::MessageAborted { .. } => {
                assert!(body.take().is_some(), "MessageAborted outside a body");
            }
            _ => {}
        }
    }
    assert!(body.is_none(), "a body neither ended nor aborted");
}

/// The events with adjacent body chunks merged (their cut depends on the reads).
pub fn merged(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    for event in events {
        match (out.last_mut(), event) {
            (Some(Event::BodyChunk(prev)), Event::BodyChunk(more)) => prev.extend(more),
            (_, event) => out.push(event),
        }
    }
    out
}

/// A client configuration from one byte.
pub fn client_config(a: u8) -> ClientConfig {
    let host = Host::Domain(Domain::new("client.example.net").expect("a domain"));
    let mut c = ClientConfig::new(host);
    let on = |bit: u8| a & (1 << bit) != 0;
    c.lmtp = on(0);
    c.body_line_ending = POLICIES[usize::from(a >> 1) % POLICIES.len()];
    c.tls_active = on(3);
    c.max_chunks_in_flight = if on(4) { 1 } else { 16 };
    c.max_recipients = if on(5) { 2 } else { 100 };
    c.max_auth_rounds = if on(6) { 1 } else { 8 };
    c
}

/// Bodies the client application sends: empty, mail-shaped with dots and bare line
/// endings, a long one.
const BODIES: [&[u8]; 4] = [
    b"",
    b"Subject: x\r\n\r\n.dot\r\nbare\nline\rend",
    b"..\r\n.\r\n\r\n.\r",
    &[b'a'; 700],
];

/// The client application: what it does next is read from the input.
struct ClientApp<'c> {
    choices: Choices<'c>,
    actions: usize,
    /// The body being sent and how far.
    body: Option<(&'static [u8], usize)>,
}

impl ClientApp<'_> {
    fn on_event(&mut self, client: &mut Client, event: &ClientEvent) {
        match event {
            ClientEvent::Greeting(r) if r.code.class() == 2 => drop(client.ehlo(T0)),
            ClientEvent::Greeting(_) => drop(client.quit(T0)),
            ClientEvent::TlsReady => drop(client.ehlo(T0)),
            ClientEvent::ReadyForBody => self.send_body(client),
            ClientEvent::Ready { .. }
            | ClientEvent::HelloRefused(_)
            | ClientEvent::StartTlsRefused(_)
            | ClientEvent::Authenticated
            | ClientEvent::AuthFailed(_)
            | ClientEvent::TransactionFailed { .. }
            | ClientEvent::MessageAccepted(_)
            | ClientEvent::MessageRejected(_)
            | ClientEvent::LmtpReply { last: true, .. }
            | ClientEvent::Reset(_)
            | ClientEvent::Noop(_)
            | ClientEvent::Verify(_) => self.act(client),
            _ => {}
        }
    }

    /// Issues the next command; QUIT when the chosen one is refused or after a dozen.
    fn act(&mut self, client: &mut Client) {
        self.body = None;
        self.actions += 1;
        let c = self.choices.byte();
        let done = if self.actions > 12 {
            Err(ClientError::Busy)
        } else {
            match c % 8 {
                0 | 1 => self.envelope(client, c),
                2 => {
                    let mechanism = [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
                        [usize::from(c >> 3) % 3]
                        .clone();
                    let credentials = ClientCredentials::password("user", "pass word");
                    match ClientAuth::new(mechanism, credentials) {
                        Ok(auth) if c & 0x80 != 0 => {
                            client.auth_forced(T0, auth).map_err(Misuse::into_kind)
                        }
                        Ok(auth) => client.auth(T0, auth).map_err(Misuse::into_kind),
                        Err(_) => Err(ClientError::Busy),
                    }
                }
                3 => client.starttls(T0).map_err(Misuse::into_kind),
                4 => client.noop(T0).map_err(Misuse::into_kind),
                5 => client.rset(T0).map_err(Misuse::into_kind),
                6 => client
                    .vrfy(T0, String::from("postmaster"))
                    .map_err(Misuse::into_kind),
                _ => Err(ClientError::Busy),
            }
        };
        if done.is_err() {
            let _ = client.quit(T0);
        }
    }

    fn envelope(&mut self, client: &mut Client, c: u8) -> Result<(), ClientError> {
        let mailbox = |local: &str| Mailbox {
            local_part: local.into(),
            domain: Host::Domain(Domain::new("example.org").expect("a domain")),
        };
        let from = if c & 0x10 != 0 {
            ReversePath::Null
        } else {
            ReversePath::Mailbox(mailbox("sender"))
        };
        let mut params = MailParams::default();
        if c & 0x20 != 0 {
            params.size = Some(100);
        }
        if c & 0x40 != 0 {
            params.body = Some(Body::EightBitMime);
        }
        let rcpts = (0..self.choices.below(4))
            .map(|i| {
                let to = match i {
                    2 => ForwardPath::Postmaster,
                    _ => ForwardPath::Mailbox(mailbox(["a", "b b"][i % 2])),
                };
                (to, RcptParams::default())
            })
            .collect();
        let mode = if c % 8 == 1 {
            BodyMode::Bdat
        } else {
            BodyMode::Data
        };
        let body = BODIES[self.choices.below(BODIES.len())];
        client
            .send_envelope(T0, from, params, rcpts, mode)
            .map_err(Misuse::into_kind)?;
        self.body = Some((body, 0));
        Ok(())
    }

    /// Sends body pieces while the client takes them (BDAT may have to wait for the next
    /// `ReadyForBody`), then ends the body with `send_last_body` or `finish_body`.
    fn send_body(&mut self, client: &mut Client) {
        let ClientApp { choices, body, .. } = self;
        let Some((bytes, pos)) = body.as_mut() else {
            return;
        };
        while client.body_writable() {
            let (result, ended) = if *pos == bytes.len() {
                let r = match choices.byte() % 2 {
                    0 => client.finish_body(T0),
                    _ => client.send_last_body(T0, b""),
                };
                (r, true)
            } else {
                let end = (*pos + 1 + choices.below(300)).min(bytes.len());
                let piece = &bytes[*pos..end];
                let last = end == bytes.len() && choices.byte() % 2 == 0;
                let r = if last {
                    client.send_last_body(T0, piece)
                } else {
                    client.send_body(T0, piece)
                };
                if r.is_ok() {
                    *pos = end;
                }
                (r, last)
            };
            match result.map_err(Misuse::into_kind) {
                Ok(()) if !ended => {}
                Err(ClientError::Body(_)) => {
                    // A bare line ending under `Reject`: the piece was refused and
                    // nothing changed; end the message with what went out (a SMTP client
                    // cannot abort a body short of closing the connection), completing a
                    // CR that ended the last piece sent.
                    if client.finish_body(T0).is_err() {
                        let _ = client.send_last_body(T0, b"\n");
                    }
                    *body = None;
                    return;
                }
                // Ended, or the transaction failed (its event is on the way).
                _ => {
                    *body = None;
                    return;
                }
            }
        }
    }
}

/// Runs a client against `wire` as the server's bytes, fed in chunks of `sizes` while it
/// wants input and ended by end of stream; a scripted application issues commands.
/// Panics if the client stalls, if a refused call changes its output, if it sends a bare
/// CR or LF although its policy normalises or refuses them, or if events do not end with
/// one `Closed`. Returns the events.
pub fn run_client(
    config: ClientConfig,
    wire: &[u8],
    sizes: &[usize],
    choices: &[u8],
    timing: &[u8],
) -> Vec<ClientEvent> {
    let mut clock = crate::Clock::new(timing);
    let clean = config.body_line_ending != BareLineEnding::Keep;
    let mut client = Client::new(T0, config);
    let mut app = ClientApp {
        choices: Choices::new(choices),
        actions: 0,
        body: None,
    };
    let mut input = chunks(wire, sizes);
    let mut events = Vec::new();
    let mut output = Vec::new();
    loop {
        crate::take(&mut client, clock.now, &mut output);
        let mut handled = false;
        while let Some(event) = client.poll_event() {
            app.on_event(&mut client, &event);
            events.push(event);
            handled = true;
        }
        if handled {
            continue;
        }
        match client.io() {
            Io::Closed => break,
            Io::AwaitingTls => client.tls_established(clock.now),
            // Between commands the client still reads, untimed: the application acts.
            Io::Open { wants_read: true } if client.poll_timeout().is_some() => {
                match input.next() {
                    Some(chunk) => {
                        clock.tick(&mut client);
                        if client.io() == (Io::Open { wants_read: true }) {
                            client.feed(clock.now, chunk);
                        }
                    }
                    None => client.feed_eof(clock.now),
                }
            }
            Io::Open { .. } => {
                // Idle: no reply awaited. Unless a body is open, body calls are refused
                // and write nothing.
                if !client.body_writable() {
                    assert!(client.send_body(T0, b"x").is_err());
                    assert!(client.finish_body(T0).is_err());
                    assert_eq!(client.poll_transmit(&mut output), 0, "a refused call wrote");
                }
                app.act(&mut client);
                crate::take(&mut client, clock.now, &mut output);
                if client.poll_timeout().is_none() && client.io() != Io::Closed {
                    let quit = client.quit(T0);
                    assert!(
                        client.poll_timeout().is_some() || client.io() == Io::Closed,
                        "stalled: idle, QUIT gives {quit:?}, after {events:?}"
                    );
                }
            }
            other => panic!("unknown Io {other:?}"),
        }
    }
    let closed = events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Closed { .. }))
        .count();
    assert_eq!(closed, 1, "Closed once");
    assert!(matches!(events.last(), Some(ClientEvent::Closed { .. })));
    // Commands end with CRLF; bodies are normalised or refused unless the policy keeps
    // bare line endings.
    assert!(!clean || crate::crlf_clean(&output), "bare CR or LF sent");
    client.feed(T0, b"250 OK\r\n");
    assert_eq!(client.poll_event(), None, "event after Closed");
    assert!(client.noop(T0).is_err());
    assert_eq!(client.poll_transmit(&mut output), 0, "output after Closed");
    assert!(matches!(
        events.last(),
        Some(ClientEvent::Closed {
            reason: client::CloseReason::Quit(_)
                | client::CloseReason::PeerClosed
                | client::CloseReason::ServiceNotAvailable(_)
                | client::CloseReason::Protocol(_)
                | client::CloseReason::Timeout(_)
        })
    ));
    events
}
