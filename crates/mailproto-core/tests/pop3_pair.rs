//! The POP3 client machine talking to the POP3 server machine through the in-memory
//! `testing::Pair`, checked against a model maildrop.
//!
//! The property test generates a maildrop (mail-shaped bytes with leading dots, embedded
//! `CRLF . CRLF`, bare LF and CR, empty messages, lines over 2048 octets), a login, a
//! random sequence of TRANSACTION commands (with message numbers out of range or already
//! deleted), and an ending: QUIT, or a dropped connection. Both machines run over byte
//! splits chosen by the test, with or without PIPELINING. The server side is answered
//! from the model, the client side is collected, and everything is compared with what
//! the model says: one outcome per command, the exact bytes of every RETR and TOP, the
//! listings, and the deletions of the UPDATE state (which only QUIT reaches).

use mailproto_core::pop3::client::{
    Client, ClientConfig, CloseReason as ClientClose, CommandKind, Event as ClientEvent,
};
use mailproto_core::pop3::server::{
    CloseReason as ServerClose, Event as ServerEvent, Maildrop, MessageInfo, Server, ServerConfig,
};
use mailproto_core::pop3::{
    DropListing, ResponseCode, ScanListing, Secret, Status, UniqueId, UniqueIdListing, apop_digest,
};
use mailproto_core::testing::Pair;
use proptest::collection::vec;
use proptest::prelude::*;

/// The APOP timestamp of the RFC 1939 §10 example.
const TIMESTAMP: &str = "<1896.697170952@dbc.mtview.ca.us>";
const USER: &str = "alice";
/// The right password (spaces are part of a PASS argument, RFC 1939 §7).
const PASSWORD: &str = "open sesame";
const WRONG: &str = "open sesame!";
const SIGNOFF: &str = "bye";

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// One stored message: its bytes as the application keeps them, and its unique-id.
#[derive(Debug, Clone)]
struct Stored {
    bytes: Vec<u8>,
    uid: String,
}

impl Stored {
    /// What RETR must deliver: the stored bytes with every line break as CRLF, and a
    /// final CRLF when the message does not end with a line break.
    fn wire_body(&self) -> Vec<u8> {
        terminated(normalized(&self.bytes))
    }

    /// The size the maildrop listing reports: exactly what RETR sends (RFC 1939 §11).
    fn size(&self) -> u64 {
        self.wire_body().len() as u64
    }

    /// What `TOP msg lines` must deliver: the header, the blank line and at most `lines`
    /// body lines (the whole message when it has no blank line).
    fn top_body(&self, lines: u32) -> Vec<u8> {
        let text = normalized(&self.bytes);
        let mut out = Vec::new();
        let mut in_header = true;
        let mut left = lines;
        // After normalizing, every LF belongs to a CRLF: one piece per line.
        for line in text.split_inclusive(|&b| b == b'\n') {
            if !in_header && left == 0 {
                break;
            }
            out.extend_from_slice(line);
            if in_header {
                in_header = line != b"\r\n";
            } else {
                left -= 1;
            }
        }
        terminated(out)
    }
}

/// CRLF, bare CR and bare LF each become CRLF.
fn normalized(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// A non-empty body that does not end with CRLF gets one before the terminator.
fn terminated(mut body: Vec<u8>) -> Vec<u8> {
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// `1 message` / `N messages`, as the server words it.
fn messages(n: usize) -> String {
    if n == 1 {
        String::from("1 message")
    } else {
        format!("{n} messages")
    }
}

/// A TRANSACTION command of the generated sequence.
#[derive(Debug, Clone, Copy)]
enum Op {
    Stat,
    List(Option<u32>),
    Uidl(Option<u32>),
    Retr(u32),
    Top(u32, u32),
    Dele(u32),
    Rset,
    Noop,
}

/// A command the client issues.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    Capa,
    User,
    Pass(&'static str),
    Apop(&'static str),
    Op(Op),
    Quit,
}

/// What the model says the client must see for one command.
#[derive(Debug)]
enum Expect {
    /// The capability list, with or without PIPELINING.
    Capa,
    /// `+OK`, with this exact text when given.
    Ok(CommandKind, Option<String>),
    /// `-ERR`, with this response code when given.
    Err(CommandKind, Option<ResponseCode>),
    /// A successful login, with the text of its `+OK`.
    LoggedIn(CommandKind, String),
    /// One of the typed single-event answers (STAT, LIST, UIDL).
    Event(ClientEvent),
    /// A RETR or TOP answer: `+OK`, exactly these bytes, the terminator.
    Message {
        msg: u32,
        lines: Option<u32>,
        /// The `+OK` text of RETR.
        text: Option<String>,
        body: Vec<u8>,
    },
}

/// The maildrop as the session sees it: numbers never change, deletions are marks.
#[derive(Debug)]
struct Model<'a> {
    stored: &'a [Stored],
    deleted: Vec<bool>,
}

impl<'a> Model<'a> {
    fn new(stored: &'a [Stored]) -> Self {
        Model {
            stored,
            deleted: vec![false; stored.len()],
        }
    }

    /// The message `msg` if it exists and is not marked as deleted.
    fn live(&self, msg: u32) -> Option<&'a Stored> {
        let index = usize::try_from(msg).ok()?.checked_sub(1)?;
        match self.deleted.get(index) {
            Some(false) => self.stored.get(index),
            _ => None,
        }
    }

    fn live_all(&self) -> impl Iterator<Item = (u32, &'a Stored)> + '_ {
        (1..=self.stored.len() as u32).filter_map(|n| self.live(n).map(|s| (n, s)))
    }

    fn stat(&self) -> DropListing {
        self.live_all()
            .fold(DropListing { count: 0, size: 0 }, |d, (_, s)| DropListing {
                count: d.count + 1,
                size: d.size + s.size(),
            })
    }

    fn deleted(&self) -> Vec<u32> {
        (1..=self.stored.len() as u32)
            .filter(|&n| self.deleted[n as usize - 1])
            .collect()
    }

    fn uid(s: &Stored) -> UniqueId {
        UniqueId::new(s.uid.clone()).expect("generated unique-ids are valid")
    }

    /// Apply a TRANSACTION command; returns what the client must see, and the
    /// `Retrieve` question the server must ask, if any.
    fn apply(&mut self, op: Op) -> (Expect, Option<(u32, Option<u32>)>) {
        let expect = match op {
            Op::Stat => Expect::Event(ClientEvent::Stat(self.stat())),
            Op::List(None) => Expect::Event(ClientEvent::ScanList(
                self.live_all()
                    .map(|(msg, s)| ScanListing {
                        msg,
                        size: s.size(),
                    })
                    .collect(),
            )),
            Op::List(Some(n)) => match self.live(n) {
                Some(s) => Expect::Event(ClientEvent::Scan(ScanListing {
                    msg: n,
                    size: s.size(),
                })),
                None => Expect::Err(CommandKind::List(Some(n)), None),
            },
            Op::Uidl(None) => Expect::Event(ClientEvent::UidlList(
                self.live_all()
                    .map(|(msg, s)| UniqueIdListing {
                        msg,
                        uid: Self::uid(s),
                    })
                    .collect(),
            )),
            Op::Uidl(Some(n)) => match self.live(n) {
                Some(s) => Expect::Event(ClientEvent::Uidl(UniqueIdListing {
                    msg: n,
                    uid: Self::uid(s),
                })),
                None => Expect::Err(CommandKind::Uidl(Some(n)), None),
            },
            Op::Retr(n) => match self.live(n) {
                Some(s) => {
                    let expect = Expect::Message {
                        msg: n,
                        lines: None,
                        text: Some(format!("{} octets", s.size())),
                        body: s.wire_body(),
                    };
                    return (expect, Some((n, None)));
                }
                None => Expect::Err(CommandKind::Retr(n), None),
            },
            Op::Top(n, lines) => match self.live(n) {
                Some(s) => {
                    let expect = Expect::Message {
                        msg: n,
                        lines: Some(lines),
                        text: None,
                        body: s.top_body(lines),
                    };
                    return (expect, Some((n, Some(lines))));
                }
                None => Expect::Err(CommandKind::Top { msg: n, lines }, None),
            },
            Op::Dele(n) => match self.live(n) {
                Some(_) => {
                    self.deleted[n as usize - 1] = true;
                    Expect::Ok(CommandKind::Dele(n), None)
                }
                None => Expect::Err(CommandKind::Dele(n), None),
            },
            Op::Rset => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                Expect::Ok(CommandKind::Rset, None)
            }
            Op::Noop => Expect::Ok(CommandKind::Noop, None),
        };
        (expect, None)
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// How the session ends.
#[derive(Debug, Clone)]
enum End {
    /// QUIT; the application's UPDATE succeeds or fails.
    Quit { update_ok: bool },
    /// No QUIT: the client drops the connection once this many of its commands were
    /// answered (at most all of them).
    Drop { after: usize },
}

#[derive(Debug, Clone)]
struct Scenario {
    stored: Vec<Stored>,
    apop: bool,
    /// Log in with a wrong password first.
    bad_first: bool,
    ops: Vec<Op>,
    end: End,
    pipelining: bool,
    /// Byte splits of the Pair (empty: whole writes).
    splits: Vec<usize>,
    /// Chunk sizes the server application streams messages in, cycled.
    chunks: Vec<usize>,
}

impl Scenario {
    /// The commands the client issues, in order.
    fn commands(&self) -> Vec<Cmd> {
        let mut cmds = vec![Cmd::Capa];
        let mut login = |password| {
            if self.apop {
                cmds.push(Cmd::Apop(password));
            } else {
                cmds.push(Cmd::User);
                cmds.push(Cmd::Pass(password));
            }
        };
        if self.bad_first {
            login(WRONG);
        }
        login(PASSWORD);
        // The login drops what CAPA said (RFC 2449 §5): ask again.
        cmds.push(Cmd::Capa);
        cmds.extend(self.ops.iter().copied().map(Cmd::Op));
        if matches!(self.end, End::Quit { .. }) {
            cmds.push(Cmd::Quit);
        }
        cmds
    }

    fn maildrop(&self) -> Maildrop {
        Maildrop::new(
            self.stored
                .iter()
                .map(|s| MessageInfo::new(s.size(), Model::uid(s)))
                .collect(),
        )
    }
}

fn line_end() -> BoxedStrategy<&'static [u8]> {
    prop_oneof![
        12 => Just(&b"\r\n"[..]),
        2 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
    ]
    .boxed()
}

/// The content of one line (mostly without line breaks; a few carry an embedded body
/// terminator).
fn line_content() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        16 => "[ -~]{0,40}".prop_map(String::into_bytes),
        5 => "\\.[ -~]{0,12}".prop_map(String::into_bytes),
        3 => Just(b".".to_vec()),
        1 => Just(b"..".to_vec()),
        5 => Just(Vec::new()),
        4 => vec(any::<u8>().prop_filter("no line break", |b| *b != b'\r' && *b != b'\n'), 0..24),
        2 => Just(b"before\r\n.\r\nafter".to_vec()),
        1 => Just(b"bare\n.\nterminator".to_vec()),
        1 => (2049usize..3000, any::<bool>()).prop_map(|(n, dot)| {
            let mut line = vec![b'L'; n];
            if dot {
                line[0] = b'.';
            }
            line
        }),
    ]
    .boxed()
}

/// A stored message: header lines, usually a blank line, body lines; sometimes without
/// a final line break; sometimes nothing at all.
fn message() -> BoxedStrategy<Vec<u8>> {
    let header = ("[A-Z][a-z]{0,8}", "[ -~]{0,30}", line_end()).prop_map(|(name, value, end)| {
        let mut line = format!("{name}: {value}").into_bytes();
        line.extend_from_slice(end);
        line
    });
    let body_line = (line_content(), line_end()).prop_map(|(mut line, end)| {
        line.extend_from_slice(end);
        line
    });
    prop_oneof![
        1 => Just(Vec::new()),
        9 => (
            vec(header, 0..4),
            prop::option::weighted(0.8, line_end()),
            vec(body_line, 0..10),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(headers, blank, body, unterminated)| {
                let mut bytes: Vec<u8> = headers.concat();
                if let Some(end) = blank {
                    bytes.extend_from_slice(end);
                }
                bytes.extend(body.concat());
                if unterminated {
                    if bytes.ends_with(b"\r\n") {
                        bytes.truncate(bytes.len() - 2);
                    } else if bytes.ends_with(b"\n") || bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                bytes
            }),
    ]
    .boxed()
}

/// A TRANSACTION command; message numbers reach two past the maildrop.
fn op(count: u32) -> BoxedStrategy<Op> {
    let msg = 1..=count + 2;
    let lines = prop_oneof![6 => 0u32..4, 1 => Just(1000u32)];
    prop_oneof![
        2 => Just(Op::Stat),
        2 => prop::option::of(msg.clone()).prop_map(Op::List),
        2 => prop::option::of(msg.clone()).prop_map(Op::Uidl),
        4 => msg.clone().prop_map(Op::Retr),
        3 => (msg.clone(), lines).prop_map(|(m, k)| Op::Top(m, k)),
        3 => msg.prop_map(Op::Dele),
        1 => Just(Op::Rset),
        1 => Just(Op::Noop),
    ]
    .boxed()
}

fn splits() -> BoxedStrategy<Vec<usize>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => vec(1usize..8, 1..4),
        2 => vec(1usize..700, 1..6),
    ]
    .boxed()
}

fn scenario() -> impl Strategy<Value = Scenario> {
    vec(message(), 0..8).prop_flat_map(|bodies| {
        let count = bodies.len();
        (
            Just(bodies),
            // Made unique by the message number appended below.
            vec("[!-~]{1,60}", count),
            any::<bool>(),
            prop::bool::weighted(0.25),
            vec(op(count as u32), 0..24),
            prop_oneof![
                3 => any::<bool>().prop_map(|update_ok| End::Quit { update_ok }),
                1 => (0usize..32).prop_map(|after| End::Drop { after }),
            ],
            any::<bool>(),
            splits(),
            vec(1usize..700, 1..4),
        )
            .prop_map(
                |(bodies, uids, apop, bad_first, ops, end, pipelining, splits, chunks)| {
                    let stored = bodies
                        .into_iter()
                        .zip(uids)
                        .enumerate()
                        .map(|(i, (bytes, uid))| Stored {
                            bytes,
                            uid: format!("{uid}{}", i + 1),
                        })
                        .collect();
                    Scenario {
                        stored,
                        apop,
                        bad_first,
                        ops,
                        end,
                        pipelining,
                        splits,
                        chunks,
                    }
                },
            )
    })
}

// ---------------------------------------------------------------------------------------
// Running a scenario
// ---------------------------------------------------------------------------------------

/// What the server application saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Login { good: bool },
    Retrieve(u32, Option<u32>),
    Update(Vec<u32>),
    Closed(ServerClose),
    Other(ServerEvent),
}

/// The server application: credentials and messages from the scenario.
fn answer_server(s: &Scenario, server: &mut Server, ev: ServerEvent, seen: &mut Vec<Seen>) {
    match ev {
        ServerEvent::Login { user, password } => {
            let good = user == USER && password.expose() == PASSWORD;
            seen.push(Seen::Login { good });
            decide_login(s, server, good);
        }
        ServerEvent::Apop {
            user,
            digest,
            timestamp,
        } => {
            let good = user == USER && digest == apop_digest(&timestamp, PASSWORD.as_bytes());
            seen.push(Seen::Login { good });
            decide_login(s, server, good);
        }
        ServerEvent::Retrieve { msg, top_lines } => {
            seen.push(Seen::Retrieve(msg, top_lines));
            let bytes = &s.stored[msg as usize - 1].bytes;
            server.message_start().unwrap();
            let mut rest = &bytes[..];
            let mut sizes = s.chunks.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                if !server.message_data(chunk).unwrap() {
                    break;
                }
            }
            server.message_end().unwrap();
        }
        ServerEvent::Update { deleted } => {
            seen.push(Seen::Update(deleted));
            match s.end {
                End::Quit { update_ok: false } => server
                    .update_failed(Status::err("some deleted messages not removed"))
                    .unwrap(),
                _ => server.update_done().unwrap(),
            }
        }
        ServerEvent::Closed { reason } => seen.push(Seen::Closed(reason)),
        other => seen.push(Seen::Other(other)),
    }
}

fn decide_login(s: &Scenario, server: &mut Server, good: bool) {
    if good {
        server.login_ok(s.maildrop()).unwrap();
    } else {
        server.login_failed().unwrap();
    }
}

/// Issue one command on the client.
fn issue(client: &mut Client, cmd: Cmd) {
    let result = match cmd {
        Cmd::Capa => client.capa(),
        Cmd::User => client.user(USER),
        Cmd::Pass(p) => client.pass(&Secret::from(p)),
        Cmd::Apop(p) => client.apop(USER, &Secret::from(p)),
        Cmd::Op(op) => match op {
            Op::Stat => client.stat(),
            Op::List(n) => client.list(n),
            Op::Uidl(n) => client.uidl(n),
            Op::Retr(n) => client.retr(n),
            Op::Top(n, k) => client.top(n, k),
            Op::Dele(n) => client.dele(n),
            Op::Rset => client.rset(),
            Op::Noop => client.noop(),
        },
        Cmd::Quit => client.quit(),
    };
    result.unwrap_or_else(|e| panic!("{cmd:?} refused: {e}"));
}

/// Whether a client event completes the outcome of a command.
fn completes(ev: &ClientEvent) -> bool {
    !matches!(
        ev,
        ClientEvent::Greeting { .. }
            | ClientEvent::MessageStart { .. }
            | ClientEvent::MessageData(_)
            | ClientEvent::Closed { .. }
    )
}

/// The answer to one command as the client reported it.
#[derive(Debug)]
enum Outcome {
    Single(ClientEvent),
    /// `MessageStart`, the concatenated `MessageData`, and whether `MessageEnd` came.
    Message {
        start: ClientEvent,
        data: Vec<u8>,
        ended: bool,
    },
}

/// Cut the client's events into greeting, one outcome per answered command, and the
/// final `Closed`.
fn outcomes(events: Vec<ClientEvent>) -> Result<(Vec<Outcome>, ClientClose), TestCaseError> {
    let mut it = events.into_iter().peekable();
    let greeting = it.next();
    prop_assert!(
        matches!(&greeting, Some(ClientEvent::Greeting { status, apop_timestamp })
            if status.is_ok() && apop_timestamp.as_deref() == Some(TIMESTAMP)),
        "greeting: {greeting:?}"
    );
    let mut out = Vec::new();
    while let Some(ev) = it.next() {
        match ev {
            ClientEvent::Closed { reason } => {
                prop_assert!(it.next().is_none(), "events after Closed");
                return Ok((out, reason));
            }
            start @ ClientEvent::MessageStart { .. } => {
                let mut data = Vec::new();
                while let Some(ClientEvent::MessageData(chunk)) = it.peek() {
                    prop_assert!(!chunk.is_empty(), "empty MessageData");
                    data.extend_from_slice(chunk);
                    it.next();
                }
                let ended = it.next_if_eq(&ClientEvent::MessageEnd).is_some();
                out.push(Outcome::Message { start, data, ended });
            }
            ev => {
                prop_assert!(completes(&ev), "stray event {ev:?}");
                out.push(Outcome::Single(ev));
            }
        }
    }
    Err(TestCaseError::fail("the client never reported Closed"))
}

/// Compare one outcome with the model's expectation. `cut` allows a message that the
/// dropped connection interrupted.
fn check(expect: &Expect, got: &Outcome, pipelining: bool, cut: bool) -> Result<(), TestCaseError> {
    match (expect, got) {
        (Expect::Capa, Outcome::Single(ClientEvent::Capabilities(caps))) => {
            prop_assert_eq!(caps.contains("PIPELINING"), pipelining);
            for tag in ["TOP", "UIDL", "USER", "RESP-CODES"] {
                prop_assert!(caps.contains(tag), "CAPA lacks {}", tag);
            }
        }
        (Expect::Ok(kind, text), Outcome::Single(ClientEvent::Ok { command, status })) => {
            prop_assert_eq!(command, kind);
            if let Some(text) = text {
                prop_assert_eq!(&status.text, text);
            }
        }
        (Expect::Err(kind, code), Outcome::Single(ClientEvent::Err { command, status })) => {
            prop_assert_eq!(command, kind);
            if code.is_some() {
                prop_assert_eq!(&status.code, code);
            }
        }
        (
            Expect::LoggedIn(kind, text),
            Outcome::Single(ClientEvent::LoggedIn { command, status }),
        ) => {
            prop_assert_eq!(command, kind);
            prop_assert_eq!(&status.text, text);
        }
        (Expect::Event(ev), Outcome::Single(got)) => prop_assert_eq!(got, ev),
        (
            Expect::Message {
                msg,
                lines,
                text,
                body,
            },
            Outcome::Message { start, data, ended },
        ) => {
            let ClientEvent::MessageStart {
                msg: got_msg,
                lines: got_lines,
                status,
            } = start
            else {
                unreachable!()
            };
            prop_assert_eq!((got_msg, got_lines), (msg, lines));
            prop_assert!(status.is_ok());
            if let Some(text) = text {
                prop_assert_eq!(&status.text, text);
            }
            if *ended {
                prop_assert_eq!(
                    data,
                    body,
                    "message {} (lines {:?})\n got: {:?}\nwant: {:?}",
                    msg,
                    lines,
                    String::from_utf8_lossy(data),
                    String::from_utf8_lossy(body)
                );
            } else {
                prop_assert!(cut, "message {} without MessageEnd", msg);
                prop_assert!(body.starts_with(data), "message {} cut wrong", msg);
            }
        }
        (expect, got) => prop_assert!(false, "expected {:?}, got {:?}", expect, got),
    }
    Ok(())
}

/// Run a scenario through the pair and check it against the model.
fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let config = ServerConfig::default()
        .with_apop_timestamp(TIMESTAMP)
        .with_plaintext_login(true)
        .with_pipelining(s.pipelining)
        .with_signoff(SIGNOFF);
    let mut pair = Pair::with_splits(
        Client::new(ClientConfig::default()),
        Server::new(config),
        s.splits.clone(),
    );
    // The greeting first: APOP needs its timestamp.
    pair.pump();
    let cmds = s.commands();
    for &cmd in &cmds {
        issue(&mut pair.client, cmd);
    }

    // The model: what every command must bring, and what the server must ask.
    let mut model = Model::new(&s.stored);
    let mut expected = Vec::new();
    let mut retrievals = Vec::new();
    let (count, size) = {
        let d = model.stat();
        (d.count as usize, d.size)
    };
    let logged_in_text = format!("{USER}'s maildrop has {} ({size} octets)", messages(count));
    for &cmd in &cmds {
        expected.push(match cmd {
            Cmd::Capa => Expect::Capa,
            Cmd::User => Expect::Ok(CommandKind::User, None),
            Cmd::Pass(p) | Cmd::Apop(p) => {
                let kind = match cmd {
                    Cmd::Pass(_) => CommandKind::Pass,
                    _ => CommandKind::Apop,
                };
                if p == PASSWORD {
                    Expect::LoggedIn(kind, logged_in_text.clone())
                } else {
                    Expect::Err(kind, Some(ResponseCode::Auth))
                }
            }
            Cmd::Op(op) => {
                let (expect, retrieve) = model.apply(op);
                retrievals.extend(retrieve);
                expect
            }
            Cmd::Quit => {
                let left = model.stat().count as usize;
                match s.end {
                    End::Quit { update_ok: true } => {
                        let text = match left {
                            0 => format!("{SIGNOFF} (maildrop empty)"),
                            n => format!("{SIGNOFF} ({} left)", messages(n)),
                        };
                        Expect::Ok(CommandKind::Quit, Some(text))
                    }
                    _ => Expect::Err(CommandKind::Quit, None),
                }
            }
        });
    }

    // Drive both machines; the client drops the connection when told to.
    let drop_after = match &s.end {
        End::Drop { after } => Some((*after).min(cmds.len())),
        End::Quit { .. } => None,
    };
    let mut client_events = Vec::new();
    let mut answered = 0usize;
    let mut seen = Vec::new();
    pair.drive(
        |client, ev| {
            if completes(&ev) {
                answered += 1;
            }
            let greeting = matches!(ev, ClientEvent::Greeting { .. });
            client_events.push(ev);
            if drop_after == Some(answered) && (answered > 0 || greeting) {
                client.abort();
            }
        },
        |server, ev| answer_server(s, server, ev, &mut seen),
    );

    // The client: one outcome per command, in order, as the model says.
    let (got, closed) = outcomes(client_events)?;
    match drop_after {
        None => {
            prop_assert_eq!(closed, ClientClose::Quit);
            prop_assert_eq!(got.len(), cmds.len(), "one outcome per command");
        }
        Some(after) => {
            prop_assert_eq!(closed, ClientClose::Aborted);
            prop_assert!(got.len() >= after && got.len() <= cmds.len());
        }
    }
    let last = got.len().saturating_sub(1);
    for (i, (expect, outcome)) in expected.iter().zip(&got).enumerate() {
        let cut = drop_after.is_some() && i == last;
        check(expect, outcome, s.pipelining, cut)
            .map_err(|e| TestCaseError::fail(format!("command {i} ({:?}): {e}", cmds[i])))?;
    }

    // The server: the logins, the retrievals in order, UPDATE only after QUIT.
    let logins: Vec<&Seen> = seen
        .iter()
        .filter(|e| matches!(e, Seen::Login { .. }))
        .collect();
    let asked: Vec<(u32, Option<u32>)> = seen
        .iter()
        .filter_map(|e| match e {
            Seen::Retrieve(m, t) => Some((*m, *t)),
            _ => None,
        })
        .collect();
    let updates: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter_map(|(i, e)| matches!(e, Seen::Update(_)).then_some(i))
        .collect();
    let others: Vec<&Seen> = seen
        .iter()
        .filter(|e| matches!(e, Seen::Other(_)))
        .collect();
    prop_assert!(others.is_empty(), "unexpected server events {:?}", others);
    let closes = seen.iter().filter(|e| matches!(e, Seen::Closed(_))).count();
    prop_assert_eq!(closes, 1, "server Closed once: {:?}", seen);
    let client_saw = got
        .iter()
        .filter(|o| matches!(o, Outcome::Message { .. }))
        .count();
    match s.end {
        End::Quit { update_ok } => {
            let want_logins: Vec<Seen> = (s.bad_first.then_some(false).into_iter())
                .chain([true])
                .map(|good| Seen::Login { good })
                .collect();
            prop_assert_eq!(logins, want_logins.iter().collect::<Vec<_>>());
            prop_assert_eq!(&asked, &retrievals);
            prop_assert_eq!(updates.len(), 1, "one UPDATE: {:?}", seen);
            prop_assert_eq!(updates[0], seen.len() - 2, "UPDATE right before Closed");
            prop_assert_eq!(&seen[updates[0]], &Seen::Update(model.deleted()));
            prop_assert_eq!(
                seen.last(),
                Some(&Seen::Closed(ServerClose::Update { removed: update_ok }))
            );
        }
        End::Drop { .. } => {
            // The server may have gone further than the client read, in order.
            prop_assert!(
                retrievals.starts_with(&asked),
                "{:?} vs {:?}",
                asked,
                retrievals
            );
            prop_assert!(asked.len() >= client_saw);
            prop_assert!(updates.is_empty(), "UPDATE without QUIT: {:?}", seen);
            prop_assert_eq!(seen.last(), Some(&Seen::Closed(ServerClose::PeerClosed)));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Client and server agree with the model whatever the maildrop, the commands, the
    /// ending, the byte splits and the pipelining.
    #[test]
    fn client_and_server_agree_with_the_model(s in scenario()) {
        run(&s)?;
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic sessions
// ---------------------------------------------------------------------------------------

/// A message of exactly `size` octets: a header, a blank line, and a body line padded
/// with `fill`.
fn sized_message(subject: &str, fill: u8, size: usize) -> Vec<u8> {
    let mut m = format!("Subject: {subject}\r\n\r\n").into_bytes();
    let pad = size - m.len() - 2;
    m.extend(std::iter::repeat_n(fill, pad));
    m.extend_from_slice(b"\r\n");
    assert_eq!(m.len(), size);
    m
}

/// The RFC 1939 §10 example session, end to end: the transcript is the RFC's.
#[test]
fn rfc1939_section10_example_over_the_pair() {
    let stored = vec![
        Stored {
            bytes: sized_message("first", b'a', 120),
            uid: String::from("whqtswO00WBw418f9t5JxYwZ"),
        },
        Stored {
            bytes: sized_message("second", b'b', 200),
            uid: String::from("QhdPYR:00WBw1Ph7x7"),
        },
    ];
    let s = Scenario {
        stored,
        apop: true,
        bad_first: false,
        ops: Vec::new(),
        end: End::Quit { update_ok: true },
        pipelining: false,
        splits: vec![7, 1, 30],
        chunks: vec![50],
    };
    let config = ServerConfig::default()
        .with_apop_timestamp(TIMESTAMP)
        .with_signoff("dewey POP3 server signing off");
    let mut pair = Pair::with_splits(
        Client::new(ClientConfig::default()),
        Server::new(config),
        s.splits.clone(),
    );
    pair.pump();
    let client = &mut pair.client;
    client.apop("mrose", &Secret::from("tanstaaf")).unwrap();
    client.stat().unwrap();
    client.list(None).unwrap();
    client.retr(1).unwrap();
    client.dele(1).unwrap();
    client.retr(2).unwrap();
    client.dele(2).unwrap();
    client.quit().unwrap();

    let mut events = Vec::new();
    let mut seen = Vec::new();
    pair.drive(
        |_, ev| events.push(ev),
        |server, ev| match ev {
            ServerEvent::Apop {
                user,
                digest,
                timestamp,
            } => {
                assert_eq!(user, "mrose");
                assert_eq!(digest, apop_digest(&timestamp, b"tanstaaf"));
                server.login_ok(s.maildrop()).unwrap();
            }
            ev => answer_server(&s, server, ev, &mut seen),
        },
    );

    // The padding lines: the size less the header, the blank line and two CRLFs.
    let a = "a".repeat(120 - "Subject: first".len() - 6);
    let b = "b".repeat(200 - "Subject: second".len() - 6);
    let expected = format!(
        "\
S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
S: +OK mrose's maildrop has 2 messages (320 octets)
C: STAT
S: +OK 2 320
C: LIST
S: +OK 2 messages (320 octets)
S: 1 120
S: 2 200
S: .
C: RETR 1
S: +OK 120 octets
S: Subject: first
S: 
S: {a}
S: .
C: DELE 1
S: +OK message 1 deleted
C: RETR 2
S: +OK 200 octets
S: Subject: second
S: 
S: {b}
S: .
C: DELE 2
S: +OK message 2 deleted
C: QUIT
S: +OK dewey POP3 server signing off (maildrop empty)
"
    );
    assert_eq!(pair.transcript(), expected);
    assert_eq!(
        seen,
        [
            Seen::Retrieve(1, None),
            Seen::Retrieve(2, None),
            Seen::Update(vec![1, 2]),
            Seen::Closed(ServerClose::Update { removed: true }),
        ]
    );
    let bodies: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::MessageData(d) => Some(&d[..]),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        bodies,
        [&s.stored[0].bytes[..], &s.stored[1].bytes[..]].concat()
    );
    assert_eq!(
        events.last(),
        Some(&ClientEvent::Closed {
            reason: ClientClose::Quit
        })
    );
}

/// A connection dropped after DELE: the server reports no UPDATE, nothing is removed.
#[test]
fn dropped_connection_removes_nothing() {
    let s = Scenario {
        stored: vec![Stored {
            bytes: b"Subject: x\r\n\r\n.dot\n".to_vec(),
            uid: String::from("u1"),
        }],
        apop: false,
        bad_first: true,
        ops: vec![Op::Dele(1), Op::Stat, Op::Retr(1)],
        end: End::Drop { after: usize::MAX },
        pipelining: true,
        splits: vec![3],
        chunks: vec![4],
    };
    run(&s).unwrap();
}
