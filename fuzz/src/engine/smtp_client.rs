//! The engine's SMTP client flow (`aio::SmtpClient`: greeting, EHLO, STARTTLS, AUTH,
//! messages with per-recipient results, RSET, QUIT) against a scripted server: the fuzz
//! input's bytes, read in chunks whatever the client sends (curl's fuzzer feeds its
//! clients the same way). A model of the wire then checks what the client wrote against
//! the replies it had read at that moment.

use futures_lite::io::Cursor;
use mailproto_core::sasl::{ClientCredentials, Mechanism};
use mailproto_core::smtp::{Body, Domain, ForwardPath, Host, MailParams, Mailbox, ReversePath};
use mailproto_engine::Error;
use mailproto_engine::TlsRole;
use mailproto_engine::aio::SmtpClient;
use mailproto_engine::pop3_client::Security;
use mailproto_engine::smtp_client::{Envelope, SmtpOptions};

use super::{Memory, Script, Traffic, Wire, WireLog, dot_body, has_bare, lock, next_line};

/// Bodies the client sends: empty, mail-shaped with leading dots and a line that is only
/// a dot, bare line endings, no final line break, 8-bit, and one larger than a read.
fn body(n: usize) -> Vec<u8> {
    match n % 6 {
        0 => Vec::new(),
        1 => b"Subject: x\r\n\r\n.dot\r\n..two\r\n.\r\nend\r\n".to_vec(),
        2 => b"bare\nline\rend\n.\n.\r\nlast".to_vec(),
        3 => "Subject: caf\u{e9}\r\n\r\nna\u{ef}ve\r\n"
            .as_bytes()
            .to_vec(),
        4 => b".".to_vec(),
        _ => b"0123456789abcdef\r\n.".repeat(4000),
    }
}

/// What one step of the flow did.
#[derive(Debug)]
pub struct Step {
    /// What was asked.
    pub op: Op,
    /// Bytes written before and after it.
    pub written: (usize, usize),
    /// How it ended.
    pub outcome: Result<Option<Vec<bool>>, Error>,
}

/// The steps of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Connect: greeting, EHLO, maybe STARTTLS.
    Connect,
    /// AUTH.
    Auth,
    /// Send a message to this many recipients.
    Send(usize),
    /// RSET.
    Reset,
    /// Whether the session is usable.
    Usable,
    /// QUIT.
    Quit,
}

/// A whole client run: its steps and the wire.
#[derive(Debug)]
pub struct Run {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// What went over the wire.
    pub wire: WireLog,
}

fn written(log: &std::sync::Mutex<WireLog>) -> usize {
    lock(log)
        .traffic
        .iter()
        .map(|t| match t {
            Traffic::Wrote(b) => b.len(),
            Traffic::Read(_) => 0,
        })
        .sum()
}

fn mailbox(local: &str) -> Mailbox {
    Mailbox {
        local_part: local.into(),
        domain: Host::Domain(Domain::new("example.org").expect("a domain")),
    }
}

/// Runs the client flow over `server` (read in chunks of `reads`, writes cut by
/// `writes`), its options from `config` and its steps from `choices`.
pub fn run(
    config: u8,
    choices: &[u8],
    server: &[u8],
    reads: Vec<usize>,
    writes: Vec<usize>,
) -> Run {
    let (stream, log) = Wire::new(server, reads, writes);
    let mut script = Script::new(choices);
    let mut machine = crate::smtp::client_config(config);
    // One reply per command line: LMTP's per-recipient replies are the core targets'.
    machine.lmtp = false;
    let security = [
        Security::Plain,
        Security::StartTlsOpportunistic,
        Security::StartTls,
    ][usize::from(config >> 6) % 3];
    let options = SmtpOptions::default()
        .with_security(security)
        .with_prefer_bdat(config & 0x20 != 0)
        .with_greeting_wait(None)
        .with_config(machine);
    let mut steps = Vec::new();
    futures_lite::future::block_on(async {
        let before = written(&log);
        let tls = TlsRole::None;
        let connected =
            SmtpClient::<Memory, Wire>::over_on(Memory, stream, tls, options, None).await;
        let mut client = match connected {
            Ok(client) => {
                steps.push(Step {
                    op: Op::Connect,
                    written: (before, written(&log)),
                    outcome: Ok(None),
                });
                client
            }
            Err(e) => {
                steps.push(Step {
                    op: Op::Connect,
                    written: (before, written(&log)),
                    outcome: Err(e),
                });
                return;
            }
        };
        for _ in 0..1 + script.below(6) {
            let before = written(&log);
            let pick = script.byte();
            let (op, outcome) = match pick % 8 {
                0 => {
                    let mechanism = match script.below(6) {
                        0 => Some(Mechanism::Plain),
                        1 => Some(Mechanism::Login),
                        2 => Some(Mechanism::CramMd5),
                        3 => Some(Mechanism::XOAuth2),
                        _ => None,
                    };
                    let credentials = match mechanism {
                        Some(Mechanism::XOAuth2) => ClientCredentials::token("user", "t0ken"),
                        _ => ClientCredentials::password("user", "pass word"),
                    };
                    let result = match mechanism {
                        Some(m) if pick & 0x80 != 0 => {
                            client.authenticate_forced(m, credentials).await
                        }
                        _ => client.authenticate(mechanism, credentials).await,
                    };
                    (Op::Auth, result.map(|()| None))
                }
                5 => (Op::Reset, client.reset().await.map(|()| None)),
                6 => (
                    Op::Usable,
                    Ok(client.is_usable().await.then_some(Vec::new())),
                ),
                7 => break,
                _ => {
                    let from = if pick & 0x10 != 0 {
                        ReversePath::Null
                    } else {
                        ReversePath::Mailbox(mailbox("sender"))
                    };
                    let count = 1 + script.below(3);
                    let to = (0..count).map(|i| match i {
                        1 => ForwardPath::Postmaster,
                        _ => ForwardPath::Mailbox(mailbox(["a", "b"][i % 2])),
                    });
                    let mut envelope = Envelope::new(from, to);
                    envelope.params = MailParams::default();
                    if pick & 0x20 != 0 {
                        envelope.params.size = Some(100);
                    }
                    if pick & 0x40 != 0 {
                        envelope.params.body = Some(Body::EightBitMime);
                    }
                    let mut content = Cursor::new(body(script.below(6)));
                    let result = client.send(envelope, &mut content).await;
                    let result = result.map(|report| {
                        assert_eq!(report.recipients.len(), count, "a result per recipient");
                        Some(report.recipients.iter().map(|r| r.reply.is_ok()).collect())
                    });
                    (Op::Send(count), result)
                }
            };
            let stop = matches!(
                &outcome,
                Err(e) if !matches!(
                    e,
                    Error::Rejected(_) | Error::RecipientsRejected(_) | Error::Unsupported(_)
                )
            );
            steps.push(Step {
                op,
                written: (before, written(&log)),
                outcome,
            });
            if stop {
                return;
            }
        }
        let before = written(&log);
        let outcome = client.quit().await.map(|()| None);
        steps.push(Step {
            op: Op::Quit,
            written: (before, written(&log)),
            outcome,
        });
    });
    let wire = std::mem::take(&mut *lock(&log));
    Run { steps, wire }
}

/// A reply the client read, complete: its code, its lines, and how many bytes had been
/// read when it was.
#[derive(Debug)]
struct Seen {
    code: u16,
    lines: Vec<Vec<u8>>,
    at: usize,
}

/// The replies in `read` as far as they are well-formed (CRLF lines of at most 512
/// octets, a code, `-` or space, one code per reply).
fn replies(read: &[u8]) -> (Vec<Seen>, bool) {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut open: Option<(u16, Vec<Vec<u8>>)> = None;
    while let Some((line, next)) = next_line(read, pos) {
        let good = !has_bare(line)
            && line.len() <= 512
            && line.len() >= 3
            && line[..3].iter().all(u8::is_ascii_digit)
            && matches!(line.get(3), None | Some(b' ' | b'-'))
            && (b'2'..=b'5').contains(&line[0]);
        if !good {
            return (out, false);
        }
        let code = std::str::from_utf8(&line[..3]).unwrap().parse().unwrap();
        let mut lines = match open.take() {
            Some((c, _)) if c != code => return (out, false),
            Some((_, lines)) => lines,
            None => Vec::new(),
        };
        lines.push(line.to_vec());
        if line.get(3) == Some(&b'-') {
            open = Some((code, lines));
        } else {
            out.push(Seen {
                code,
                lines,
                at: next,
            });
        }
        pos = next;
    }
    // A CR or LF in the unfinished rest may end a line for a lenient reader.
    (out, !has_bare(&read[pos..]))
}

/// Checks a client run:
///
/// - no error says the engine misused its own machine ([`Error::Idle`]);
/// - every command line is CRLF-terminated with no bare CR, LF or NUL inside;
/// - nothing is written after QUIT, nor after the stream was closed (the [`Wire`]
///   panics);
/// - a message body follows DATA only once the reply to DATA has been read and is
///   `354`, nothing at all is written after DATA before that reply, and the body is
///   dot-stuffed; BDAT only after CHUNKING was advertised, each chunk exactly its size;
/// - a send that reports success had its end of data answered with a `2xx` read, each
///   recipient's result as its RCPT reply's class; a send refused for its recipients
///   wrote no DATA content (at most the terminator, RFC 2920 §3.1).
///
/// Reply indexes follow the order of the command lines (one reply each, the greeting
/// first); past a reply the model cannot read (malformed), only the line checks apply.
pub fn check(run: &Run) {
    let read = run.wire.read();
    let sent = run.wire.written();
    super::debug(&read, &sent);
    for step in &run.steps {
        if let Err(e) = &step.outcome {
            assert!(
                !matches!(e, Error::Idle),
                "{:?}: the engine left its machine idle",
                step.op
            );
        }
    }
    let (seen, readable) = replies(&read);
    // How many bytes had been read when each written byte went out.
    let mut read_at = Vec::with_capacity(sent.len());
    let mut have = 0;
    for t in &run.wire.traffic {
        match t {
            Traffic::Read(b) => have += b.len(),
            Traffic::Wrote(b) => read_at.extend(std::iter::repeat_n(have, b.len())),
        }
    }
    // Replies complete when byte `at` was written.
    let answered = |at: usize| seen.iter().take_while(|s| s.at <= read_at[at]).count();
    let chunking = |at: usize| {
        seen[..answered(at)].iter().any(|s| {
            s.code == 250
                && s.lines.iter().any(|l| {
                    // The keyword, before any parameters (RFC 5321 §4.1.1.1 ehlo-line):
                    // CHUNKING takes none, but a server may still send some.
                    l.get(4..)
                        .and_then(|rest| rest.split(|&b| b == b' ').next())
                        .is_some_and(|k| k.eq_ignore_ascii_case(b"CHUNKING"))
                })
        })
    };

    // The units the client wrote: (start, reply index, kind).
    let mut units: Vec<(usize, usize, &'static str)> = Vec::new();
    let mut walked = sent.len();
    let mut pos = 0;
    let mut index = 1;
    while pos < sent.len() {
        let start = pos;
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
        let upper = line.to_ascii_uppercase();
        if upper == b"QUIT" {
            assert_eq!(pos, sent.len(), "written after QUIT");
            units.push((start, index, "QUIT"));
            break;
        }
        if let Some(rest) = upper.strip_prefix(b"BDAT ") {
            assert!(
                chunking(start) || !readable,
                "BDAT without CHUNKING advertised"
            );
            let (size, last) = match rest.strip_suffix(b" LAST") {
                Some(size) => (size, true),
                None => (rest, false),
            };
            let size: usize = std::str::from_utf8(size)
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("a BDAT size");
            assert!(
                pos + size <= sent.len(),
                "a BDAT chunk shorter than its size"
            );
            pos += size;
            units.push((start, index, if last { "BDAT LAST" } else { "BDAT" }));
            index += 1;
            continue;
        }
        units.push((
            start,
            index,
            if upper == b"DATA" {
                "DATA"
            } else if upper.starts_with(b"RCPT ") {
                "RCPT"
            } else {
                "line"
            },
        ));
        index += 1;
        if upper == b"DATA" && pos < sent.len() {
            if index > seen.len() && !readable {
                // Past what the model reads: whether a body follows is unknown.
                walked = pos;
                break;
            }
            // The client waits for DATA's reply before writing anything.
            assert!(
                answered(pos) > index - 1,
                "written after DATA before its reply"
            );
            if seen[index - 1].code == 354 {
                let Some((body, after)) = dot_body(&sent, pos) else {
                    // The flow ended mid-body (an error): nothing more to read.
                    walked = pos;
                    break;
                };
                assert!(super::well_stuffed(body), "a body line not dot-stuffed");
                // RFC 2920 §3.1: after a 354 with every recipient refused, only the
                // terminator goes out.
                let kind = if body.is_empty() {
                    "empty end of data"
                } else {
                    "end of data"
                };
                units.push((pos, index, kind));
                index += 1;
                pos = after;
            }
        }
    }

    for step in &run.steps {
        let (from, to) = step.written;
        if to > walked {
            // Beyond what the model could follow.
            break;
        }
        let mine: Vec<_> = units.iter().filter(|u| (from..to).contains(&u.0)).collect();
        let reply = |i: usize| seen.get(i).map(|s| s.code);
        match (&step.op, &step.outcome) {
            (Op::Send(_), Ok(Some(results))) => {
                let ends: Vec<_> = mine
                    .iter()
                    .filter(|u| matches!(u.2, "end of data" | "empty end of data" | "BDAT LAST"))
                    .collect();
                assert_eq!(
                    ends.len(),
                    1,
                    "a message reported sent without one end of data"
                );
                if let Some(code) = reply(ends[0].1) {
                    assert_eq!(code / 100, 2, "a message reported sent after {code}");
                }
                let rcpts: Vec<_> = mine.iter().filter(|u| u.2 == "RCPT").collect();
                assert_eq!(rcpts.len(), results.len(), "RCPT per recipient");
                for (u, ok) in rcpts.iter().zip(results) {
                    if let Some(code) = reply(u.1) {
                        assert_eq!(
                            code / 100 == 2,
                            *ok,
                            "a recipient's result is not its RCPT reply"
                        );
                    }
                }
            }
            (Op::Send(_), Err(Error::RecipientsRejected(_))) => {
                assert!(
                    !mine.iter().any(|u| u.2 == "end of data"),
                    "a DATA body sent with no recipient accepted"
                );
            }
            _ => {}
        }
    }
}
