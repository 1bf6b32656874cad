//! Driving the POP3 machines as an adapter does, with scripted applications whose
//! decisions come from the fuzz input, and the checks shared by the POP3 targets.

use mailproto_core::line::BareLineEnding;
use mailproto_core::pop3::client::{Client, ClientConfig, CommandKind, Event as ClientEvent};
use mailproto_core::pop3::server::{
    Awaiting, CloseReason, Event, Maildrop, MessageInfo, Server, ServerConfig,
};
use mailproto_core::pop3::{Limits, ResponseCode, Secret, Status, UniqueId};
use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::{Instant, Io, Machine, Misuse};

const T0: Instant = Instant::ZERO;

use crate::{Choices, POLICIES, chunks};

/// A server configuration from two bytes: each bit turns on a feature or a limit. STLS
/// only when `stls` allows it (a TLS switch drops plaintext in flight, so it depends on
/// how the input was split).
pub fn server_config(a: u8, b: u8, stls: bool) -> ServerConfig {
    let on = |byte: u8, bit: u8| byte & (1 << bit) != 0;
    let mut c = ServerConfig::default()
        .with_pipelining(on(a, 0))
        .with_stls_offered(stls && on(a, 1))
        .with_plaintext_login(on(a, 2))
        .with_utf8(on(a, 4))
        .with_tls_active(on(b, 0));
    if on(a, 3) {
        c = c.with_apop_timestamp("<1896.697170952@dbc.mtview.ca.us>");
    }
    if on(a, 5) {
        c = c.with_sasl_mechanisms([
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::XOAuth2,
            Mechanism::OAuthBearer,
        ]);
    }
    if on(a, 6) {
        c = c.with_max_errors(3);
    }
    if on(a, 7) {
        c = c.with_bare_line_ending(BareLineEnding::Normalize);
    }
    if on(b, 1) {
        c = c.with_max_auth_failures(1);
    }
    if on(b, 2) {
        c = c.with_limits(Limits::STRICT);
    }
    if on(b, 3) {
        c = c.with_implementation("mailproto fuzz").with_login_delay(60);
    }
    if on(b, 4) {
        c = c.with_max_errors(0).with_max_auth_failures(0);
    }
    c
}

/// Messages the server application stores: mail-shaped, with leading dots, an embedded
/// terminator, bare line endings, no final line break; one empty.
const STORED: [&[u8]; 5] = [
    b"Subject: one\r\n\r\nbody\r\n",
    b"Subject: dots\r\n\r\n.leading\r\n..two\r\n.\r\nafter\r\n",
    b"",
    b"From: x\nSubject: bare\n\nline one\nline two\rline three",
    b"no header at all\r\n\r\n\r\n.\r\n\r\ntail",
];

fn maildrop(choices: &mut Choices<'_>) -> Maildrop {
    let count = choices.below(STORED.len() + 1);
    Maildrop::new(
        (0..count)
            .map(|i| {
                let uid = UniqueId::new(format!("uid-{i}")).expect("a unique-id");
                MessageInfo::new(STORED[i].len() as u64, uid)
            })
            .collect(),
    )
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
/// input and ended by end of stream; a scripted application answers every question at
/// once. Panics if the machine stalls, acts after it closed, or if a refused answer
/// changes what it waits for.
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
                Event::Login { .. }
                    | Event::Apop { .. }
                    | Event::Auth { .. }
                    | Event::Retrieve { .. }
                    | Event::Update { .. }
            ) {
                answer(&mut server, &event, &mut choices);
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
    server.feed(T0, b"NOOP\r\n");
    server.feed_eof(T0);
    assert_eq!(server.poll_transmit(&mut output), 0, "output after Closed");
    assert_eq!(server.poll_event(), None, "event after Closed");
    assert_eq!(server.awaiting(), Awaiting::Closed);
    ServerRun { events, output }
}

/// The scripted application: answers what the server waits for, first trying answers
/// that must be refused without changing anything.
fn answer(server: &mut Server, event: &Event, choices: &mut Choices<'_>) {
    let awaiting = server.awaiting();
    if awaiting != Awaiting::Update {
        assert!(server.update_done(T0).is_err());
    }
    if awaiting != Awaiting::Login {
        assert!(server.login_failed(T0).is_err());
    }
    if awaiting != Awaiting::MessageStart {
        assert!(server.message_start(T0).is_err());
    }
    if awaiting != Awaiting::MessageData {
        assert!(server.message_end(T0).is_err());
    }
    // A positive status where a -ERR is due is refused.
    assert!(server.login_error(T0, Status::ok("fine")).is_err());
    assert!(server.message_unavailable(T0, Status::ok("fine")).is_err());
    assert_eq!(
        server.awaiting(),
        awaiting,
        "a refused answer changed the state"
    );

    assert!(
        matches!(
            (event, awaiting),
            (Event::Retrieve { .. }, Awaiting::MessageStart)
                | (Event::Update { .. }, Awaiting::Update)
                | (_, Awaiting::Login)
        ),
        "{event:?} while awaiting {awaiting:?}"
    );
    let c = choices.byte();
    match (event, awaiting) {
        (_, Awaiting::Login) => match c % 5 {
            0 => server.login_failed(T0).expect("login_failed refused"),
            1 => server.login_in_use(T0).expect("login_in_use refused"),
            2 => server
                .login_error(
                    T0,
                    Status::err("try later").with_code(ResponseCode::SysTemp),
                )
                .expect("login_error refused"),
            _ => server
                .login_ok(T0, maildrop(choices))
                .expect("login_ok refused"),
        },
        (Event::Retrieve { msg, .. }, Awaiting::MessageStart) => match c % 6 {
            0 => server
                .message_unavailable(T0, Status::err("gone").with_code(ResponseCode::SysPerm))
                .expect("message_unavailable refused"),
            1 if c & 0x80 != 0 => server.message_abort(T0).expect("message_abort refused"),
            _ => {
                server.message_start(T0).expect("message_start refused");
                let stored = STORED[(*msg as usize - 1) % STORED.len()];
                let mut rest = stored;
                while !rest.is_empty() {
                    let n = (1 + choices.below(16)).min(rest.len());
                    let (piece, tail) = rest.split_at(n);
                    rest = tail;
                    if !server
                        .message_data(T0, piece)
                        .expect("message_data refused")
                    {
                        break;
                    }
                }
                if c & 0x40 != 0 && c & 0x80 != 0 {
                    server.message_abort(T0).expect("message_abort refused");
                } else {
                    server.message_end(T0).expect("message_end refused");
                }
            }
        },
        (_, Awaiting::Update) => match c % 3 {
            0 => server
                .update_failed(T0, Status::err("some deleted messages not removed"))
                .expect("update_failed refused"),
            _ => server.update_done(T0).expect("update_done refused"),
        },
        _ => {}
    }
}

/// The output is whole CRLF lines: no bare CR or LF (stored bare line endings go out as
/// CRLF), nothing unfinished unless the application aborted a message it had started,
/// status lines of at most 512 octets.
pub fn check_output(run: &ServerRun) {
    let output = &run.output;
    let aborted = matches!(
        run.events.last(),
        Some(Event::Closed {
            reason: CloseReason::Aborted
        })
    );
    assert!(
        aborted || output.is_empty() || output.ends_with(b"\r\n"),
        "output ends inside a line"
    );
    // An aborted message may stop right after the CR of a line break.
    let output = match output.strip_suffix(b"\r") {
        Some(rest) if aborted => rest,
        _ => output,
    };
    assert!(crate::crlf_clean(output), "bare CR or LF in the output");
    // Status lines fit 512 octets (RFC 2449 §4), as a client reads them. (No stored
    // message has a line that looks like one.)
    for line in output.split_inclusive(|&b| b == b'\n') {
        if [&b"+OK"[..], b"-ERR", b"+ "]
            .iter()
            .any(|p| line.starts_with(p))
        {
            assert!(
                line.len() <= 512,
                "{} octet status line {:?}",
                line.len(),
                String::from_utf8_lossy(line)
            );
        }
    }
}

/// One `Closed`, the last event.
pub fn check_events(events: &[Event]) {
    let closed = events
        .iter()
        .filter(|e| matches!(e, Event::Closed { .. }))
        .count();
    assert_eq!(closed, 1, "Closed once");
    assert!(matches!(events.last(), Some(Event::Closed { .. })));
}

/// A client configuration from one byte.
pub fn client_config(a: u8) -> ClientConfig {
    let mut c = ClientConfig::default();
    c.body_line_endings = POLICIES[usize::from(a) % POLICIES.len()];
    c.tls_active = a & 4 != 0;
    c.pipeline_window = if a & 8 != 0 { 16 } else { 4096 };
    c.max_pending = if a & 16 != 0 { 3 } else { 4096 };
    c.max_listing_lines = if a & 32 != 0 { 2 } else { 1000 };
    c.max_auth_rounds = if a & 64 != 0 { 1 } else { 16 };
    if a & 128 != 0 {
        c.limits = Limits::STRICT;
    }
    c
}

/// Issues one command chosen by `c`; returns whether the client took it.
fn issue(client: &mut Client, c: u8) -> bool {
    let n = u32::from(c >> 4);
    let result = match c % 16 {
        0 => client.capa(T0),
        1 => client.user(T0, "alice"),
        2 => client.pass(T0, &Secret::from("open sesame")),
        3 => client.apop(T0, "alice", &Secret::from("open sesame")),
        4 => match ClientAuth::new(
            [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5][usize::from(c >> 4) % 3]
                .clone(),
            ClientCredentials::password("alice", "open sesame"),
        ) {
            Ok(auth) => client
                .auth(T0, auth)
                .map_err(|e| Misuse::new("auth", e.into_kind(), ())),
            Err(_) => return false,
        },
        5 => client.stat(T0),
        6 => client.list(T0, (n > 0).then_some(n)),
        7 => client.uidl(T0, (n > 0).then_some(n)),
        8 => client.retr(T0, n),
        9 => client.top(T0, n, n % 3),
        10 => client.dele(T0, n),
        11 => client.rset(T0),
        12 => client.noop(T0),
        13 => client.stls(T0),
        14 if n % 2 == 0 => client.utf8(T0),
        14 => client.auth_list(T0),
        _ => client.quit(T0),
    };
    result.is_ok()
}

/// Runs a client against `wire` as the server's bytes, fed in chunks of `sizes` while it
/// wants input and ended by end of stream; a scripted application issues batches of
/// commands. Panics if the client stalls, if a refused command writes anything, or if the
/// events are out of order. Returns the events.
pub fn run_client(
    config: ClientConfig,
    wire: &[u8],
    sizes: &[usize],
    choices: &[u8],
    timing: &[u8],
) -> Vec<ClientEvent> {
    let mut clock = crate::Clock::new(timing);
    let mut client = Client::new(T0, config);
    let mut choices = Choices::new(choices);
    let mut input = chunks(wire, sizes);
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut batches = 0;
    loop {
        crate::take(&mut client, clock.now, &mut output);
        let mut handled = false;
        while let Some(event) = client.poll_event() {
            if matches!(event, ClientEvent::TlsReady) {
                let _ = client.capa(T0);
            }
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
                // Idle: a batch of commands, or QUIT after a few batches.
                batches += 1;
                let count = if batches > 4 { 0 } else { 1 + choices.below(6) };
                for _ in 0..count {
                    crate::take(&mut client, clock.now, &mut output);
                    let flushed = output.len();
                    if !issue(&mut client, choices.byte()) {
                        // A refused command writes nothing.
                        crate::take(&mut client, clock.now, &mut output);
                        assert_eq!(output.len(), flushed, "a refused command wrote");
                    }
                }
                if client.poll_timeout().is_none() && client.io() != Io::Closed {
                    // Still nothing awaited: QUIT must be taken, or the client stalls.
                    let quit = client.quit(T0);
                    assert!(
                        client.poll_timeout().is_some() || client.io() == Io::Closed,
                        "stalled: idle and QUIT gives {quit:?}"
                    );
                }
            }
            other => panic!("unknown Io {other:?}"),
        }
    }
    check_client_events(&events);
    client.feed(T0, b"+OK\r\n");
    assert_eq!(client.poll_event(), None, "event after Closed");
    assert!(client.noop(T0).is_err());
    assert_eq!(client.poll_transmit(&mut output), 0, "output after Closed");
    events
}

/// One `Closed`, last; message data only between `MessageStart` and its end.
fn check_client_events(events: &[ClientEvent]) {
    let closed = events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Closed { .. }))
        .count();
    assert_eq!(closed, 1, "Closed once");
    assert!(matches!(events.last(), Some(ClientEvent::Closed { .. })));
    let mut in_message = false;
    for e in events {
        match e {
            ClientEvent::MessageStart { .. } => {
                assert!(!in_message, "MessageStart inside a message");
                in_message = true;
            }
            ClientEvent::MessageData(data) => {
                assert!(in_message, "MessageData outside a message");
                assert!(!data.is_empty(), "empty MessageData");
            }
            ClientEvent::MessageEnd => {
                assert!(in_message, "MessageEnd outside a message");
                in_message = false;
            }
            ClientEvent::Malformed {
                command: CommandKind::Retr(_) | CommandKind::Top { .. },
                ..
            } => in_message = false,
            ClientEvent::Closed { .. } => {}
            other => assert!(!in_message, "{other:?} inside a message"),
        }
    }
}
