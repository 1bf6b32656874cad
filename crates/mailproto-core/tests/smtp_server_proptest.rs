//! Property tests of the SMTP server machine: split independence, one reply per
//! command, no panic on any input.

mod support;

use mailproto_core::Machine;
use mailproto_core::line::BareLineEnding;
use mailproto_core::sasl::Mechanism;
use mailproto_core::smtp::server::{Event, ServerConfig};
use mailproto_core::smtp::{Reply, ReplyCode};
use proptest::prelude::*;
use support::*;

/// One step of a client session.
#[derive(Debug, Clone)]
enum Item {
    Hello,
    Helo,
    Mail {
        local: &'static str,
        size: Option<u64>,
    },
    Rcpt(&'static str),
    Data(Vec<u8>),
    Bdat {
        chunk: Vec<u8>,
        last: bool,
    },
    Rset,
    Noop,
    Vrfy,
    Help,
    Auth(&'static str),
    Garbage(Vec<u8>),
    Long(usize),
    BareLf,
    Quit,
    /// MAIL, RCPTs and a body, as a client would send them.
    Transaction {
        from: &'static str,
        to: Vec<&'static str>,
        body: Body,
    },
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Data(Vec<u8>),
    Chunks(Vec<Vec<u8>>, bool),
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(proptest::sample::select(&b"ab .\r\n\0M"[..]), 0..80),
        proptest::sample::select(vec![
            b"\n.\n".to_vec(),
            b"\r.\r\n".to_vec(),
            b"\r\n.\r\r\n".to_vec(),
            b"line\r\n..dot\r\n".to_vec(),
            b"x\r\n.\r\nMAIL FROM:<e@x.example>\r\n".to_vec(),
        ]),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    let local = proptest::sample::select(vec!["a", "b", "bad", "bad2", "c"]);
    let item_local = local.clone();
    prop_oneof![
        3 => Just(Item::Hello),
        1 => Just(Item::Helo),
        4 => (item_local.clone(), proptest::option::of(0u64..100)).prop_map(|(local, size)| Item::Mail { local, size }),
        5 => item_local.prop_map(Item::Rcpt),
        3 => body_bytes().prop_map(Item::Data),
        3 => (body_bytes(), any::<bool>()).prop_map(|(chunk, last)| Item::Bdat { chunk, last }),
        1 => Just(Item::Rset),
        1 => Just(Item::Noop),
        1 => Just(Item::Vrfy),
        1 => Just(Item::Help),
        1 => proptest::sample::select(vec![
            "AUTH PLAIN AHRpbQB0YW5zdGFhZg==",
            "AUTH PLAIN =",
            "AUTH LOGIN dGlt",
            "AUTH FOO",
        ]).prop_map(Item::Auth),
        2 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Item::Garbage),
        1 => (500usize..2000).prop_map(Item::Long),
        1 => Just(Item::BareLf),
        1 => Just(Item::Quit),
        8 => (
            local.clone(),
            proptest::collection::vec(local.clone(), 0..4),
            prop_oneof![
                1 => Just(Body::None),
                3 => body_bytes().prop_map(Body::Data),
                3 => (proptest::collection::vec(body_bytes(), 0..4), any::<bool>())
                    .prop_map(|(chunks, last)| Body::Chunks(chunks, last)),
            ],
        )
            .prop_map(|(from, to, body)| Item::Transaction { from, to, body }),
    ]
}

fn encode(items: &[Item], lmtp: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Transaction { from, to, body } => {
                let mut parts = vec![Item::Mail {
                    local: from,
                    size: None,
                }];
                parts.extend(to.iter().map(|t| Item::Rcpt(t)));
                match body {
                    Body::None => {}
                    Body::Data(bytes) => parts.push(Item::Data(bytes.clone())),
                    Body::Chunks(chunks, last) => {
                        for (i, chunk) in chunks.iter().enumerate() {
                            parts.push(Item::Bdat {
                                chunk: chunk.clone(),
                                last: *last && i + 1 == chunks.len(),
                            });
                        }
                    }
                }
                out.extend(encode(&parts, lmtp));
            }
            Item::Hello if lmtp => out.extend_from_slice(b"LHLO client.example\r\n"),
            Item::Hello => out.extend_from_slice(b"EHLO client.example\r\n"),
            Item::Helo => out.extend_from_slice(b"HELO client.example\r\n"),
            Item::Mail { local, size } => {
                out.extend_from_slice(format!("MAIL FROM:<{local}@example.net>").as_bytes());
                if let Some(n) = size {
                    out.extend_from_slice(format!(" SIZE={n}").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
            Item::Rcpt(local) => {
                out.extend_from_slice(format!("RCPT TO:<{local}@example.org>\r\n").as_bytes())
            }
            Item::Data(body) => {
                out.extend_from_slice(b"DATA\r\n");
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n.\r\n");
            }
            Item::Bdat { chunk, last } => {
                let last = if *last { " LAST" } else { "" };
                out.extend_from_slice(format!("BDAT {}{last}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
            }
            Item::Rset => out.extend_from_slice(b"RSET\r\n"),
            Item::Noop => out.extend_from_slice(b"NOOP\r\n"),
            Item::Vrfy => out.extend_from_slice(b"VRFY someone\r\n"),
            Item::Help => out.extend_from_slice(b"HELP\r\n"),
            Item::Auth(line) => {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Item::Garbage(bytes) => {
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Item::Long(n) => {
                out.extend(std::iter::repeat_n(b'x', *n));
                out.extend_from_slice(b"\r\n");
            }
            Item::BareLf => out.extend_from_slice(b"NOOP\n"),
            Item::Quit => out.extend_from_slice(b"QUIT\r\n"),
        }
    }
    out
}

fn config(policy: BareLineEnding, lmtp: bool, small: bool) -> ServerConfig {
    let mut c = if lmtp {
        ServerConfig::lmtp("mx.example.org")
    } else {
        ServerConfig::new("mx.example.org")
    };
    c.bare_line_ending = policy;
    c.tls_active = true;
    c.extensions.auth = vec![Mechanism::Plain, Mechanism::Login];
    c.vrfy_expn_events = true;
    if small {
        c.limits.max_message_size = 40;
        c.limits.max_recipients = 2;
        c.limits.max_errors = 6;
    } else {
        c.limits.max_errors = 40;
    }
    c
}

fn policies() -> impl Strategy<Value = BareLineEnding> {
    prop_oneof![
        Just(BareLineEnding::Reject),
        Just(BareLineEnding::Normalize)
    ]
}

/// Events (adjacent chunks merged) and all output of one session fed in the given pieces.
fn run(config: &ServerConfig, input: &[u8], splits: &[usize]) -> (Vec<Event>, Vec<u8>) {
    let mut s = Session::new(config.clone(), picky());
    let mut out = s.transmit();
    out.extend(s.feed_split(input, splits));
    s.server.feed_eof(T0);
    s.drain();
    out.extend(s.transmit());
    (merged(&s.events), out)
}

/// Whether `line` is a well-formed reply line (RFC 5321 §4.2).
fn is_reply_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 3
        && (b'2'..=b'5').contains(&b[0])
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && (b.len() == 3 || b[3] == b' ' || b[3] == b'-')
        && b.iter().all(|c| (0x20..0x7f).contains(c))
}

proptest! {
    // 512 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512),
        ..ProptestConfig::default()
    })]

    /// The same client bytes cut at any points give the same events (adjacent body
    /// chunks merged) and the same output.
    #[test]
    fn split_independent(
        items in proptest::collection::vec(item(), 0..25),
        splits in proptest::collection::vec(1usize..12, 1..8),
        policy in policies(),
        lmtp in any::<bool>(),
        small in any::<bool>(),
    ) {
        let config = config(policy, lmtp, small);
        let input = encode(&items, lmtp);
        let (events, out) = run(&config, &input, &[]);
        let (split_events, split_out) = run(&config, &input, &splits);
        prop_assert_eq!(&events, &split_events);
        prop_assert_eq!(lines(&out), lines(&split_out));
        let (byte_events, byte_out) = run(&config, &input, &[1]);
        prop_assert_eq!(&events, &byte_events);
        prop_assert_eq!(lines(&out), lines(&byte_out));
        for line in lines(&out) {
            prop_assert!(is_reply_line(&line), "bad reply line {:?}", line);
        }
        // Every body that started ended exactly once.
        let starts = events.iter().filter(|e| matches!(e, Event::DataStart { .. })).count();
        let ends = events
            .iter()
            .filter(|e| matches!(e, Event::MessageEnd { .. } | Event::MessageAborted { .. }))
            .count();
        prop_assert_eq!(starts, ends);
        prop_assert!(matches!(events.last(), Some(Event::Closed { .. })), "not closed");
    }

    /// Random command lines (no DATA, BDAT, challenge-starting AUTH, STARTTLS or QUIT,
    /// which change how lines relate to replies) get exactly one reply each.
    #[test]
    fn one_reply_per_command(
        items in proptest::collection::vec(item(), 0..40),
        policy in policies(),
    ) {
        let items: Vec<Item> = items
            .into_iter()
            .filter(|i| match i {
                Item::Data(_) | Item::Bdat { .. } | Item::Quit => false,
                Item::Transaction { .. } => false,
                // A LOGIN exchange reads the next line as the password.
                Item::Auth(line) => !line.starts_with("AUTH LOGIN"),
                Item::Garbage(bytes) => {
                    let verb: Vec<u8> = bytes
                        .split(|b| *b == b' ')
                        .next()
                        .unwrap_or(&[])
                        .to_ascii_uppercase();
                    !bytes.contains(&b'\r')
                        && !bytes.contains(&b'\n')
                        && !matches!(
                            verb.as_slice(),
                            b"DATA" | b"BDAT" | b"AUTH" | b"STARTTLS" | b"QUIT"
                        )
                }
                _ => true,
            })
            .collect();
        let mut config = config(policy, false, false);
        config.limits.max_errors = 0;
        config.limits.max_auth_failures = 0;
        let mut input = encode(&items, false);
        input.extend_from_slice(b"QUIT\r\n");
        let (events, out) = run(&config, &input, &[7]);
        let replies = lines(&out)
            .iter()
            .filter(|l| l.len() == 3 || l.as_bytes()[3] == b' ')
            .count();
        // Greeting + one per item + QUIT.
        prop_assert_eq!(replies, items.len() + 2, "{:?}", lines(&out));
        prop_assert!(matches!(events.last(), Some(Event::Closed { .. })), "not closed");
    }

    /// Arbitrary bytes, cut anywhere, answered at random: no panic, only well-formed
    /// replies.
    #[test]
    fn arbitrary_input_never_panics(
        prefix in proptest::collection::vec(item(), 0..6),
        noise in proptest::collection::vec(any::<u8>(), 0..600),
        splits in proptest::collection::vec(1usize..64, 1..6),
        policy in prop_oneof![
            Just(BareLineEnding::Reject),
            Just(BareLineEnding::Normalize),
            Just(BareLineEnding::Keep),
        ],
        lmtp in any::<bool>(),
        answers in proptest::collection::vec(0u8..4, 1..16),
    ) {
        let mut config = config(policy, lmtp, true);
        config.tls_active = false;
        config.extensions.starttls = true;
        config.auth_requires_tls = false;
        config.cram_md5_challenge = Some("<1.2@example>".into());
        config.extensions.auth.push(Mechanism::CramMd5);
        let mut n = 0usize;
        let app: App = Box::new(move |server, _event| {
            while server.awaiting().is_some() {
                let pick = answers[n % answers.len()];
                n += 1;
                let answered = match pick {
                    0 => server.accept(T0),
                    1 => server.auth_accept(T0),
                    2 => server.reply(T0, Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, None, "no")),
                    _ => server.reply(T0, Reply::new(ReplyCode::LOCAL_ERROR, None, "later")),
                };
                if answered.is_err() {
                    // A misfit answer changes nothing; any reply fits every event.
                    server
                        .reply(T0, Reply::new(ReplyCode::LOCAL_ERROR, None, "later"))
                        .unwrap();
                }
            }
        });
        let mut input = encode(&prefix, lmtp);
        input.extend_from_slice(&noise);
        let mut s = Session::new(config, app);
        let mut out = s.transmit();
        out.extend(s.feed_split(&input, &splits));
        s.server.feed_eof(T0);
        s.drain();
        out.extend(s.transmit());
        for line in lines(&out) {
            prop_assert!(is_reply_line(&line), "bad reply line {:?}", line);
        }
        prop_assert!(matches!(s.events.last(), Some(Event::Closed { .. })), "not closed");
    }
}
