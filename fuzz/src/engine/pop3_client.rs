//! The engine's POP3 client flow (`aio::Pop3Client`: greeting, CAPA, STLS, USER/PASS,
//! APOP, AUTH, STAT, LIST, UIDL, RETR one by one or pipelined, TOP, DELE, RSET, NOOP,
//! QUIT) against a scripted server: the fuzz input's bytes, read in chunks whatever the
//! client sends. A model of the wire then checks each message the client reported
//! against the response it read.

use mailproto_core::pop3::Secret;
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_engine::aio::Pop3Client;
use mailproto_engine::pop3_client::Security;
use mailproto_engine::{Error, TlsRole};

use super::{Memory, Script, Wire, WireLog, has_bare, lock, next_line, unstuff};

/// What one step of the flow asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Connect: greeting, maybe CAPA and STLS.
    Connect,
    /// RETR of these messages (more than one: pipelined).
    Retr,
    /// TOP.
    Top,
    /// Any other command.
    Other,
    /// QUIT.
    Quit,
}

/// What one step did.
#[derive(Debug)]
pub struct Step {
    /// What was asked.
    pub op: Op,
    /// How it ended.
    pub outcome: Result<(), Error>,
    /// The messages it reported (RETR, TOP), as written to its sinks.
    pub messages: Vec<Vec<u8>>,
    /// How many RETR/TOP commands it issued.
    pub commands: usize,
}

/// A whole client run: its steps and the wire.
#[derive(Debug)]
pub struct Run {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// What went over the wire.
    pub wire: WireLog,
}

/// Runs the client flow over `server`, its options from `config` and its steps from
/// `choices`.
pub fn run(
    config: u8,
    choices: &[u8],
    server: &[u8],
    reads: Vec<usize>,
    writes: Vec<usize>,
) -> Run {
    let (stream, log) = Wire::new(server, reads, writes);
    let mut script = Script::new(choices);
    let machine = crate::pop3::client_config(config);
    let security = [
        Security::Plain,
        Security::StartTlsOpportunistic,
        Security::Plain,
    ][usize::from(config >> 6) % 3];
    let mut steps = Vec::new();
    futures_lite::future::block_on(async {
        let connected = Pop3Client::<Memory, Wire>::over_on(
            Memory,
            stream,
            TlsRole::None,
            security,
            machine,
            None,
        )
        .await;
        let mut client = match connected {
            Ok(client) => client,
            Err(e) => {
                steps.push(Step {
                    op: Op::Connect,
                    outcome: Err(e),
                    messages: Vec::new(),
                    commands: 0,
                });
                return;
            }
        };
        let password = Secret::from("open sesame");
        for _ in 0..1 + script.below(10) {
            let pick = script.byte();
            let n = u32::from(pick >> 4) % 4 + 1;
            let mut messages = Vec::new();
            let mut commands = 1;
            let (op, outcome) = match pick % 16 {
                0 => (Op::Other, client.capa().await.map(drop)),
                1 | 2 => (Op::Other, client.login("alice", &password).await),
                3 => (Op::Other, client.apop("alice", &password).await),
                4 => {
                    let mechanism = [None, Some(Mechanism::Plain), Some(Mechanism::Login)]
                        [usize::from(pick >> 4) % 3]
                        .clone();
                    let credentials = ClientCredentials::password("alice", "open sesame");
                    (Op::Other, client.auth(mechanism, credentials).await)
                }
                5 => (Op::Other, client.stat().await.map(drop)),
                6 => (Op::Other, client.list().await.map(drop)),
                7 => (Op::Other, client.uidl().await.map(drop)),
                8 | 9 => {
                    let mut sink = Vec::new();
                    let result = client.retr(n, &mut sink).await;
                    messages.push(sink);
                    (Op::Retr, result)
                }
                10 => {
                    let msgs: Vec<u32> = (1..=n).collect();
                    commands = msgs.len();
                    let mut sinks: Vec<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> = Vec::new();
                    let result = client
                        .retr_many(&msgs, |_| {
                            let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                            sinks.push(sink.clone());
                            Ok(Shared(sink))
                        })
                        .await;
                    messages = sinks.iter().map(|s| lock(s).clone()).collect();
                    (Op::Retr, result)
                }
                11 => {
                    let mut sink = Vec::new();
                    let result = client.top(n, u32::from(pick >> 6), &mut sink).await;
                    messages.push(sink);
                    (Op::Top, result)
                }
                12 => (Op::Other, client.dele(n).await),
                13 => (Op::Other, client.rset().await),
                14 => (Op::Other, client.noop().await),
                _ => break,
            };
            let stop = matches!(&outcome, Err(e) if !matches!(e, Error::Rejected(_)));
            steps.push(Step {
                op,
                outcome,
                messages,
                commands,
            });
            if stop {
                return;
            }
        }
        let outcome = client.quit().await;
        steps.push(Step {
            op: Op::Quit,
            outcome,
            messages: Vec::new(),
            commands: 0,
        });
    });
    let wire = std::mem::take(&mut *lock(&log));
    Run { steps, wire }
}

/// A sink `retr_many` writes one message to, kept after the call.
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl futures_lite::io::AsyncWrite for Shared {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        lock(&self.0).extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// One response the client read: its status line, its body (unstuffed) when it has one
/// and it ended, and how many bytes had been read when it was complete.
#[derive(Debug)]
struct Seen {
    ok: bool,
    /// For a multi-line response: whether its `.` was read.
    ended: bool,
    body: Option<Vec<u8>>,
}

/// Checks a client run:
///
/// - no error says the engine misused its own machine ([`Error::Idle`]);
/// - command lines are CRLF-terminated with no bare CR, LF or NUL inside, and nothing
///   is written after QUIT (nor after close: the [`Wire`] panics);
/// - every message RETR reported (one by one or pipelined) is exactly the unstuffed
///   body of the multi-line response that answered it, and that response ended (`.`)
///   in what was read: the client never reports a message it did not receive whole.
///   TOP's likewise.
///
/// Responses follow the command lines in order (one each; a SASL continuation `+ `
/// answers AUTH and each response line); the model stops at the first response it
/// cannot read (a malformed status line, a bare CR or LF).
pub fn check(run: &Run) {
    let read = run.wire.read();
    let sent = run.wire.written();
    super::debug(&read, &sent);
    let mut commands: Vec<Vec<u8>> = Vec::new();
    let mut pos = 0;
    while pos < sent.len() {
        let Some((line, after)) = next_line(&sent, pos) else {
            panic!(
                "a command line without CRLF: {:?}",
                String::from_utf8_lossy(&sent[pos..])
            );
        };
        assert!(
            !has_bare(line) && !line.contains(&0),
            "a bare CR, LF or NUL in a command line"
        );
        pos = after;
        if line.eq_ignore_ascii_case(b"QUIT") {
            assert_eq!(pos, sent.len(), "written after QUIT");
        }
        commands.push(line.to_ascii_uppercase());
    }
    for step in &run.steps {
        if let Err(e) = &step.outcome {
            assert!(
                !matches!(e, Error::Idle),
                "{:?}: the engine left its machine idle",
                step.op
            );
        }
    }

    // The responses, in order, for as long as the model reads them.
    let mut seen: Vec<Seen> = Vec::new();
    let mut at = 0;
    let Some((greeting, after)) = next_line(&read, at) else {
        return;
    };
    if has_bare(greeting) || !greeting.starts_with(b"+OK") {
        return;
    }
    at = after;
    let mut sasl = false;
    for command in &commands {
        let Some((status, after)) = next_line(&read, at) else {
            break;
        };
        if has_bare(status) {
            break;
        }
        at = after;
        let ok = status.starts_with(b"+OK");
        let more = status == b"+" || status.starts_with(b"+ ");
        if !ok && !more && !status.starts_with(b"-ERR") {
            break;
        }
        let mut words = command.split(|&b| b == b' ');
        let verb = words.next().unwrap_or_default().to_vec();
        let has_argument = words.any(|w| !w.is_empty());
        if sasl || (verb == b"AUTH" && more) {
            sasl = more;
            seen.push(Seen {
                ok,
                ended: false,
                body: None,
            });
            continue;
        }
        let multi = match verb.as_slice() {
            b"RETR" | b"TOP" | b"CAPA" => true,
            b"LIST" | b"UIDL" | b"AUTH" => !has_argument,
            _ => false,
        };
        if !(ok && multi) {
            seen.push(Seen {
                ok,
                ended: false,
                body: None,
            });
            continue;
        }
        let mut body = Vec::new();
        let mut ended = false;
        while let Some((line, after)) = next_line(&read, at) {
            at = after;
            if line == b"." {
                ended = true;
                break;
            }
            body.extend_from_slice(line);
            body.extend_from_slice(b"\r\n");
        }
        // With bare line endings inside, the client's policy decides the bytes.
        let clean = crate::crlf_clean(&body);
        seen.push(Seen {
            ok,
            ended,
            body: (ended && clean).then(|| unstuff(&body)),
        });
        if !ended {
            break;
        }
    }

    // Each RETR/TOP step's messages against the responses to its commands, in order.
    let mut answers = commands.iter().zip(seen.iter());
    // The connect step's commands (CAPA, STLS) and every step's are in order; only the
    // message commands are matched, by position.
    let mut next_message = || {
        for (command, seen) in answers.by_ref() {
            if command.starts_with(b"RETR ") || command.starts_with(b"TOP ") {
                return Some(seen);
            }
        }
        None
    };
    for step in &run.steps {
        if !matches!(step.op, Op::Retr | Op::Top) {
            continue;
        }
        let done = step.outcome.is_ok();
        if done {
            assert_eq!(step.messages.len(), step.commands, "a message per RETR");
        }
        for i in 0..step.commands {
            let Some(response) = next_message() else {
                return;
            };
            let Some(message) = step.messages.get(i).filter(|_| done) else {
                continue;
            };
            assert!(response.ok, "a message reported after -ERR");
            assert!(
                response.ended,
                "a message reported whose response never ended"
            );
            if let Some(body) = &response.body {
                assert_eq!(message, body, "a message reported other than received");
            }
        }
    }
}
