//! The generators' promises: every value encodes and parses back to itself, through
//! every front end; the players play whole sessions against the crate's own servers.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::strategy::{self, Tape};
use super::{Account, Bytes, Pop3Player, Pop3Step, SmtpPlayer, SmtpStep, Source, play};
use crate::machine::{Io, Machine};
use crate::pop3::server::{Event as PopEvent, Maildrop, MessageInfo, Server as PopServer};
use crate::pop3::{self, Response, UniqueId};
use crate::smtp::server::{Event, Server, ServerConfig};
use crate::smtp::{self, Reply, ReplyParser};
use crate::testing::Pair;
use crate::time::{Duration, Instant};

fn strip_crlf(out: &[u8]) -> Result<&[u8], TestCaseError> {
    let line = out
        .strip_suffix(b"\r\n")
        .ok_or_else(|| TestCaseError::fail("no CRLF"))?;
    prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
    Ok(line)
}

fn smtp_roundtrip(cmd: &smtp::Command) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    cmd.encode(&mut out)
        .map_err(|e| TestCaseError::fail(format!("{cmd:?}: {e}")))?;
    let line = strip_crlf(&out)?;
    let parsed = smtp::Command::parse(line, &super::smtp::parse_config())
        .map_err(|e| TestCaseError::fail(format!("{}: {e}", String::from_utf8_lossy(line))))?;
    prop_assert_eq!(&parsed, cmd);
    Ok(())
}

fn reply_roundtrip(reply: &Reply) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    reply.encode(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    let mut parser = ReplyParser::default();
    for (i, line) in lines.iter().enumerate() {
        let got = parser.feed_line(line.as_bytes()).unwrap();
        prop_assert_eq!(got.is_some(), i + 1 == lines.len());
        if let Some(got) = got {
            prop_assert_eq!(&got, reply);
        }
    }
    Ok(())
}

fn pop3_roundtrip(cmd: &pop3::Command) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    cmd.encode(&mut out)
        .map_err(|e| TestCaseError::fail(format!("{cmd:?}: {e}")))?;
    let parsed = pop3::Command::parse(strip_crlf(&out)?, &super::pop3::limits())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&parsed, cmd);
    Ok(())
}

fn response_roundtrip(response: &Response) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    response.encode(&mut out).unwrap();
    let parsed = Response::parse(strip_crlf(&out)?, &super::pop3::limits()).unwrap();
    prop_assert_eq!(&parsed, response);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn smtp_commands_roundtrip(cmd in strategy::smtp_command()) {
        smtp_roundtrip(&cmd)?;
    }

    #[test]
    fn smtp_replies_roundtrip(reply in strategy::smtp_reply()) {
        reply_roundtrip(&reply)?;
    }

    #[test]
    fn parameters_roundtrip(mail in strategy::mail_params(), rcpt in strategy::rcpt_params()) {
        let mailbox = super::smtp::mailbox(&mut Bytes::new(b""), false);
        smtp_roundtrip(&smtp::Command::Mail {
            from: smtp::ReversePath::Mailbox(mailbox.clone()),
            params: mail,
        })?;
        smtp_roundtrip(&smtp::Command::Rcpt {
            to: smtp::ForwardPath::Mailbox(mailbox),
            params: rcpt,
        })?;
    }

    #[test]
    fn pop3_commands_roundtrip(cmd in strategy::pop3_command()) {
        pop3_roundtrip(&cmd)?;
    }

    #[test]
    fn pop3_responses_roundtrip(response in strategy::pop3_response(),
                                status in strategy::pop3_status()) {
        response_roundtrip(&response)?;
        response_roundtrip(&Response::Status(status))?;
    }

    /// The `arbitrary` front end gives values that keep the same promise, from any
    /// bytes.
    #[test]
    fn arbitrary_values_roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        use ::arbitrary::{Arbitrary, Unstructured};
        let mut u = Unstructured::new(&bytes);
        smtp_roundtrip(&<smtp::Command as Arbitrary>::arbitrary(&mut u).unwrap())?;
        reply_roundtrip(&<Reply as Arbitrary>::arbitrary(&mut u).unwrap())?;
        pop3_roundtrip(&<pop3::Command as Arbitrary>::arbitrary(&mut u).unwrap())?;
        response_roundtrip(&<Response as Arbitrary>::arbitrary(&mut u).unwrap())?;
    }

    /// Every line a script holds encodes (so the player skips nothing) and a refused
    /// line is refused by the parser.
    #[test]
    fn script_steps_are_what_they_say(script in strategy::smtp_script(),
                                      pop in strategy::pop3_script(Account::default())) {
        for step in &script.steps {
            match step {
                SmtpStep::Command(c) => smtp_roundtrip(c)?,
                SmtpStep::Raw(line) => prop_assert!(
                    smtp::Command::parse(line, &smtp::ParseConfig::default()).is_err()
                ),
                _ => {}
            }
        }
        for step in &pop.steps {
            match step {
                Pop3Step::Command(c) => pop3_roundtrip(c)?,
                Pop3Step::Raw(line) => prop_assert!(
                    pop3::Command::parse(line, &pop3::Limits::default()).is_err()
                ),
                _ => {}
            }
        }
    }

    /// Played against the crate's SMTP server that accepts everything: every message
    /// acknowledged with 2xx arrived, byte for byte, once, and every step the player
    /// reached before the server closed was answered.
    #[test]
    fn smtp_sessions_play_to_the_end(script in strategy::smtp_script(),
                                     splits in proptest::collection::vec(1usize..9, 0..3)) {
        let (pair, stored) = play_smtp(script.clone(), splits);
        let player = &pair.client;
        prop_assert_eq!(player.garbled(), &[] as &[Vec<u8>]);
        prop_assert_eq!(stored.as_slice(), player.delivered());
        prop_assert_eq!(player.greeting().map(|r| r.code.get()), Some(220));
        prop_assert_eq!(pair.server.io(), Io::Closed);
        prop_assert!(player.is_done_for_test());
        // Steps sent before the end were answered (pauses need none; the last step may
        // have been cut off by a deadline's 421).
        for (i, step) in script.steps.iter().enumerate().take(player.steps_played().saturating_sub(1)) {
            if !matches!(step, SmtpStep::Pause(_)) {
                prop_assert!(player.replies_to(i).next().is_some(), "step {} unanswered", i);
            }
        }
    }

    /// The same for POP3: deletions reach the maildrop only after QUIT.
    #[test]
    fn pop3_sessions_play_to_the_end(script in strategy::pop3_script(Account::default())) {
        let (pair, deleted) = play_pop3(script.clone());
        let player = &pair.client;
        prop_assert_eq!(player.garbled(), &[] as &[Vec<u8>]);
        prop_assert_eq!(pair.server.io(), Io::Closed);
        let quit_ok = script.steps.iter().enumerate().any(|(i, s)| {
            matches!(s, Pop3Step::Command(pop3::Command::Quit))
                && player.answers_to(i).any(|a| matches!(&a.response, Response::Status(st) if st.is_ok()))
        });
        if !quit_ok {
            prop_assert_eq!(deleted, None);
        } else if let Some(deleted) = deleted {
            // UPDATE removes what DELE marked since the last RSET, nothing else.
            let mut marked = Vec::new();
            for (i, step) in script.steps.iter().enumerate() {
                let ok = player.answers_to(i).any(
                    |a| matches!(&a.response, Response::Status(st) if st.is_ok()),
                );
                match step {
                    Pop3Step::Command(pop3::Command::Dele(n)) if ok => marked.push(*n),
                    Pop3Step::Command(pop3::Command::Rset) if ok => marked.clear(),
                    _ => {}
                }
            }
            marked.sort_unstable();
            prop_assert_eq!(deleted, marked);
        }
    }
}

impl SmtpPlayer {
    fn is_done_for_test(&self) -> bool {
        super::Player::is_done(self)
    }
}

fn play_smtp(
    script: super::SmtpScript,
    splits: Vec<usize>,
) -> (Pair<SmtpPlayer, Server>, Vec<Vec<u8>>) {
    let mut config = ServerConfig::new("mx.example");
    config.extensions.chunking = true;
    let server = Server::new(Instant::ZERO, config);
    let mut pair = Pair::with_splits(SmtpPlayer::new(script), server, splits);
    let mut stored = Vec::new();
    let mut body = Vec::new();
    play(&mut pair, |server, now, event| match event {
        Event::Mail { .. } | Event::Rcpt { .. } => server.accept(now).unwrap(),
        Event::BodyChunk(chunk) => body.extend(chunk),
        Event::MessageEnd { .. } => {
            stored.push(core::mem::take(&mut body));
            server.accept(now).unwrap();
        }
        Event::MessageAborted { .. } => body.clear(),
        Event::Auth { .. } => server.auth_reject(now).unwrap(),
        _ => {}
    });
    (pair, stored)
}

const MESSAGE: &[u8] = b"Subject: hi\r\n\r\n.dot\r\nline\r\n";

/// Plays `script` against the POP3 server with the default account's maildrop; the
/// messages deleted at UPDATE, if the session got there.
fn play_pop3(script: super::Pop3Script) -> (Pair<Pop3Player, PopServer>, Option<Vec<u32>>) {
    let account = Account::default();
    let config = pop3::server::ServerConfig::default().with_plaintext_login(true);
    let server = PopServer::new(Instant::ZERO, config);
    let mut pair = Pair::new(Pop3Player::new(script), server);
    let mut deleted = None;
    play(&mut pair, |server, now, event| match event {
        PopEvent::Login { user, password } => {
            if user == account.user && password.expose() == &account.password {
                let messages = (0..account.messages)
                    .map(|i| {
                        MessageInfo::new(
                            MESSAGE.len() as u64,
                            UniqueId::new(format!("uid{i}")).unwrap(),
                        )
                    })
                    .collect();
                server.login_ok(now, Maildrop::new(messages)).unwrap();
            } else {
                server.login_failed(now).unwrap();
            }
        }
        PopEvent::Apop { .. } | PopEvent::Auth { .. } => server.login_failed(now).unwrap(),
        PopEvent::Retrieve { .. } => {
            server.message_start(now).unwrap();
            let _ = server.message_data(now, MESSAGE).unwrap();
            server.message_end(now).unwrap();
        }
        PopEvent::Update { deleted: d } => {
            deleted = Some(d);
            server.update_done(now).unwrap();
        }
        _ => {}
    });
    (pair, deleted)
}

#[test]
fn bytes_read_the_fewest_octets_and_zero_once_used_up() {
    let mut b = Bytes::new(&[7, 1, 2, 0xff]);
    assert_eq!(b.choose(10), 7);
    assert_eq!(b.choose(1000), 258, "two octets, 0x0102");
    assert_eq!(b.choose(1), 0, "one option takes no byte");
    assert_eq!(b.choose(256), 0xff);
    assert_eq!(b.choose(5), 0);
    let mut t = Tape::new(vec![9]);
    assert_eq!((t.choose(4), t.choose(4)), (1, 0));
}

#[test]
fn the_simplest_session_greets_and_quits() {
    let script = super::smtp::script(&mut Bytes::new(b""));
    assert_eq!(
        script.steps,
        [
            SmtpStep::Command(smtp::Command::Ehlo(smtp::Host::Domain(
                smtp::Domain::new("a").unwrap()
            ))),
            SmtpStep::Command(smtp::Command::Quit),
        ]
    );
    let (pair, _) = play_smtp(script, vec![]);
    let codes: Vec<u16> = pair
        .client
        .exchanges()
        .iter()
        .map(|e| e.reply.code.get())
        .collect();
    assert_eq!(codes, [220, 250, 221]);
}

#[test]
fn a_message_is_delivered_once_and_bdat_chunks_join() {
    let from: smtp::Mailbox = "a@example.org".parse().unwrap();
    let to: smtp::Mailbox = "b@example.org".parse().unwrap();
    let mut script = super::smtp::simple_script(from, to, b".lead\r\nend");
    let quit = script.steps.pop().unwrap();
    script.steps.extend([
        SmtpStep::Command(smtp::Command::Mail {
            from: smtp::ReversePath::Null,
            params: smtp::MailParams::default(),
        }),
        SmtpStep::Command(smtp::Command::Rcpt {
            to: smtp::ForwardPath::Postmaster,
            params: smtp::RcptParams::default(),
        }),
        SmtpStep::Bdat {
            chunk: b"one ".to_vec(),
            last: false,
        },
        SmtpStep::Bdat {
            chunk: b"two".to_vec(),
            last: true,
        },
        quit,
    ]);
    let (pair, stored) = play_smtp(script, vec![3]);
    assert_eq!(
        pair.client.delivered(),
        [b".lead\r\nend\r\n".to_vec(), b"one two".to_vec()]
    );
    assert_eq!(stored, pair.client.delivered());
    let data: Vec<u16> = pair.client.replies_to(3).map(|r| r.code.get()).collect();
    assert_eq!(data, [354, 250]);
}

#[test]
fn a_pause_past_the_idle_deadline_gets_421_in_virtual_time() {
    let script = super::SmtpScript {
        steps: vec![
            SmtpStep::Command(smtp::Command::Noop(None)),
            SmtpStep::Pause(Duration::from_secs(600)),
            SmtpStep::Command(smtp::Command::Noop(None)),
        ],
    };
    let (pair, _) = play_smtp(script, vec![]);
    let last = pair.client.exchanges().last().unwrap();
    assert_eq!((last.step, last.reply.code.get()), (None, 421));
    assert_eq!(
        pair.client.steps_played(),
        2,
        "the second NOOP was never sent"
    );
    assert_eq!(pair.now(), Instant::ZERO + Duration::from_secs(600));
    assert_eq!(pair.server.io(), Io::Closed);
}

#[test]
fn a_retr_body_is_read_whole_and_quit_deletes() {
    let account = Account::default();
    let script = super::Pop3Script {
        steps: vec![
            Pop3Step::Command(pop3::Command::User(account.user.clone())),
            Pop3Step::Command(pop3::Command::Pass(account.password.clone().into())),
            Pop3Step::Command(pop3::Command::Retr(2)),
            Pop3Step::Command(pop3::Command::Dele(2)),
            Pop3Step::Raw(b"DELE 0".to_vec()),
            Pop3Step::Command(pop3::Command::Quit),
        ],
    };
    let (pair, deleted) = play_pop3(script.clone());
    let retr: Vec<_> = pair.client.answers_to(2).collect();
    assert_eq!(retr.len(), 1);
    assert_eq!(retr[0].body.as_deref(), Some(MESSAGE));
    assert!(
        matches!(&pair.client.answers_to(4).next().unwrap().response,
        Response::Status(s) if !s.is_ok())
    );
    assert_eq!(deleted, Some(vec![2]));
    // Without QUIT nothing is deleted.
    let mut dropped = script;
    dropped.steps.pop();
    assert_eq!(play_pop3(dropped).1, None);
}
