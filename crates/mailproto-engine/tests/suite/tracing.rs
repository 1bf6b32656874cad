//! What the servers tell `tracing`, seen by a test subscriber: the session span with its
//! fields, the transcript of commands and replies, the security events (a STARTTLS
//! injection attempt, failed logins with the client's address), and no password in any
//! field, in clear or in base64.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mailproto_core::pop3::server::ServerConfig as Pop3Config;
use mailproto_engine::ListenerOptions;

use super::listener::connect_from;
use super::pop3::cert;
use super::proxy::{read, say};
use super::{Adapter, MemBackend};

/// Everything every test of this process logged (the subscriber is process-wide, as
/// sessions run on other threads and tasks).
pub fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        log
    })
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines logged so far that mention `client`.
fn lines_of(client: &str) -> Vec<String> {
    let log = captured().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(client))
        .map(str::to_owned)
        .collect()
}

/// Wait (bounded) until a line of `client` contains `what`.
pub fn wait_for(client: &str, what: &str) -> Vec<String> {
    let start = Instant::now();
    loop {
        let lines = lines_of(client);
        if lines.iter().any(|l| l.contains(what)) || start.elapsed() > Duration::from_secs(20) {
            return lines;
        }
        std::thread::yield_now();
    }
}

/// Standard base64 with padding (RFC 4648 §4).
fn b64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// SMTP (AUTH PLAIN and LOGIN with a wrong password, then a STARTTLS injection) and POP3
/// (USER/PASS with a wrong password) from 127.0.0.9: the span and the security events
/// are there with the client's address, and the password nowhere.
pub fn security_events_without_secrets<A: Adapter>() {
    captured();
    let client = "127.0.0.9";
    let password = "hunter2-do-not-log";
    let cert = cert();
    let options = ListenerOptions::default().login_failure_delay(Duration::ZERO, Duration::ZERO);
    let store = Arc::new(Mutex::new(Vec::new()));
    let mut config = super::smtp::config();
    config.auth_requires_tls = false;
    let smtp = A::smtp_server_with(config, store, &cert, false, options.clone());
    let mut c = connect_from(client, smtp.port());
    assert!(read(&mut c).starts_with("220 "));
    assert!(say(&mut c, "EHLO client.test").starts_with("250 "));
    let plain = b64(&format!("\0alice\0{password}"));
    assert!(say(&mut c, &format!("AUTH PLAIN {plain}")).starts_with("535 "));
    assert!(say(&mut c, "AUTH LOGIN").starts_with("334 "));
    assert!(say(&mut c, &b64("alice")).starts_with("334 "));
    assert!(say(&mut c, &b64(password)).starts_with("535 "));
    c.get_mut()
        .write_all(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n")
        .unwrap();
    assert!(read(&mut c).starts_with("220 "));
    drop(c);

    let backend = MemBackend::with_user("alice", "secret", &[]);
    let pop3_config = Pop3Config::default().with_plaintext_login(true);
    let pop3 = A::pop3_server_with(backend, pop3_config, &cert, false, options);
    let mut p = connect_from(client, pop3.port());
    assert!(read(&mut p).starts_with("+OK"));
    assert!(say(&mut p, "USER alice").starts_with("+OK"));
    assert!(say(&mut p, &format!("PASS {password}")).starts_with("-ERR [AUTH]"));
    assert!(say(&mut p, "USER alice").starts_with("+OK"));
    assert!(say(&mut p, "PASS secret").starts_with("+OK"));
    assert!(say(&mut p, "QUIT").starts_with("+OK"));

    wait_for(client, "injection");
    let lines = wait_for(client, "logged in");
    let text = lines.join("\n");
    let smtp_failures = lines
        .iter()
        .filter(|l| l.contains("protocol=\"smtp\"") && l.contains("authentication failed"))
        .count();
    assert_eq!(smtp_failures, 2, "AUTH PLAIN and LOGIN failures:\n{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("STARTTLS injection") && l.contains("discarded")),
        "the injection attempt:\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("protocol=\"pop3\"") && l.contains("authentication failed")),
        "the POP3 failure:\n{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("session{protocol=\"pop3\"")
            && l.contains("user=\"alice\"}")
            && l.contains("logged in")),
        "the span records the user once logged in:\n{text}"
    );
    // The transcript: each command and reply, in order, credentials masked; the
    // plaintext injected after STARTTLS never became a command.
    let transcript: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("protocol=\"smtp\"") && l.contains("transcript"))
        .filter_map(|l| l.split("line=").nth(1))
        .collect();
    let at = |line: &str| {
        transcript
            .iter()
            .position(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line:?} in the transcript:\n{}", transcript.join("\n")))
    };
    assert!(at("S: 220 ") < at("C: EHLO client.test"));
    assert!(at("C: EHLO client.test") < at("S: 250 "));
    assert_eq!(
        transcript[at("C: AUTH PLAIN ***") + 1].get(..6),
        Some("S: 535")
    );
    let login = at("C: AUTH LOGIN");
    assert_eq!(transcript[login + 2], "C: ***");
    assert_eq!(transcript[login + 4], "C: ***");
    assert!(at("C: STARTTLS") > login);
    assert!(
        !transcript.iter().any(|l| l.contains("evil@x")),
        "injected plaintext is not a command"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("protocol=\"pop3\"") && l.contains("line=C: PASS ***")),
        "the POP3 transcript:\n{text}"
    );
    let everything = String::from_utf8_lossy(&captured().lock().unwrap()).into_owned();
    for secret in [password.to_owned(), plain, b64(password)] {
        assert!(!everything.contains(&secret), "{secret:?} was logged");
    }
}

/// The tracing case as a `#[test]` function for one adapter.
#[macro_export]
macro_rules! tracing_cases {
    ($adapter:ty) => {
        #[test]
        fn tracing_security_events_without_secrets() {
            suite::tracing::security_events_without_secrets::<$adapter>();
        }
    };
}
