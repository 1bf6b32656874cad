//! Unit tests: SASL corner cases, secrets not left behind, and the client driven through
//! `testing::Pair` against a canned server.

const T0: crate::time::Instant = crate::time::Instant::ZERO;

use crate::time::Instant;
use crate::{Io, Machine};
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::line::{BareLineEnding, LineReader};
use crate::pop3::Secret as Password;
use crate::sasl::{AuthError, ClientAuth, ClientCredentials, Mechanism};
use crate::testing::{Pair, Side};

fn greeted() -> Client {
    let mut client = Client::new(T0, ClientConfig::default());
    client.feed(T0, b"+OK ready\r\n");
    drain(&mut client);
    client
}

fn drain(client: &mut Client) -> Vec<Event> {
    core::iter::from_fn(|| client.poll_event()).collect()
}

fn sent(client: &mut Client) -> String {
    let mut out = Vec::new();
    let _ = client.poll_transmit(&mut out);
    client.transmitted(T0, out.len());
    String::from_utf8(out).unwrap()
}

#[test]
fn oauthbearer_error_challenge_is_acknowledged() {
    let mut client = greeted();
    let credentials = ClientCredentials::token(
        "user@example.com",
        "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
    );
    let auth = ClientAuth::new(Mechanism::OAuthBearer, credentials).unwrap();
    client.auth(T0, auth).unwrap();
    let line = sent(&mut client);
    assert!(line.starts_with("AUTH OAUTHBEARER "), "{line}");
    // S: + eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=   ({"status":"invalid_token"})
    client.feed(T0, b"+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n");
    // C: AQ==   (%x01, RFC 7628 §3.2.3)
    assert_eq!(sent(&mut client), "AQ==\r\n");
    client.feed(T0, b"-ERR [AUTH] invalid token\r\n");
    assert!(matches!(
        drain(&mut client)[..],
        [Event::Err {
            command: CommandKind::Auth,
            ..
        }]
    ));
}

#[test]
fn auth_rounds_are_bounded() {
    let mut client = Client::new(
        T0,
        ClientConfig {
            max_auth_rounds: 2,
            ..ClientConfig::default()
        },
    );
    client.feed(T0, b"+OK\r\n");
    let auth = ClientAuth::new(Mechanism::Login, ClientCredentials::password("tim", "pw")).unwrap();
    client.auth(T0, auth).unwrap();
    assert_eq!(sent(&mut client), "AUTH LOGIN\r\n");
    client.feed(T0, b"+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n+ \r\n");
    assert_eq!(sent(&mut client), "dGlt\r\ncHc=\r\n*\r\n");
    let events = drain(&mut client);
    assert_eq!(
        events.last(),
        Some(&Event::AuthCancelled {
            reason: AuthError::TooManyRounds { max: 2 }
        })
    );
    // After "*" only -ERR may come; another challenge breaks the protocol.
    client.feed(T0, b"+ \r\n");
    assert_eq!(
        drain(&mut client),
        vec![Event::Closed {
            reason: CloseReason::Protocol(ProtocolError::UnexpectedContinuation)
        }]
    );
}

#[test]
fn written_credentials_do_not_stay_in_the_client() {
    let mut client = greeted();
    client.user(T0, "mrose").unwrap();
    client.pass(T0, &Password::from("hunter2")).unwrap();
    // USER is written, PASS waits in the queue.
    assert_eq!(sent(&mut client), "USER mrose\r\n");
    assert_eq!(client.k.out.pending(), 0);
    client.feed(T0, b"+OK\r\n");
    assert_eq!(sent(&mut client), "PASS hunter2\r\n");
    assert_eq!(client.k.out.pending(), 0);
    let pending = client.queue.front().unwrap();
    assert_eq!(pending.kind, CommandKind::Pass);
    assert!(
        pending.line.expose().is_empty(),
        "the written line was wiped"
    );
    assert_eq!(pending.len, "PASS hunter2\r\n".len());
}

#[test]
fn a_command_may_be_queued_while_a_body_streams() {
    let mut client = greeted();
    client.user(T0, "u").unwrap();
    client.pass(T0, &Password::from("p")).unwrap();
    client.retr(T0, 1).unwrap();
    client.feed(T0, b"+OK\r\n+OK\r\n+OK\r\npart");
    assert!(matches!(client.phase, Phase::Body(_)));
    client.dele(T0, 1).unwrap();
    assert_eq!(sent(&mut client), "USER u\r\nPASS p\r\nRETR 1\r\n");
    client.feed(T0, b"ial\r\n.\r\n");
    assert_eq!(sent(&mut client), "DELE 1\r\n");
}

/// A server that plays a script: the greeting, then for each expected client line its
/// canned answer. An answer starting with `+OK` to `STLS` switches to TLS.
#[derive(Debug)]
struct Canned {
    input: LineReader,
    out: Vec<u8>,
    script: VecDeque<(&'static str, &'static str)>,
    awaiting_tls: bool,
    closed: bool,
    mismatch: Option<String>,
}

impl Canned {
    fn new(greeting: &str, script: &[(&'static str, &'static str)]) -> Self {
        Canned {
            input: LineReader::new(4096, BareLineEnding::Reject),
            out: greeting.as_bytes().to_vec(),
            script: script.iter().copied().collect(),
            awaiting_tls: false,
            closed: false,
            mismatch: None,
        }
    }
}

impl Machine for Canned {
    type Event = ();

    fn feed(&mut self, _now: Instant, data: &[u8]) {
        self.input.push(data);
        while let Some(Ok(line)) = self.input.next_line() {
            let line = String::from_utf8_lossy(line).into_owned();
            let Some((expected, answer)) = self.script.pop_front() else {
                self.mismatch = Some(line);
                return;
            };
            if line != expected {
                self.mismatch = Some(line);
                return;
            }
            self.out.extend_from_slice(answer.as_bytes());
            if line == "QUIT" {
                self.closed = true;
            }
            if line == "STLS" && answer.starts_with("+OK") {
                self.awaiting_tls = true;
                self.input.discard();
                return;
            }
        }
    }
    fn feed_eof(&mut self, _now: Instant) {
        self.closed = true;
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        out.append(&mut self.out);
        n
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn io(&self) -> Io {
        if self.closed {
            Io::Closed
        } else if self.awaiting_tls {
            Io::AwaitingTls
        } else {
            Io::Open { wants_read: true }
        }
    }
    fn transmitted(&mut self, _now: Instant, _n: usize) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn tls_established(&mut self, _now: Instant) {
        self.awaiting_tls = false;
    }
}

#[test]
fn driven_by_pair_through_stls_and_a_pipelined_group() {
    let script = [
        ("CAPA", "+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        ("STLS", "+OK begin TLS\r\n"),
        ("CAPA", "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n"),
        ("USER mrose", "+OK\r\n"),
        ("PASS tanstaaf", "+OK 1 message\r\n"),
        ("STAT", "+OK 1 12\r\n"),
        ("RETR 1", "+OK\r\n..dot line\r\n.\r\n"),
        ("QUIT", "+OK bye\r\n"),
    ];
    for splits in [vec![], vec![1], vec![3, 7], vec![64]] {
        let server = Canned::new("+OK POP3 ready\r\n", &script);
        let mut pair = Pair::with_splits(Client::new(T0, ClientConfig::default()), server, splits);
        pair.client.capa(T0).unwrap();
        pair.client.stls(T0).unwrap();
        let mut events = Vec::new();
        pair.drive(
            |client, _now, ev| {
                match &ev {
                    Event::TlsReady => client.capa(T0).unwrap(),
                    Event::Capabilities(caps) if caps.contains("PIPELINING") => {
                        client.user(T0, "mrose").unwrap();
                        client.pass(T0, &Password::from("tanstaaf")).unwrap();
                        client.stat(T0).unwrap();
                        client.retr(T0, 1).unwrap();
                        client.quit(T0).unwrap();
                    }
                    _ => {}
                }
                if let (Some(Event::MessageData(a)), Event::MessageData(b)) =
                    (events.last_mut(), &ev)
                {
                    a.extend_from_slice(b);
                } else {
                    events.push(ev);
                }
            },
            |_, _, ()| {},
        );
        assert_eq!(pair.server.mismatch, None);
        assert!(pair.server.script.is_empty());
        assert!(events.contains(&Event::TlsReady));
        assert!(events.contains(&Event::MessageData(b".dot line\r\n".to_vec())));
        assert_eq!(
            events.last(),
            Some(&Event::Closed {
                reason: CloseReason::Quit
            })
        );
        assert_eq!(pair.dropped_at_tls(Side::Client), 0);
        // USER, PASS, STAT, RETR and QUIT left as one group.
        let transcript = pair.transcript();
        assert!(
            transcript.contains("C: USER mrose\nC: PASS tanstaaf\nC: STAT\nC: RETR 1\nC: QUIT\n"),
            "{transcript}"
        );
    }
}
