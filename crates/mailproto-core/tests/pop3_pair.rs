//! The POP3 client machine talking to the POP3 server machine through the in-memory
//! `testing::Pair`, checked against a model maildrop.
//!
//! The property test generates a maildrop (mail-shaped bytes with leading dots, embedded
//! `CRLF . CRLF`, bare LF and CR, no final line break, empty messages, lines over 2048
//! octets, now and then a message larger than the server's 32 KiB output mark), a login
//! (USER/PASS or APOP, sometimes failing first, sometimes never succeeding), a random
//! sequence of TRANSACTION commands (message numbers out of range or already deleted),
//! and an ending: QUIT, or a connection the client drops. Both machines run over byte
//! splits chosen by the test, with or without PIPELINING and with small client pipeline
//! windows. The server side is answered from the model, streaming messages in random
//! chunks; the client side is collected. Everything is compared with the model: one
//! outcome per command, the exact bytes of every RETR and TOP, the listings, the
//! refusals, and the deletions of the UPDATE state, which only QUIT in TRANSACTION
//! reaches. A session ending with QUIT must also cross the same bytes and give the same
//! client events when run again over whole writes and whole messages.
//!
//! Two fixed sessions follow: the RFC 1939 §10 example, compared with its transcript,
//! and a dropped connection after DELE.

use mailproto_core::pop3::client::{
    Client, ClientConfig, CloseReason as ClientClose, CommandKind, Event as ClientEvent,
};
use mailproto_core::pop3::server::{
    CloseReason as ServerClose, Event as ServerEvent, Maildrop, MessageInfo, ProtocolError, Server,
    ServerConfig,
};
use mailproto_core::pop3::{
    DropListing, ResponseCode, ScanListing, Secret, Status, UniqueId, UniqueIdListing, apop_digest,
};
use mailproto_core::testing::Pair;
use proptest::collection::vec;
use proptest::prelude::*;

const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

/// The APOP timestamp of the RFC 1939 §10 example.
const TIMESTAMP: &str = "<1896.697170952@dbc.mtview.ca.us>";
const USER: &str = "alice";
/// The right password (spaces are part of a PASS argument, RFC 1939 §7).
const PASSWORD: &str = "open sesame";
const WRONG: &str = "open sesame!";
const SIGNOFF: &str = "bye";
/// Refused commands after which the server closes the session.
const MAX_BAD: u32 = 6;

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

impl Op {
    fn kind(self) -> CommandKind {
        match self {
            Op::Stat => CommandKind::Stat,
            Op::List(n) => CommandKind::List(n),
            Op::Uidl(n) => CommandKind::Uidl(n),
            Op::Retr(n) => CommandKind::Retr(n),
            Op::Top(msg, lines) => CommandKind::Top { msg, lines },
            Op::Dele(n) => CommandKind::Dele(n),
            Op::Rset => CommandKind::Rset,
            Op::Noop => CommandKind::Noop,
        }
    }
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

/// The login attempts before the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempts {
    Good,
    /// A wrong password, then the right one.
    BadThenGood,
    /// Only a wrong password: the commands meet the AUTHORIZATION state.
    OnlyBad,
}

#[derive(Debug, Clone)]
struct Scenario {
    stored: Vec<Stored>,
    apop: bool,
    attempts: Attempts,
    ops: Vec<Op>,
    end: End,
    /// The server advertises PIPELINING.
    pipelining: bool,
    /// The client's pipeline window in octets.
    window: usize,
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
        match self.attempts {
            Attempts::Good => login(PASSWORD),
            Attempts::BadThenGood => {
                login(WRONG);
                login(PASSWORD);
            }
            Attempts::OnlyBad => login(WRONG),
        }
        // The login drops what CAPA said (RFC 2449 §5): ask again.
        cmds.push(Cmd::Capa);
        cmds.extend(self.ops.iter().copied().map(Cmd::Op));
        if matches!(self.end, End::Quit { .. }) {
            cmds.push(Cmd::Quit);
        }
        cmds
    }

    fn server_config(&self) -> ServerConfig {
        ServerConfig::default()
            .with_apop_timestamp(TIMESTAMP)
            .with_plaintext_login(true)
            .with_pipelining(self.pipelining)
            .with_signoff(SIGNOFF)
            .with_max_errors(MAX_BAD)
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::default();
        config.pipeline_window = self.window;
        config
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
    // Over the 32 KiB of output after which the server stops reading commands.
    let big = (32usize..48).prop_map(|n| {
        let mut m = b"Subject: big\r\n\r\n".to_vec();
        for i in 0..n {
            m.extend(std::iter::repeat_n(b'0' + (i % 10) as u8, 1000));
            m.extend_from_slice(b"\r\n");
        }
        m
    });
    prop_oneof![
        4 => Just(Vec::new()),
        1 => big,
        35 => (
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
            prop_oneof![
                5 => Just(Attempts::Good),
                2 => Just(Attempts::BadThenGood),
                1 => Just(Attempts::OnlyBad),
            ],
            vec(op(count as u32), 0..24),
            prop_oneof![
                3 => any::<bool>().prop_map(|update_ok| End::Quit { update_ok }),
                1 => (0usize..32).prop_map(|after| End::Drop { after }),
            ],
            any::<bool>(),
            prop_oneof![Just(4096usize), 8usize..64],
            splits(),
            prop_oneof![vec(1usize..8, 1..4), vec(1usize..700, 1..4)],
        )
            .prop_map(
                |(bodies, uids, apop, attempts, ops, end, pipelining, window, splits, chunks)| {
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
                        attempts,
                        ops,
                        end,
                        pipelining,
                        window,
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
    Login {
        good: bool,
    },
    Retrieve(u32, Option<u32>),
    Update(Vec<u32>),
    /// A command refused in the wrong state, by keyword.
    Refused(String),
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
            server.message_start(T0).unwrap();
            let mut rest = &bytes[..];
            let mut sizes = s.chunks.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                if !server.message_data(T0, chunk).unwrap() {
                    break;
                }
            }
            server.message_end(T0).unwrap();
        }
        ServerEvent::Update { deleted } => {
            seen.push(Seen::Update(deleted));
            match s.end {
                End::Quit { update_ok: false } => server
                    .update_failed(T0, Status::err("some deleted messages not removed"))
                    .unwrap(),
                _ => server.update_done(T0).unwrap(),
            }
        }
        ServerEvent::Closed { reason } => seen.push(Seen::Closed(reason)),
        ServerEvent::ProtocolError {
            error: ProtocolError::WrongState { command, .. },
        } => seen.push(Seen::Refused(command)),
        other => seen.push(Seen::Other(other)),
    }
}

fn decide_login(s: &Scenario, server: &mut Server, good: bool) {
    if good {
        server.login_ok(T0, s.maildrop()).unwrap();
    } else {
        server.login_failed(T0).unwrap();
    }
}

/// Issue one command on the client.
fn issue(client: &mut Client, cmd: Cmd) {
    let result = match cmd {
        Cmd::Capa => client.capa(T0),
        Cmd::User => client.user(T0, USER),
        Cmd::Pass(p) => client.pass(T0, &Secret::from(p)),
        Cmd::Apop(p) => client.apop(T0, USER, &Secret::from(p)),
        Cmd::Op(op) => match op {
            Op::Stat => client.stat(T0),
            Op::List(n) => client.list(T0, n),
            Op::Uidl(n) => client.uidl(T0, n),
            Op::Retr(n) => client.retr(T0, n),
            Op::Top(n, k) => client.top(T0, n, k),
            Op::Dele(n) => client.dele(T0, n),
            Op::Rset => client.rset(T0),
            Op::Noop => client.noop(T0),
        },
        Cmd::Quit => client.quit(T0),
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

/// What the model says the whole session must look like when nobody drops the
/// connection.
#[derive(Debug)]
struct Plan {
    /// One per command answered: all of them, unless the server closes first.
    expected: Vec<Expect>,
    /// The outcome of each login the server is asked to decide.
    logins: Vec<bool>,
    /// The `Retrieve` questions, in order.
    retrievals: Vec<(u32, Option<u32>)>,
    /// Commands the server refuses in the AUTHORIZATION state, by keyword.
    refused: Vec<String>,
    /// The deletions the UPDATE state reports, if it is reached.
    update: Option<Vec<u32>>,
    server_close: ServerClose,
    client_close: ClientClose,
}

fn plan(s: &Scenario, cmds: &[Cmd]) -> Plan {
    let mut model = Model::new(&s.stored);
    let mut plan = Plan {
        expected: Vec::new(),
        logins: Vec::new(),
        retrievals: Vec::new(),
        refused: Vec::new(),
        update: None,
        server_close: ServerClose::PeerClosed,
        client_close: ClientClose::Aborted,
    };
    let stat = model.stat();
    let logged_in_text = format!(
        "{USER}'s maildrop has {} ({} octets)",
        messages(stat.count as usize),
        stat.size
    );
    let mut logged_in = false;
    let mut bad = 0;
    for &cmd in cmds {
        let expect = match cmd {
            Cmd::Capa => Expect::Capa,
            Cmd::User => Expect::Ok(CommandKind::User, None),
            Cmd::Pass(password) | Cmd::Apop(password) => {
                let kind = match cmd {
                    Cmd::Pass(_) => CommandKind::Pass,
                    _ => CommandKind::Apop,
                };
                let good = password == PASSWORD;
                plan.logins.push(good);
                logged_in |= good;
                if good {
                    Expect::LoggedIn(kind, logged_in_text.clone())
                } else {
                    Expect::Err(kind, Some(ResponseCode::Auth))
                }
            }
            Cmd::Op(op) if logged_in => {
                let (expect, retrieve) = model.apply(op);
                plan.retrievals.extend(retrieve);
                expect
            }
            Cmd::Op(op) => {
                // RFC 1939 §3: not valid before a login; the MAX_BAD-th ends the session.
                plan.refused.push(String::from(op.kind().keyword()));
                plan.expected.push(Expect::Err(op.kind(), None));
                bad += 1;
                if bad == MAX_BAD {
                    plan.server_close = ServerClose::TooManyErrors;
                    plan.client_close = ClientClose::PeerClosed;
                    return plan;
                }
                continue;
            }
            Cmd::Quit if !logged_in => {
                // RFC 1939 §4: QUIT in AUTHORIZATION, no UPDATE.
                plan.server_close = ServerClose::Quit;
                plan.client_close = ClientClose::Quit;
                Expect::Ok(CommandKind::Quit, Some(String::from(SIGNOFF)))
            }
            Cmd::Quit => {
                let update_ok = !matches!(s.end, End::Quit { update_ok: false });
                plan.update = Some(model.deleted());
                plan.server_close = ServerClose::Update { removed: update_ok };
                plan.client_close = ClientClose::Quit;
                let left = model.stat().count as usize;
                match (update_ok, left) {
                    (false, _) => Expect::Err(CommandKind::Quit, None),
                    (true, 0) => Expect::Ok(
                        CommandKind::Quit,
                        Some(format!("{SIGNOFF} (maildrop empty)")),
                    ),
                    (true, n) => Expect::Ok(
                        CommandKind::Quit,
                        Some(format!("{SIGNOFF} ({} left)", messages(n))),
                    ),
                }
            }
        };
        plan.expected.push(expect);
    }
    plan
}

/// What one run showed: each direction of the transcript on its own, and the client's
/// events with adjacent `MessageData` merged. None of it may depend on the byte splits
/// or the chunks the application streams messages in.
#[derive(Debug, PartialEq, Eq)]
struct Wire {
    client_sent: Vec<String>,
    server_sent: Vec<String>,
    events: Vec<ClientEvent>,
}

impl Wire {
    fn new(transcript: &str, events: &[ClientEvent]) -> Self {
        let side = |tag: &str| -> Vec<String> {
            transcript
                .lines()
                .filter_map(|l| l.strip_prefix(tag).map(String::from))
                .collect()
        };
        let mut merged: Vec<ClientEvent> = Vec::new();
        for ev in events {
            match (merged.last_mut(), ev) {
                (Some(ClientEvent::MessageData(prev)), ClientEvent::MessageData(more)) => {
                    prev.extend_from_slice(more);
                }
                _ => merged.push(ev.clone()),
            }
        }
        Wire {
            client_sent: side("C: "),
            server_sent: side("S: "),
            events: merged,
        }
    }
}

/// Run a scenario through the pair and check it against the model.
fn run(s: &Scenario) -> Result<Wire, TestCaseError> {
    let mut pair = Pair::with_splits(
        Client::new(T0, s.client_config()),
        Server::new(T0, s.server_config()),
        s.splits.clone(),
    );
    // The greeting first: APOP needs its timestamp.
    pair.pump();
    let cmds = s.commands();
    for &cmd in &cmds {
        issue(&mut pair.client, cmd);
    }
    let plan = plan(s, &cmds);

    // Drive both machines; the client drops the connection when told to.
    let drop_after = match s.end {
        End::Drop { after } => Some(after.min(cmds.len())),
        End::Quit { .. } => None,
    };
    let mut client_events = Vec::new();
    let mut answered = 0usize;
    let mut seen = Vec::new();
    pair.drive(
        |client, _now, ev| {
            if completes(&ev) {
                answered += 1;
            }
            let greeting = matches!(ev, ClientEvent::Greeting { .. });
            client_events.push(ev);
            if drop_after == Some(answered) && (answered > 0 || greeting) {
                client.abort(T0);
            }
        },
        |server, _now, ev| answer_server(s, server, ev, &mut seen),
    );

    let wire = Wire::new(&pair.transcript(), &client_events);

    // The client: one outcome per command answered, in order, as the model says.
    let (got, closed) = outcomes(client_events)?;
    let answerable = plan.expected.len();
    match drop_after {
        None => {
            prop_assert_eq!(got.len(), answerable, "one outcome per command");
            prop_assert_eq!(closed, plan.client_close.clone());
        }
        Some(after) => {
            prop_assert!(got.len() >= after.min(answerable) && got.len() <= answerable);
            // The server closing first (too many bad commands) beats the drop.
            let want = if after <= answerable {
                ClientClose::Aborted
            } else {
                plan.client_close.clone()
            };
            prop_assert_eq!(closed, want);
        }
    }
    let last = got.len().saturating_sub(1);
    for (i, (expect, outcome)) in plan.expected.iter().zip(&got).enumerate() {
        let cut = drop_after.is_some() && i == last;
        check(expect, outcome, s.pipelining, cut)
            .map_err(|e| TestCaseError::fail(format!("command {i} ({:?}): {e}", cmds[i])))?;
    }

    // The server: the logins, the retrievals and refusals in order, UPDATE only after
    // QUIT in TRANSACTION.
    let logins: Vec<bool> = seen
        .iter()
        .filter_map(|e| match e {
            Seen::Login { good } => Some(*good),
            _ => None,
        })
        .collect();
    let asked: Vec<(u32, Option<u32>)> = seen
        .iter()
        .filter_map(|e| match e {
            Seen::Retrieve(m, t) => Some((*m, *t)),
            _ => None,
        })
        .collect();
    let refused: Vec<String> = seen
        .iter()
        .filter_map(|e| match e {
            Seen::Refused(keyword) => Some(keyword.clone()),
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
    let Some(Seen::Closed(server_closed)) = seen.last().cloned() else {
        return Err(TestCaseError::fail(format!("server Closed last: {seen:?}")));
    };
    match drop_after {
        None => {
            prop_assert_eq!(&logins, &plan.logins);
            prop_assert_eq!(&asked, &plan.retrievals);
            prop_assert_eq!(&refused, &plan.refused);
            match &plan.update {
                Some(deleted) => {
                    prop_assert_eq!(updates.len(), 1, "one UPDATE: {:?}", seen);
                    prop_assert_eq!(updates[0], seen.len() - 2, "UPDATE right before Closed");
                    prop_assert_eq!(&seen[updates[0]], &Seen::Update(deleted.clone()));
                }
                None => prop_assert!(updates.is_empty(), "UPDATE without QUIT: {:?}", seen),
            }
            prop_assert_eq!(server_closed, plan.server_close);
        }
        Some(after) => {
            // The server may have gone further than the client read, in order.
            prop_assert!(plan.logins.starts_with(&logins));
            prop_assert!(plan.retrievals.starts_with(&asked), "{:?}", asked);
            prop_assert!(plan.refused.starts_with(&refused), "{:?}", refused);
            let client_saw = got
                .iter()
                .filter(|o| matches!(o, Outcome::Message { .. }))
                .count();
            prop_assert!(asked.len() >= client_saw);
            prop_assert!(updates.is_empty(), "UPDATE without QUIT: {:?}", seen);
            if after >= answerable {
                prop_assert_eq!(server_closed, plan.server_close);
            } else {
                prop_assert!(
                    [ServerClose::PeerClosed, plan.server_close].contains(&server_closed),
                    "server closed: {:?}",
                    server_closed
                );
            }
        }
    }
    Ok(wire)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Client and server agree with the model whatever the maildrop, the commands, the
    /// ending, the byte splits and the pipelining.
    #[test]
    fn client_and_server_agree_with_the_model(s in scenario()) {
        let split = run(&s)?;
        // Without a drop (whose moment depends on what has arrived), the same session
        // over whole writes and whole messages crosses the same bytes.
        if matches!(s.end, End::Quit { .. }) {
            let whole = Scenario {
                splits: Vec::new(),
                chunks: vec![usize::MAX],
                ..s.clone()
            };
            prop_assert_eq!(split, run(&whole)?);
        }
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
        attempts: Attempts::Good,
        ops: Vec::new(),
        end: End::Quit { update_ok: true },
        pipelining: false,
        window: 4096,
        splits: vec![7, 1, 30],
        chunks: vec![50],
    };
    let config = ServerConfig::default()
        .with_apop_timestamp(TIMESTAMP)
        .with_signoff("dewey POP3 server signing off");
    let mut pair = Pair::with_splits(
        Client::new(T0, ClientConfig::default()),
        Server::new(T0, config),
        s.splits.clone(),
    );
    pair.pump();
    let client = &mut pair.client;
    client.apop(T0, "mrose", &Secret::from("tanstaaf")).unwrap();
    client.stat(T0).unwrap();
    client.list(T0, None).unwrap();
    client.retr(T0, 1).unwrap();
    client.dele(T0, 1).unwrap();
    client.retr(T0, 2).unwrap();
    client.dele(T0, 2).unwrap();
    client.quit(T0).unwrap();

    let mut events = Vec::new();
    let mut seen = Vec::new();
    pair.drive(
        |_, _now, ev| events.push(ev),
        |server, _now, ev| match ev {
            ServerEvent::Apop {
                user,
                digest,
                timestamp,
            } => {
                assert_eq!(user, "mrose");
                assert_eq!(digest, apop_digest(&timestamp, b"tanstaaf"));
                server.login_ok(T0, s.maildrop()).unwrap();
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
        attempts: Attempts::BadThenGood,
        ops: vec![Op::Dele(1), Op::Stat, Op::Retr(1)],
        end: End::Drop { after: usize::MAX },
        pipelining: true,
        window: 4096,
        splits: vec![3],
        chunks: vec![4],
    };
    let wire = run(&s).unwrap();
    assert_eq!(
        wire.client_sent,
        [
            "CAPA",
            "USER alice",
            "PASS open sesame!",
            "USER alice",
            "PASS open sesame",
            "CAPA",
            "DELE 1",
            "STAT",
            "RETR 1"
        ]
    );
}
