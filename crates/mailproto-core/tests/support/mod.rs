//! Drives a server machine alone: a scripted client on one side, an application closure
//! answering events on the other, and `C:` / `S:` transcripts.
#![allow(dead_code)]

use mailproto_core::smtp::server::{Awaiting, Event, Server, ServerConfig};
use mailproto_core::smtp::{ForwardPath, Reply, ReplyCode};
use mailproto_core::{Instant, Io, Machine};

/// The time tests that are not about time run at (and create their machines at).
pub const T0: Instant = Instant::ZERO;

/// The application: answers each event (or not) through the server.
pub type App = Box<dyn FnMut(&mut Server, &Event)>;

/// Accepts every MAIL, RCPT, message and AUTH; replies 250 to VRFY/EXPN.
pub fn accept_all() -> App {
    Box::new(|server, event| match event {
        Event::Mail { .. } | Event::Rcpt { .. } => server.accept(T0).unwrap(),
        Event::MessageEnd { .. } => {
            // LMTP: one answer per recipient.
            while let Some(Awaiting::MessageEnd { .. }) = server.awaiting() {
                server.accept(T0).unwrap();
            }
        }
        Event::Auth { .. } => server.auth_accept(T0).unwrap(),
        Event::Vrfy(_) | Event::Expn(_) => server
            .reply(T0, Reply::new(ReplyCode::OK, None, "ok"))
            .unwrap(),
        _ => {}
    })
}

/// Like [`accept_all`], but recipients whose local part starts with `bad` get `550`.
pub fn picky() -> App {
    let mut inner = accept_all();
    Box::new(move |server, event| match event {
        Event::Rcpt {
            to: ForwardPath::Mailbox(m),
            ..
        } if m.local_part.starts_with("bad") => server
            .reject(
                T0,
                ReplyCode::MAILBOX_UNAVAILABLE,
                None,
                "No such user here",
            )
            .unwrap(),
        _ => inner(server, event),
    })
}

/// A server with its application, the events it gave, and what it sent.
pub struct Session {
    pub server: Server,
    pub events: Vec<Event>,
    app: App,
}

impl Session {
    pub fn new(config: ServerConfig, app: App) -> Self {
        Session {
            server: Server::new(T0, config),
            events: Vec::new(),
            app,
        }
    }

    pub fn with_server(server: Server, app: App) -> Self {
        Session {
            server,
            events: Vec::new(),
            app,
        }
    }

    /// Hands every event to the application until none is left.
    pub fn drain(&mut self) {
        while let Some(event) = self.server.poll_event() {
            (self.app)(&mut self.server, &event);
            self.events.push(event);
        }
    }

    /// Feeds `bytes` whole at `now` (whether or not the machine asked for input), then
    /// drains the events.
    pub fn feed(&mut self, now: Instant, bytes: &[u8]) {
        self.server.feed(now, bytes);
        self.drain();
    }

    /// Feeds `bytes` in pieces of the given sizes, as an adapter would: only while the
    /// machine wants input, answering events in between.
    pub fn feed_split(&mut self, bytes: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = bytes;
        let mut i = 0;
        while !rest.is_empty() {
            self.drain();
            self.transmit_into(&mut out);
            match self.server.io() {
                Io::Open { wants_read: true } => {}
                Io::AwaitingTls => self.server.tls_established(T0),
                _ => break,
            }
            if !matches!(self.server.io(), Io::Open { wants_read: true }) {
                continue;
            }
            let n = sizes
                .get(i % sizes.len().max(1))
                .copied()
                .unwrap_or(rest.len())
                .clamp(1, rest.len());
            i += 1;
            self.server.feed(T0, &rest[..n]);
            rest = &rest[n..];
        }
        self.drain();
        self.transmit_into(&mut out);
        out
    }

    /// Everything the machine hands out now, over as many `poll_transmit` calls as it
    /// takes.
    pub fn transmit(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.transmit_into(&mut out);
        out
    }

    /// Takes everything handed out and reports it as taken, as an adapter whose writes
    /// complete at once.
    fn transmit_into(&mut self, out: &mut Vec<u8>) {
        let before = out.len();
        while self.server.poll_transmit(out) > 0 {}
        self.server.transmitted(T0, out.len() - before);
    }

    /// What one `poll_transmit` call hands out.
    pub fn transmit_once(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.server.poll_transmit(&mut out);
        self.server.transmitted(T0, out.len());
        out
    }

    /// The replies sent now, as `S: ` lines.
    pub fn replies(&mut self) -> Vec<String> {
        let out = self.transmit();
        lines(&out).into_iter().map(|l| format!("S: {l}")).collect()
    }

    /// Sends one command line and returns the reply lines (without `S: `).
    pub fn cmd(&mut self, line: &str) -> Vec<String> {
        self.feed(T0, format!("{line}\r\n").as_bytes());
        lines(&self.transmit())
    }

    /// Sends one command line; returns the single reply line.
    pub fn one(&mut self, line: &str) -> String {
        let mut r = self.cmd(line);
        assert_eq!(r.len(), 1, "{line}: expected one reply line, got {r:?}");
        r.remove(0)
    }

    /// The events given so far, taken.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

/// Splits output into lines at CRLF, showing other control bytes as `\xNN`.
pub fn lines(out: &[u8]) -> Vec<String> {
    let text = escape(out);
    let mut v: Vec<String> = text.split("\r\n").map(String::from).collect();
    if v.last().is_some_and(String::is_empty) {
        v.pop();
    }
    v
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        if b == b'\r' || b == b'\n' || (0x20..0x7f).contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Runs a transcript: `S:` lines are what the server must have sent by then, each run
/// of `C:` lines is fed as one write (a pipelined group), `C:` alone is an empty line.
/// Panics with both transcripts side by side when they differ. Returns the session.
pub fn transcript(config: ServerConfig, app: App, script: &str) -> Session {
    let mut session = Session::new(config, app);
    run_transcript(&mut session, script);
    session
}

/// [`transcript`] on an existing session.
pub fn run_transcript(session: &mut Session, script: &str) {
    let mut expected = String::new();
    let mut actual = String::new();
    let mut group = String::new();
    let flush_group = |session: &mut Session, group: &mut String, actual: &mut String| {
        if !group.is_empty() {
            session.feed(T0, group.as_bytes());
            group.clear();
        }
        for line in session.replies() {
            actual.push_str(&line);
            actual.push('\n');
        }
    };
    for raw in script.lines() {
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("C:") {
            let c = c.strip_prefix(' ').unwrap_or(c);
            if group.is_empty() {
                // Everything the server had to say before this group.
                flush_group(session, &mut group, &mut actual);
            }
            group.push_str(c);
            group.push_str("\r\n");
            actual.push_str(&format!("C: {c}\n").replace("C: \n", "C:\n"));
            expected.push_str(&format!("C: {c}\n").replace("C: \n", "C:\n"));
        } else if line.starts_with("S:") {
            if !group.is_empty() {
                flush_group(session, &mut group, &mut actual);
            }
            expected.push_str(line);
            expected.push('\n');
        } else {
            panic!("transcript line must start with C: or S:: {line}");
        }
    }
    flush_group(session, &mut group, &mut actual);
    assert_eq!(
        actual, expected,
        "\n--- actual ---\n{actual}\n--- expected ---\n{expected}"
    );
}

/// Body bytes of the events, chunks concatenated.
pub fn body(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::BodyChunk(b) => Some(b.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// Events with adjacent body chunks merged (how a body is cut depends on the reads).
pub fn merged(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        if let (Event::BodyChunk(b), Some(Event::BodyChunk(prev))) = (e, out.last_mut()) {
            prev.extend_from_slice(b);
            continue;
        }
        out.push(e.clone());
    }
    out
}

/// A short name for each event, for compact assertions.
pub fn names(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            Event::Hello { .. } => "Hello",
            Event::Mail { .. } => "Mail",
            Event::Rcpt { .. } => "Rcpt",
            Event::DataStart { .. } => "DataStart",
            Event::BodyChunk(_) => "BodyChunk",
            Event::MessageEnd { .. } => "MessageEnd",
            Event::MessageAborted { .. } => "MessageAborted",
            Event::Auth { .. } => "Auth",
            Event::Vrfy(_) => "Vrfy",
            Event::Expn(_) => "Expn",
            Event::TlsStarting => "TlsStarting",
            Event::TlsInjection { .. } => "TlsInjection",
            Event::Reset => "Reset",
            Event::Closed { .. } => "Closed",
            _ => "Other",
        })
        .collect()
}
