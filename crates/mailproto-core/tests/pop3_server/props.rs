//! Property tests: split independence, and one response per command whatever the
//! command sequence.

use proptest::prelude::*;

use super::harness::{Model, config};
use mailproto_core::dot::{BareLineEnding, DotDecoder};
use mailproto_core::pop3::server::{Event, Server, ServerConfig};
use mailproto_core::pop3::{Command, Limits};
use mailproto_core::sasl::Mechanism;
use mailproto_core::{Io, Machine};

const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

/// Stored messages with the awkward cases: leading dots, a body terminator, bare LF and
/// bare CR, no final line break, no body.
const MESSAGES: [&[u8]; 4] = [
    b"Subject: a\r\n\r\n.one\r\n.\r\ntwo\r\n",
    b"Subject: b\n\nbare\nlf\rcr\n..\n",
    b"Subject: c\r\nX: y\r\n\r\nno final break",
    b"",
];

fn model() -> Model {
    Model::new(&MESSAGES)
}

fn server_config(stls: bool) -> ServerConfig {
    config()
        .with_stls_offered(stls)
        .with_pipelining(true)
        .with_max_errors(12)
        .with_max_auth_failures(4)
        .with_sasl_mechanisms([Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5])
}

/// A command line (without CRLF): mostly valid commands, some SASL lines, some junk.
fn command_line(stls: bool) -> BoxedStrategy<String> {
    let fixed = prop::sample::select(vec![
        "USER mrose",
        "PASS tanstaaf",
        "PASS wrong",
        "USER tim",
        "PASS tanstaaftanstaaf",
        "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
        "APOP mrose 0123456789abcdef0123456789abcdef",
        "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
        "AUTH PLAIN",
        "AUTH LOGIN",
        "AUTH CRAM-MD5",
        "AUTH PLAIN =",
        "AUTH",
        "AHRpbQB0YW5zdGFhZg==",
        "dGlt",
        "*",
        "CAPA",
        "STAT",
        "LIST",
        "UIDL",
        "NOOP",
        "RSET",
        "QUIT",
        "UTF8",
        "LANG",
        "",
        "  ",
    ]);
    let numbered = (
        prop::sample::select(vec!["LIST", "UIDL", "RETR", "DELE"]),
        0u32..6,
    )
        .prop_map(|(c, n)| format!("{c} {n}"));
    let top = (0u32..6, 0u32..4).prop_map(|(m, n)| format!("TOP {m} {n}"));
    let junk = "[ -~]{0,12}";
    let mut options: Vec<(u32, BoxedStrategy<String>)> = vec![
        (10, fixed.prop_map(String::from).boxed()),
        (6, numbered.boxed()),
        (3, top.boxed()),
        (2, junk.prop_map(String::from).boxed()),
    ];
    if stls {
        options.push((1, Just(String::from("STLS")).boxed()));
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

/// Run `script` through a server, fed in chunks of `splits` (cycled; empty = whole),
/// answering every event at once with messages read in chunks of `message_chunk`.
/// Returns the wire bytes and every event.
fn run(script: &[u8], splits: &[usize], message_chunk: usize) -> (Vec<u8>, Vec<Event>) {
    let mut server = Server::new(T0, server_config(false));
    let mut app = model();
    app.chunk = message_chunk;
    let mut wire = Vec::new();
    let mut events = Vec::new();
    let mut pump = |server: &mut Server, wire: &mut Vec<u8>, events: &mut Vec<Event>| loop {
        let mut progress = false;
        while server.poll_transmit(wire) > 0 {
            progress = true;
        }
        if let Some(event) = server.poll_event() {
            progress = true;
            events.push(event.clone());
            app.answer(server, event);
        }
        if !progress {
            break;
        }
    };
    pump(&mut server, &mut wire, &mut events);
    let mut rest = script;
    let mut sizes = splits.iter().copied().cycle();
    while !rest.is_empty() {
        if server.io() != (Io::Open { wants_read: true }) {
            break;
        }
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        server.feed(T0, &rest[..n]);
        rest = &rest[n..];
        pump(&mut server, &mut wire, &mut events);
    }
    if server.io() == (Io::Open { wants_read: true }) {
        server.feed_eof(T0);
        pump(&mut server, &mut wire, &mut events);
    }
    (wire, events)
}

/// Client-side view: does `line` (sent as a command, not a SASL response) get a
/// multi-line answer when the status is `+OK`?
fn multi_line(line: &str) -> bool {
    matches!(
        Command::parse(line.as_bytes(), &Limits::default()),
        Ok(Command::Capa
            | Command::List(None)
            | Command::Uidl(None)
            | Command::Retr(_)
            | Command::Top { .. }
            | Command::AuthList)
    )
}

/// Read one response for `line` from the front of `out`; returns its length, and
/// whether it was a SASL continuation.
fn one_response(out: &[u8], line: &str, in_sasl: bool) -> Result<(usize, bool), String> {
    let end = out
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| format!("no complete status line for {line:?}: {out:?}"))?;
    let first = &out[..end];
    let after = end + 2;
    if first.starts_with(b"+ ") || first == b"+" {
        return Ok((after, true));
    }
    if first.starts_with(b"-ERR") {
        return Ok((after, false));
    }
    if !first.starts_with(b"+OK") {
        return Err(format!("not a status line for {line:?}: {first:?}"));
    }
    if in_sasl || !multi_line(line) {
        return Ok((after, false));
    }
    let mut decoder = DotDecoder::new(BareLineEnding::Reject);
    let mut body = Vec::new();
    let d = decoder.decode(&out[after..], &mut body);
    if !d.done {
        return Err(format!("unterminated multi-line answer to {line:?}"));
    }
    if decoder.violation().is_some() {
        return Err(format!("bare CR/LF in the answer to {line:?}"));
    }
    Ok((after + d.consumed, false))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The same client bytes, split anywhere (and the stored messages handed over in
    /// chunks of any size), give the same events and the same output bytes.
    #[test]
    fn split_independent(
        login in any::<bool>(),
        lines in prop::collection::vec(command_line(false), 0..25),
        bare in prop::collection::vec((0usize..25, prop::sample::select(vec!["\n", "\r", "\r\r\n"])), 0..3),
        splits in prop::collection::vec(1usize..12, 1..8),
        chunk_a in 1usize..64,
        chunk_b in 1usize..64,
    ) {
        let mut script = Vec::new();
        if login {
            script.extend_from_slice(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
        }
        for (i, line) in lines.iter().enumerate() {
            script.extend_from_slice(line.as_bytes());
            match bare.iter().find(|(at, _)| *at == i) {
                Some((_, ending)) => script.extend_from_slice(ending.as_bytes()),
                None => script.extend_from_slice(b"\r\n"),
            }
        }
        let whole = run(&script, &[], chunk_a);
        let split = run(&script, &splits, chunk_b);
        prop_assert_eq!(&whole.1, &split.1);
        prop_assert_eq!(whole.0, split.0);
    }

    /// Sent one at a time, every command line gets exactly one well-formed response
    /// until the session closes, and nothing after; nothing panics.
    #[test]
    fn one_response_per_command(
        login in any::<bool>(),
        lines in prop::collection::vec(command_line(true), 0..40),
    ) {
        let login_line = String::from("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
        let lines: Vec<String> = login.then_some(login_line).into_iter().chain(lines).collect();
        let mut server = Server::new(T0, server_config(true));
        let mut app = model();
        let mut out = Vec::new();
        let _ = server.poll_transmit(&mut out);
        prop_assert!(out.starts_with(b"+OK "));
        let mut in_sasl = false;
        for line in &lines {
            let was_closed = server.io() == Io::Closed;
            server.feed(T0, format!("{line}\r\n").as_bytes());
            let mut out = Vec::new();
            loop {
                let mut progress = false;
                while server.poll_transmit(&mut out) > 0 {
                    progress = true;
                }
                if let Some(event) = server.poll_event() {
                    progress = true;
                    app.answer(&mut server, event);
                }
                if !progress {
                    break;
                }
            }
            if was_closed {
                prop_assert!(out.is_empty());
                continue;
            }
            let (len, sasl) = one_response(&out, line, in_sasl).map_err(TestCaseError::fail)?;
            prop_assert_eq!(len, out.len(), "more than one response to {:?}: {:?}",
                line, String::from_utf8_lossy(&out));
            in_sasl = sasl;
            match server.io() {
                Io::AwaitingTls => server.tls_established(T0),
                Io::Open { wants_read } => prop_assert!(wants_read),
                _ => {}
            }
        }
    }

    /// The same commands pipelined in one write get the same responses, in order.
    #[test]
    fn pipelined_answers_match_one_at_a_time(
        login in any::<bool>(),
        lines in prop::collection::vec(command_line(false), 0..30),
    ) {
        let login_line = String::from("APOP mrose c4c9334bac560ecc979e58001b3e22fb");
        let lines: Vec<String> = login.then_some(login_line).into_iter().chain(lines).collect();
        let mut script = Vec::new();
        for line in &lines {
            script.extend_from_slice(line.as_bytes());
            script.extend_from_slice(b"\r\n");
        }
        let one_at_a_time: Vec<usize> = lines.iter().map(|l| l.len() + 2).collect();
        let (pipelined, _) = run(&script, &[], 7);
        let (stepwise, _) = run(&script, &one_at_a_time, 7);
        prop_assert_eq!(pipelined, stepwise);
    }

    /// Arbitrary bytes, fed in arbitrary pieces, never panic the machine.
    #[test]
    fn arbitrary_input_never_panics(
        input in prop::collection::vec(any::<u8>(), 0..600),
        splits in prop::collection::vec(1usize..40, 1..6),
    ) {
        let _ = run(&input, &splits, 5);
    }
}
