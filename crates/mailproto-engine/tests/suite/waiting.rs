//! Handlers that wait: one session's handler waiting (for storage, the network, a
//! channel) holds up no other session, and a handler that stops taking body chunks makes
//! its session stop reading, so nothing piles up in memory. The waits are on a [`Gate`]
//! the test opens, never on the clock; a blocking handler waits in its thread, an async
//! one awaits.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use mailproto_core::smtp::{MailParams, Reply, ReversePath};
use mailproto_engine::pop3_client::Security;
use mailproto_engine::smtp_client::SmtpOptions;
use mailproto_engine::smtp_server::{AsyncSmtpHandler, SmtpHandler};

use super::Adapter;

/// The sender whose MAIL the handler holds at the gate.
pub const HOLD_MAIL: &str = "hold-mail@example.org";
/// The sender whose first body chunk the handler holds at the gate.
pub const HOLD_BODY: &str = "hold-body@example.org";

/// Where a gated handler stops, and what it has taken.
#[derive(Clone)]
pub struct Gate {
    /// Told when a handler reaches the gate: `"mail"` or `"data"`.
    entered: mpsc::Sender<&'static str>,
    /// Closed by the test to let every waiting handler go on.
    release: async_channel::Receiver<()>,
    /// Body chunks handed to handlers.
    pub chunks: Arc<AtomicUsize>,
    /// Messages accepted.
    pub delivered: Arc<AtomicUsize>,
}

impl Gate {
    /// A closed gate, the receiver of its arrivals, and its opener (drop it to open).
    pub fn new() -> (
        Gate,
        mpsc::Receiver<&'static str>,
        async_channel::Sender<()>,
    ) {
        let (entered, arrivals) = mpsc::channel();
        let (opener, release) = async_channel::bounded(1);
        let gate = Gate {
            entered,
            release,
            chunks: Arc::default(),
            delivered: Arc::default(),
        };
        (gate, arrivals, opener)
    }
}

/// What a gated handler does at each step, whatever its colour.
struct GateState {
    gate: Gate,
    hold_body: bool,
    chunks: usize,
}

impl GateState {
    /// Whether MAIL from `from` waits at the gate (and note a sender whose body will).
    fn mail(&mut self, from: &ReversePath) -> bool {
        let from = from.to_string();
        self.hold_body = from.contains(HOLD_BODY);
        if from.contains(HOLD_MAIL) {
            let _ = self.gate.entered.send("mail");
            return true;
        }
        false
    }

    /// Whether this chunk waits at the gate.
    fn data(&mut self) -> bool {
        self.gate.chunks.fetch_add(1, Ordering::SeqCst);
        self.chunks += 1;
        if self.hold_body && self.chunks == 1 {
            let _ = self.gate.entered.send("data");
            return true;
        }
        false
    }

    fn end(&mut self) {
        self.gate.delivered.fetch_add(1, Ordering::SeqCst);
        self.chunks = 0;
    }
}

/// A blocking handler that waits at the gate in its thread.
pub struct Gated(GateState);

impl Gated {
    /// A handler stopping at `gate`.
    pub fn new(gate: Gate) -> Self {
        Gated(GateState {
            gate,
            hold_body: false,
            chunks: 0,
        })
    }
}

impl SmtpHandler for Gated {
    fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<(), Reply> {
        if self.0.mail(from) {
            let _ = self.0.gate.release.recv_blocking();
        }
        Ok(())
    }
    fn data(&mut self, _: &[u8]) -> std::io::Result<()> {
        if self.0.data() {
            let _ = self.0.gate.release.recv_blocking();
        }
        Ok(())
    }
    fn data_end(&mut self) -> Result<(), Reply> {
        self.0.end();
        Ok(())
    }
}

/// An async handler that awaits the gate (a channel: no thread is blocked).
pub struct AsyncGated(GateState);

impl AsyncGated {
    /// A handler stopping at `gate`.
    pub fn new(gate: Gate) -> Self {
        AsyncGated(GateState {
            gate,
            hold_body: false,
            chunks: 0,
        })
    }
}

impl AsyncSmtpHandler for AsyncGated {
    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<(), Reply> {
        if self.0.mail(from) {
            let _ = self.0.gate.release.recv().await;
        }
        Ok(())
    }
    async fn data(&mut self, _: &[u8]) -> std::io::Result<()> {
        if self.0.data() {
            let _ = self.0.gate.release.recv().await;
        }
        Ok(())
    }
    async fn data_end(&mut self) -> Result<(), Reply> {
        self.0.end();
        Ok(())
    }
}

/// How long a test waits for a handler to reach the gate before it fails.
const ARRIVAL: Duration = Duration::from_secs(30);

fn session(port: u16, from: &str) -> BufReader<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(ARRIVAL)).unwrap();
    let mut r = BufReader::new(tcp);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    r.get_mut().write_all(b"EHLO client.test\r\n").unwrap();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.starts_with("250 ") {
            break;
        }
        assert!(line.starts_with("250-"), "{line}");
    }
    let mail = format!("MAIL FROM:<{from}>\r\n");
    r.get_mut().write_all(mail.as_bytes()).unwrap();
    r
}

/// One session's handler waits in its MAIL decision while another session connects and
/// completes a whole transaction; only then is the gate opened and the first session
/// answered. On a single-threaded executor this holds only if the waiting handler gives
/// its thread back.
pub fn a_waiting_handler_does_not_delay_other_sessions<A: Adapter>() {
    let (gate, arrivals, opener) = Gate::new();
    let server = A::smtp_gated_server(super::smtp::config(), gate.clone());
    // Bound after the server, so it is dropped (the gate opened) before the server is
    // stopped, also when the test fails half-way.
    let opener = opener;
    let mut held = session(server.port(), HOLD_MAIL);
    assert_eq!(arrivals.recv_timeout(ARRIVAL), Ok("mail"));

    // A server that let the waiting handler hold its thread would not even greet: the
    // client gives up at its greeting deadline instead of after the RFC's 5 minutes.
    let mut options = SmtpOptions::default().with_security(Security::Plain);
    options.config.timeouts.greeting = ARRIVAL;
    let mut other = A::smtp_connect(server.port(), options).unwrap();
    assert_eq!(
        other.peer_addr(),
        Some(server.addr),
        "the client knows its peer"
    );
    let report = other
        .send(
            "other@example.org",
            &["rcpt@example.org"],
            b"Subject: x\r\n\r\nhi\r\n",
        )
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    other.quit().unwrap();
    assert_eq!(
        gate.delivered.load(Ordering::SeqCst),
        1,
        "the other session's message was stored while the first handler waited"
    );

    drop(opener);
    let mut line = String::new();
    held.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("250 "),
        "the held MAIL is answered: {line}"
    );
}

/// A handler that does not take its first body chunk stops the session reading: the
/// client's writes stall once the socket buffers are full, far short of the message, and
/// no further chunk reaches the handler. The client gives up when a write has made no
/// progress for its write deadline.
pub fn a_handler_that_stops_taking_the_body_stops_the_reading<A: Adapter>() {
    const MESSAGE: usize = 256 * 1024 * 1024;
    let (gate, arrivals, opener) = Gate::new();
    let server = A::smtp_gated_server(super::smtp::config(), gate.clone());
    // Bound after the server, so it is dropped (the gate opened) before the server is
    // stopped, also when the test fails half-way.
    let opener = opener;
    let mut r = session(server.port(), HOLD_BODY);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("250 "), "{line}");
    for command in ["RCPT TO:<rcpt@example.org>\r\n", "DATA\r\n"] {
        r.get_mut().write_all(command.as_bytes()).unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    assert!(line.starts_with("354 "), "{line}");
    let mut tcp = r.into_inner();
    tcp.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let piece = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n".repeat(1024);
    let mut written = 0;
    while written < MESSAGE {
        match tcp.write(&piece) {
            Ok(n) => written += n,
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "{e}"
                );
                break;
            }
        }
    }
    assert_eq!(arrivals.recv_timeout(ARRIVAL), Ok("data"));
    assert!(
        written < MESSAGE / 4,
        "the session kept reading while its handler took nothing: {written} octets written"
    );
    assert_eq!(
        gate.chunks.load(Ordering::SeqCst),
        1,
        "no chunk was handed over past the one the handler holds"
    );
    drop(opener);
}

/// An async handler still waiting when the application deadline passes does not hold
/// the session: the client gets `421 4.3.0` and the close, though the gate never opens.
/// (A blocking handler cannot be interrupted mid-call: this case is for the async
/// adapters.)
pub fn a_handler_past_the_application_deadline_is_abandoned<A: Adapter>() {
    let (gate, arrivals, opener) = Gate::new();
    let mut config = super::smtp::config();
    config.timeouts.application = Some(Duration::from_secs(1));
    let server = A::smtp_gated_server(config, gate.clone());
    let opener = opener;
    let mut held = session(server.port(), HOLD_MAIL);
    assert_eq!(arrivals.recv_timeout(ARRIVAL), Ok("mail"));
    let mut line = String::new();
    held.read_line(&mut line).unwrap();
    assert!(line.starts_with("421 4.3.0 "), "{line}");
    line.clear();
    held.read_line(&mut line).unwrap();
    assert_eq!(
        line, "",
        "the session closed while the handler still waited"
    );
    drop(opener);
}

/// The cases only the async adapters can pass.
#[macro_export]
macro_rules! async_waiting_cases {
    ($adapter:ty) => {
        #[test]
        fn accept_errors_back_off() {
            <$adapter>::accept_errors_back_off();
        }

        #[test]
        fn a_handler_past_the_application_deadline_is_abandoned() {
            suite::waiting::a_handler_past_the_application_deadline_is_abandoned::<$adapter>();
        }
    };
}

/// Expand the cases for one adapter type.
#[macro_export]
macro_rules! waiting_cases {
    ($adapter:ty) => {
        #[test]
        fn a_waiting_handler_does_not_delay_other_sessions() {
            suite::waiting::a_waiting_handler_does_not_delay_other_sessions::<$adapter>();
        }
        #[test]
        fn a_handler_that_stops_taking_the_body_stops_the_reading() {
            suite::waiting::a_handler_that_stops_taking_the_body_stops_the_reading::<$adapter>();
        }
    };
}
