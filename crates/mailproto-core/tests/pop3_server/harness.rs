//! A transcript harness for the POP3 server machine: a scripted application (a model
//! maildrop of byte strings and a user table) answers every event, and everything that
//! crosses is recorded as `C:` (client), `S:` (server) and `A:` (event seen by the
//! application) lines.

#![allow(dead_code)]

use std::fmt::Write as _;

use mailproto_core::pop3::server::{Event, Maildrop, MessageInfo, Server, ServerConfig};
use mailproto_core::pop3::{Status, UniqueId, apop_digest};
use mailproto_core::sasl::Credentials;
use mailproto_core::{Io, Machine};

const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

/// The APOP timestamp of RFC 1939 §10.
pub const RFC_TIMESTAMP: &str = "<1896.697170952@dbc.mtview.ca.us>";

/// How the model answers the login questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMode {
    /// Check the user table.
    Check,
    /// Good credentials, but the maildrop is locked.
    InUse,
    /// `-ERR [SYS/TEMP]` whatever the credentials.
    SysTemp,
}

/// The scripted application.
#[derive(Debug, Clone)]
pub struct Model {
    /// user, password
    pub users: Vec<(String, String)>,
    /// message bytes, unique-id
    pub messages: Vec<(Vec<u8>, String)>,
    pub login: LoginMode,
    /// Chunk size for `message_data`.
    pub chunk: usize,
    /// Answer Update with `update_failed`.
    pub update_fails: bool,
    /// Answer Retrieve of this message with `message_unavailable`.
    pub unavailable: Option<u32>,
    /// Abort the transfer of this message after its first chunk.
    pub abort: Option<u32>,
    /// Every event seen, in order.
    pub events: Vec<Event>,
    /// Bytes the application read from the store for each Retrieve (to check that TOP
    /// lets it stop early).
    pub read: Vec<usize>,
}

impl Model {
    pub fn new(messages: &[&[u8]]) -> Self {
        Model {
            users: vec![
                ("mrose".into(), "tanstaaf".into()),
                ("tim".into(), "tanstaaftanstaaf".into()),
            ],
            messages: messages
                .iter()
                .enumerate()
                .map(|(i, m)| (m.to_vec(), format!("uid-{}", i + 1)))
                .collect(),
            login: LoginMode::Check,
            chunk: 7,
            update_fails: false,
            unavailable: None,
            abort: None,
            events: Vec::new(),
            read: Vec::new(),
        }
    }

    pub fn maildrop(&self) -> Maildrop {
        Maildrop::new(
            self.messages
                .iter()
                .map(|(bytes, uid)| {
                    MessageInfo::new(bytes.len() as u64, UniqueId::new(uid.clone()).unwrap())
                })
                .collect(),
        )
    }

    fn password(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
    }

    fn decide(&self, server: &mut Server, good: bool) {
        match (self.login, good) {
            (LoginMode::SysTemp, _) => server
                .login_error(
                    T0,
                    Status::err("maildrop cannot be opened")
                        .with_code(mailproto_core::pop3::ResponseCode::SysTemp),
                )
                .unwrap(),
            (_, false) => server.login_failed(T0).unwrap(),
            (LoginMode::InUse, true) => server.login_in_use(T0).unwrap(),
            (LoginMode::Check, true) => server.login_ok(T0, self.maildrop()).unwrap(),
        }
    }

    /// Answer one event.
    pub fn answer(&mut self, server: &mut Server, event: Event) {
        self.events.push(event.clone());
        match event {
            Event::Login { user, password } => {
                let good = self.password(&user) == Some(password.expose().as_str());
                self.decide(server, good);
            }
            Event::Apop {
                user,
                digest,
                timestamp,
            } => {
                let good = self
                    .password(&user)
                    .is_some_and(|p| apop_digest(&timestamp, p.as_bytes()) == digest);
                self.decide(server, good);
            }
            Event::Auth { credentials } => {
                let good = match &credentials {
                    Credentials::Plain {
                        authcid, password, ..
                    } => self.password(authcid) == Some(password.expose().as_str()),
                    Credentials::CramMd5(r) => self
                        .password(&r.username)
                        .is_some_and(|p| r.verify(p.as_bytes())),
                    _ => false,
                };
                self.decide(server, good);
            }
            Event::Retrieve { msg, .. } => {
                if self.unavailable == Some(msg) {
                    server
                        .message_unavailable(T0, Status::err("message cannot be read"))
                        .unwrap();
                    return;
                }
                let bytes = self.messages[msg as usize - 1].0.clone();
                server.message_start(T0).unwrap();
                let mut read = 0;
                for chunk in bytes.chunks(self.chunk.max(1)) {
                    read += chunk.len();
                    if self.abort == Some(msg) {
                        server.message_abort(T0).unwrap();
                        self.read.push(read);
                        return;
                    }
                    if !server.message_data(T0, chunk).unwrap() {
                        break;
                    }
                }
                self.read.push(read);
                server.message_end(T0).unwrap();
            }
            Event::Update { .. } => {
                if self.update_fails {
                    server
                        .update_failed(T0, Status::err("some deleted messages not removed"))
                        .unwrap();
                } else {
                    server.update_done(T0).unwrap();
                }
            }
            _ => {}
        }
    }
}

/// A server driven by the model, with its transcript.
pub struct Session {
    pub server: Server,
    pub model: Model,
    pub transcript: String,
    /// Every byte the server sent.
    pub wire: Vec<u8>,
    /// Server bytes not yet written to the transcript (an incomplete line).
    partial: Vec<u8>,
    /// Record `A:` lines.
    pub show_events: bool,
}

impl Session {
    pub fn new(config: ServerConfig, model: Model) -> Self {
        let mut s = Session {
            server: Server::new(T0, config),
            model,
            transcript: String::new(),
            wire: Vec::new(),
            partial: Vec::new(),
            show_events: true,
        };
        s.run();
        s
    }

    /// Send raw client bytes (any number of lines, or part of one) in one feed.
    pub fn send(&mut self, bytes: &[u8]) {
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            self.transcript.push_str("C: ");
            escape(&mut self.transcript, line);
            self.transcript.push('\n');
        }
        self.server.feed(T0, bytes);
        self.run();
    }

    /// Send one command line (CRLF added).
    pub fn c(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes());
    }

    /// The client closes its side.
    pub fn eof(&mut self) {
        self.transcript.push_str("C: <close>\n");
        self.server.feed_eof(T0);
        self.run();
    }

    /// The client stays silent until the next deadline, which fires.
    pub fn timeout(&mut self) {
        self.transcript.push_str("C: <silence>\n");
        let due = self.server.poll_timeout().expect("a deadline runs");
        self.server.handle_timeout(due);
        self.run();
    }

    /// The TLS handshake completes.
    pub fn tls(&mut self) {
        assert_eq!(self.server.io(), Io::AwaitingTls);
        self.transcript.push_str("C: <TLS handshake>\n");
        self.server.tls_established(T0);
        self.run();
    }

    /// Flush and answer until quiet, one event at a time (each answer's output is
    /// recorded before the next event).
    pub fn run(&mut self) {
        loop {
            let mut out = Vec::new();
            let mut progress = false;
            while self.server.poll_transmit(&mut out) > 0 {
                progress = true;
            }
            // The client takes everything at once.
            self.server.transmitted(T0, out.len());
            self.wire.extend_from_slice(&out);
            self.partial.extend_from_slice(&out);
            if let Some(event) = self.server.poll_event() {
                progress = true;
                self.flush_lines();
                if let Some(line) = describe(&event).filter(|_| self.show_events) {
                    self.transcript.push_str(&line);
                    self.transcript.push('\n');
                }
                let mut model = std::mem::replace(&mut self.model, Model::new(&[]));
                model.answer(&mut self.server, event);
                self.model = model;
            }
            if !progress {
                break;
            }
        }
        self.flush_lines();
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.transcript.push_str("S: ");
            escape(&mut self.transcript, &rest);
            self.transcript.push_str(" <no CRLF>\n");
        }
    }

    fn flush_lines(&mut self) {
        while let Some(end) = self.partial.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.partial.drain(..end + 2).collect();
            self.transcript.push_str("S: ");
            escape(&mut self.transcript, &line);
            self.transcript.push('\n');
        }
    }

    /// The transcript so far, and clear it.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.transcript)
    }

    /// Assert the transcript so far equals `expected` (see [`golden`]) and clear it.
    #[track_caller]
    pub fn expect(&mut self, expected: &str) {
        let got = self.take();
        assert_eq!(got, golden(expected), "\n--- got ---\n{got}");
    }
}

/// An `A:` line for the events the application acts on.
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Login { user, .. } => format!("A: Login {user}"),
        Event::Apop { user, .. } => format!("A: Apop {user}"),
        Event::Auth { credentials } => {
            format!("A: Auth {}", credentials.username().unwrap_or("-"))
        }
        Event::Retrieve {
            msg,
            top_lines: None,
        } => format!("A: Retrieve {msg}"),
        Event::Retrieve {
            msg,
            top_lines: Some(n),
        } => format!("A: Retrieve {msg} top {n}"),
        Event::Update { deleted } => format!("A: Update {deleted:?}"),
        Event::TlsStarting => String::from("A: TlsStarting"),
        Event::TlsInjection { discarded } => format!("A: TlsInjection discarded={discarded}"),
        Event::Closed { reason } => format!("A: Closed {reason:?}"),
        _ => return None,
    })
}

/// Printable ASCII as is, CRLF dropped at the end, anything else as `\xNN`.
fn escape(out: &mut String, line: &[u8]) {
    let body = line.strip_suffix(b"\r\n").unwrap_or(line);
    for &b in body {
        if (0x20..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// A golden transcript written indented in the source: each non-empty line is trimmed
/// at the start (the `C:`/`S:`/`A:` marker comes first; text after it is kept as is).
pub fn golden(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() {
            continue;
        }
        // An empty server line is written `S:` (editors strip the trailing space).
        let line = if line.len() == 2 && line.ends_with(':') {
            format!("{line} ")
        } else {
            line.to_string()
        };
        assert!(
            line.starts_with("C: ") || line.starts_with("S: ") || line.starts_with("A: "),
            "golden line without marker: {line:?}"
        );
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A config for tests: APOP with the RFC timestamp, plaintext logins allowed.
pub fn config() -> ServerConfig {
    ServerConfig::default()
        .with_apop_timestamp(RFC_TIMESTAMP)
        .with_plaintext_login(true)
}

/// A session logged in as mrose (transcript cleared).
pub fn logged_in(config: ServerConfig, messages: &[&[u8]]) -> Session {
    let mut s = Session::new(config, Model::new(messages));
    s.c("USER mrose");
    s.c("PASS tanstaaf");
    s.take();
    s
}
