//! SMTP client machine properties: the same server byte stream split at any points gives
//! the same events and the same client bytes; arbitrary server bytes never panic.
//!
//! A scenario is a list of rounds: the server's bytes in answer to what the client wrote
//! before (a server never answers a command it has not received). A scripted application
//! answers the client's events as a real one would.

use mailproto_core::sasl::{ClientAuth, ClientCredentials, Mechanism};
use mailproto_core::smtp::client::{self, BodyMode, Client, ClientConfig, Event};
use mailproto_core::smtp::*;
use mailproto_core::{Io, Machine};
use proptest::prelude::*;

const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

const BODY: &[u8] = b"Subject: t\n\n.dot line\r\nend";
const PIECE: usize = 10;

fn host(name: &str) -> Host {
    Host::Domain(Domain::new(name).unwrap())
}

fn mailbox(l: &str) -> Mailbox {
    Mailbox {
        local_part: l.into(),
        domain: host("example.org"),
    }
}

/// The scripted application: EHLO, STARTTLS when offered, CRAM-MD5 when offered, one
/// message to three recipients (BDAT when CHUNKING is offered), QUIT.
#[derive(Default)]
struct App {
    sent: usize,
    finished: bool,
}

impl App {
    fn react(&mut self, c: &mut Client, ev: &Event) {
        match ev {
            Event::Greeting(r) if r.code.class() == 2 => {
                let _ = c.ehlo(T0);
            }
            Event::TlsReady => {
                let _ = c.ehlo(T0);
            }
            Event::Ready { capabilities, .. } => {
                if capabilities.starttls && !c.is_tls() {
                    let _ = c.starttls(T0);
                } else if capabilities.supports_auth("CRAM-MD5") && !c.is_authenticated() {
                    let creds = ClientCredentials::password("tim", "tanstaaftanstaaf");
                    let _ = c.auth(T0, ClientAuth::new(Mechanism::CramMd5, creds).unwrap());
                } else {
                    self.envelope(c);
                }
            }
            Event::Authenticated | Event::AuthFailed(_) => self.envelope(c),
            Event::ReadyForBody => self.body(c),
            Event::MessageAccepted(_)
            | Event::MessageRejected(_)
            | Event::TransactionFailed { .. }
            | Event::LmtpReply { last: true, .. }
            | Event::StartTlsRefused(_)
            | Event::HelloRefused(_) => {
                let _ = c.quit(T0);
            }
            _ => {}
        }
    }

    fn envelope(&mut self, c: &mut Client) {
        let mode = if c.capabilities().chunking {
            BodyMode::Bdat
        } else {
            BodyMode::Data
        };
        let rcpts = ["a", "b", "c"]
            .iter()
            .map(|l| (ForwardPath::Mailbox(mailbox(l)), RcptParams::default()))
            .collect();
        let from = ReversePath::Mailbox(mailbox("me"));
        let _ = c.send_envelope(T0, from, MailParams::default(), rcpts, mode);
    }

    fn body(&mut self, c: &mut Client) {
        while c.body_writable() && !self.finished {
            if self.sent < BODY.len() {
                let end = (self.sent + PIECE).min(BODY.len());
                if c.send_body(T0, &BODY[self.sent..end]).is_err() {
                    return;
                }
                self.sent = end;
            } else {
                self.finished = c.finish_body(T0).is_ok();
            }
        }
    }
}

/// Runs a scenario, feeding each round in chunks of the given sizes (cycled); returns
/// the events (adjacent TlsInjection merged) and everything the client wrote. The TLS
/// handshake is simulated at the end of a round (plaintext after the 220 is fed, as a
/// careless adapter would, and must be discarded).
fn run(config: &ClientConfig, rounds: &[&[u8]], sizes: &[usize]) -> (Vec<Event>, Vec<u8>) {
    run_app(config, rounds, sizes, true)
}

fn run_app(
    config: &ClientConfig,
    rounds: &[&[u8]],
    sizes: &[usize],
    react: bool,
) -> (Vec<Event>, Vec<u8>) {
    let mut c = Client::new(T0, config.clone());
    let mut app = App::default();
    let mut events: Vec<Event> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    let settle = |c: &mut Client, app: &mut App, events: &mut Vec<Event>, out: &mut Vec<u8>| loop {
        let mut progress = c.poll_transmit(out) > 0;
        while let Some(ev) = c.poll_event() {
            progress = true;
            if react {
                app.react(c, &ev);
            }
            match (events.last_mut(), &ev) {
                (
                    Some(Event::TlsInjection { discarded: a }),
                    Event::TlsInjection { discarded: b },
                ) => *a += b,
                _ => events.push(ev),
            }
        }
        if !progress {
            return;
        }
    };
    for round in rounds {
        let mut rest: &[u8] = round;
        while !rest.is_empty() {
            let n = if sizes.is_empty() {
                rest.len()
            } else {
                next += 1;
                sizes[next % sizes.len()].clamp(1, rest.len())
            };
            c.feed(T0, &rest[..n]);
            rest = &rest[n..];
            settle(&mut c, &mut app, &mut events, &mut out);
        }
        if c.io() == Io::AwaitingTls {
            c.tls_established(T0);
            settle(&mut c, &mut app, &mut events, &mut out);
        }
    }
    c.feed_eof(T0);
    settle(&mut c, &mut app, &mut events, &mut out);
    (events, out)
}

fn cfg() -> ClientConfig {
    ClientConfig::new(host("client.example.org"))
}

fn lmtp() -> ClientConfig {
    let mut c = cfg();
    c.lmtp = true;
    c
}

/// (name, config, rounds, expected last event is a QUIT close).
fn scenarios() -> Vec<(&'static str, ClientConfig, Vec<&'static [u8]>)> {
    vec![
        (
            "one at a time",
            cfg(),
            vec![
                b"220 foo ESMTP\r\n",
                b"250-foo\r\n250-8BITMIME\r\n250 SIZE\r\n",
                b"250 ok\r\n",
                b"250 ok\r\n",
                b"550 5.1.1 no\r\n",
                b"250 ok\r\n",
                b"354 go\r\n",
                b"250 accepted\r\n",
                b"221 bye\r\n",
            ],
        ),
        (
            "pipelined",
            cfg(),
            vec![
                b"220-foo\r\n220 ESMTP\r\n",
                b"250-foo\r\n250 PIPELINING\r\n",
                b"250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n",
                b"250 ok\r\n",
                b"221 bye\r\n",
            ],
        ),
        (
            "starttls, cram-md5, bdat one at a time",
            cfg(),
            vec![
                b"220 foo\r\n",
                b"250-foo\r\n250-STARTTLS\r\n250 AUTH CRAM-MD5\r\n",
                b"220 go ahead\r\n",
                b"250-foo\r\n250-CHUNKING\r\n250 AUTH CRAM-MD5\r\n",
                b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
                b"235 2.7.0 ok\r\n",
                b"250 ok\r\n",
                b"250 ok\r\n",
                b"250 ok\r\n",
                b"250 ok\r\n",
                b"250 chunk\r\n",
                b"250 chunk\r\n",
                b"250 chunk\r\n",
                b"250 message\r\n",
                b"221 bye\r\n",
            ],
        ),
        (
            "lone dot",
            cfg(),
            vec![
                b"220 x\r\n",
                b"250-x\r\n250 PIPELINING\r\n",
                b"250 ok\r\n550 a\r\n550 b\r\n550 c\r\n354 go\r\n",
                b"554 no valid recipients\r\n",
                b"221 bye\r\n",
            ],
        ),
        (
            "lmtp",
            lmtp(),
            vec![
                b"220 x LMTP\r\n",
                b"250-x\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n",
                b"250 ok\r\n250 a\r\n550 b\r\n250 c\r\n354 go\r\n",
                b"250 2.0.0 a\r\n452 4.2.2 c\r\n",
                b"221 bye\r\n",
            ],
        ),
        (
            "pipelined bdat",
            cfg(),
            vec![
                b"220 x\r\n",
                b"250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
                b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 c1\r\n250 c2\r\n250 c3\r\n250 last\r\n",
                b"221 bye\r\n",
            ],
        ),
        (
            "all refused, rset",
            cfg(),
            vec![
                b"220 x\r\n",
                b"250 x\r\n",
                b"250 ok\r\n",
                b"550 a\r\n",
                b"550 b\r\n",
                b"550 c\r\n",
                b"250 reset\r\n",
                b"221 bye\r\n",
            ],
        ),
        (
            "helo fallback then 421",
            cfg(),
            vec![
                b"220 x\r\n",
                b"502 what\r\n",
                b"250 x\r\n",
                b"250 ok\r\n421 4.3.2 going down\r\n",
            ],
        ),
    ]
}

#[test]
fn scenarios_complete_as_intended() {
    for (name, config, rounds) in scenarios() {
        let (events, out) = run(&config, &rounds, &[]);
        let last = events.last().unwrap();
        assert!(
            matches!(last, Event::Closed { .. }),
            "{name}: {events:#?}\n{}",
            String::from_utf8_lossy(&out)
        );
        assert!(
            !events.iter().any(|e| matches!(
                e,
                Event::Closed {
                    reason: client::CloseReason::Protocol(_)
                }
            )),
            "{name}: {events:#?}"
        );
        if name != "helo fallback then 421" {
            assert!(
                matches!(last, Event::Closed { reason } if format!("{reason:?}").starts_with("Quit")),
                "{name}: {events:#?}"
            );
            assert!(out.ends_with(b"QUIT\r\n"), "{name}");
        }
    }
}

#[test]
fn bdat_scenario_wire_is_exact() {
    // The body ends without a line break: the LAST chunk completes the line with CRLF,
    // as the DATA terminator would.
    let (_, config, rounds) = scenarios().remove(2);
    let (_, out) = run(&config, &rounds, &[]);
    let expected = "EHLO client.example.org\r\nSTARTTLS\r\nEHLO client.example.org\r\n\
        AUTH CRAM-MD5\r\ndGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n\
        MAIL FROM:<me@example.org>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n\
        RCPT TO:<c@example.org>\r\nBDAT 10\r\nSubject: tBDAT 12\r\n\r\n\r\n.dot linBDAT 6\r\n\
        e\r\nendBDAT 2 LAST\r\n\r\nQUIT\r\n";
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

/// Server-like noise: reply lines, fragments of them, and arbitrary bytes.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    let line = (
        prop::sample::select(vec![
            "220", "221", "235", "250", "334", "354", "421", "452", "500", "502", "535", "550",
            "554", "999", "2x0",
        ]),
        prop::sample::select(vec![" ", "-", "", "_"]),
        "[ -~]{0,20}",
        prop::sample::select(vec!["\r\n", "\n", "\r", ""]),
    )
        .prop_map(|(c, s, t, e)| format!("{c}{s}{t}{e}").into_bytes());
    prop::collection::vec(
        prop_oneof![
            4 => line,
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Feeding the same rounds split at any points gives the same events and bytes.
    #[test]
    fn split_independent(
        which in 0usize..8,
        sizes in prop::collection::vec(1usize..24, 1..8),
    ) {
        let (_, config, rounds) = scenarios().swap_remove(which);
        let whole = run(&config, &rounds, &[]);
        let split = run(&config, &rounds, &sizes);
        prop_assert_eq!(&whole.0, &split.0);
        prop_assert_eq!(&whole.1, &split.1);
    }

    /// A valid prefix of a scenario followed by noise, fed in pieces: never a panic, and
    /// once closed the client stays closed and silent.
    #[test]
    fn arbitrary_server_bytes_never_panic(
        which in 0usize..8,
        keep in 0usize..16,
        junk in prop::collection::vec(noise(), 1..4),
        sizes in prop::collection::vec(1usize..32, 0..6),
    ) {
        let (_, config, rounds) = scenarios().swap_remove(which);
        let mut all: Vec<&[u8]> = rounds.into_iter().take(keep).collect();
        all.extend(junk.iter().map(Vec::as_slice));
        let (events, _) = run(&config, &all, &sizes);
        let closed = events.iter().position(|e| matches!(e, Event::Closed { .. }));
        prop_assert!(closed.is_some(), "the final EOF closes the session");
        prop_assert_eq!(closed, Some(events.len() - 1), "nothing after Closed");
    }

    /// Without an application answering (so no command is issued between two pieces),
    /// any bytes give the same events however they are split.
    #[test]
    fn noise_split_independent(
        junk in noise(),
        sizes in prop::collection::vec(1usize..16, 1..6),
    ) {
        let whole = run_app(&cfg(), &[&junk], &[], false);
        let split = run_app(&cfg(), &[&junk], &sizes, false);
        prop_assert_eq!(whole, split);
    }

    /// Raw bytes straight into a fresh client in any state reachable by the greeting.
    #[test]
    fn raw_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut c = Client::new(T0, cfg());
        c.feed(T0, &data);
        while c.poll_event().is_some() {}
        let _ = c.ehlo(T0);
        c.feed(T0, &data);
        c.feed_eof(T0);
        while c.poll_event().is_some() {}
        prop_assert_eq!(c.io(), Io::Closed);
    }
}
