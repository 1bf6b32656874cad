//! SMTP cases: our client against aiosmtpd (plain; STARTTLS with AUTH PLAIN and LOGIN),
//! our server against our client, curl, Python's smtplib and swaks, and the idle timeout.
//! The bytes stored on the receiving side are compared with what was sent.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailproto_core::sasl::Mechanism;
use mailproto_core::smtp::server::ServerConfig as SmtpConfig;
use mailproto_engine::pop3_client::Security;
use mailproto_engine::smtp_client::SmtpOptions;
use mailproto_engine::tls::{ClientTls, SelfSigned};
use mailproto_engine::{Error, Refusal};
use mailproto_testkit::{Aiosmtpd, program, python_module};

use super::pop3::cert;
use super::{Adapter, Running, SmtpOps, Stored};

/// A message with a leading-dot line, an embedded terminator and bare LF line ends (sent
/// as CRLF).
pub const BODY: &[u8] = b"From: a@example.org\nSubject: hi\n\n.dot line\n.\nlast line";
/// What the server must receive: CRLF everywhere, the last line ended.
pub const BODY_WIRE: &[u8] =
    b"From: a@example.org\r\nSubject: hi\r\n\r\n.dot line\r\n.\r\nlast line\r\n";

fn options(security: Security, roots: &str) -> SmtpOptions {
    SmtpOptions::default()
        .with_security(security)
        .with_tls(ClientTls::with_root_pem(roots.as_bytes()).unwrap())
}

/// Plaintext, no AUTH: one message to two recipients.
pub fn client_with_aiosmtpd<A: Adapter>() {
    let test = "smtp client_with_aiosmtpd";
    let Some(server) = Aiosmtpd::start(test, None, &[]) else {
        return;
    };
    let mut c = A::smtp_connect(server.port, options(Security::Plain, &cert().cert_pem)).unwrap();
    let report = c
        .send("a@example.org", &["b@example.org", "c@example.org"], BODY)
        .unwrap();
    assert!(report.all_accepted(), "{report:?}");
    assert_eq!(report.recipients.len(), 2);
    c.quit().unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, BODY_WIRE);
    assert!(
        got[0]
            .envelope
            .contains("\"to\": [\"b@example.org\", \"c@example.org\"]"),
        "{}",
        got[0].envelope
    );
    assert!(
        got[0].envelope.contains("\"from\": \"a@example.org\""),
        "{}",
        got[0].envelope
    );
}

/// STARTTLS required, then AUTH PLAIN and AUTH LOGIN; a wrong password is refused.
pub fn client_with_aiosmtpd_starttls_auth<A: Adapter>() {
    let test = "smtp client_with_aiosmtpd_starttls_auth";
    let cert = cert();
    let users = [("alice", "wonderland")];
    let Some(server) = Aiosmtpd::start(test, Some((&cert.cert_pem, &cert.key_pem)), &users) else {
        return;
    };
    for mechanism in [Some(Mechanism::Plain), Some(Mechanism::Login), None] {
        let mut c =
            A::smtp_connect(server.port, options(Security::StartTls, &cert.cert_pem)).unwrap();
        assert!(c.is_tls());
        c.authenticate(mechanism.clone(), "alice", "wonderland")
            .unwrap();
        let report = c
            .send("alice@example.org", &["bob@example.org"], BODY)
            .unwrap();
        assert!(report.all_accepted());
        c.quit().unwrap();
    }
    let got = server.received();
    assert_eq!(got.len(), 3);
    for m in &got {
        assert_eq!(m.data, BODY_WIRE);
        assert!(m.envelope.contains("\"tls\": true"), "{}", m.envelope);
    }
    let mut c = A::smtp_connect(server.port, options(Security::StartTls, &cert.cert_pem)).unwrap();
    let err = c
        .authenticate(Some(Mechanism::Plain), "alice", "wrong")
        .unwrap_err();
    assert!(err.to_string().contains("535"), "{err}");
}

/// Our server's configuration for the suite: PIPELINING, CHUNKING, SIZE, AUTH.
pub fn config() -> SmtpConfig {
    let mut config = SmtpConfig::new("mx.test");
    config.extensions.pipelining = true;
    config.extensions.chunking = true;
    config.extensions.size = true;
    config.extensions.auth = vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5];
    config
}

fn start<A: Adapter>(cert: &SelfSigned, implicit: bool) -> (Running, Arc<Mutex<Vec<Stored>>>) {
    let store = Arc::new(Mutex::new(Vec::new()));
    (
        A::smtp_server(config(), store.clone(), cert, implicit),
        store,
    )
}

fn stored(store: &Arc<Mutex<Vec<Stored>>>) -> Vec<Stored> {
    store.lock().unwrap().clone()
}

/// The two TLS-mode mistakes: implicit TLS against a STARTTLS port gets the plaintext
/// greeting instead of a handshake; STARTTLS against an implicit-TLS port gets silence
/// (the short greeting wait, here 1 s, not the 5-minute deadline). Each error names the
/// likely mistake and the option that fixes it.
pub fn tls_mode_mistakes<A: Adapter>() {
    let cert = cert();
    let (starttls_port, _) = start::<A>(&cert, false);
    let err = A::smtp_connect(
        starttls_port.port(),
        options(Security::ImplicitTls, &cert.cert_pem),
    )
    .err()
    .expect("implicit TLS against a STARTTLS port fails");
    assert!(matches!(err, Error::TlsMode(_)), "{err:?}");
    let text = err.to_string();
    for hint in ["plaintext", "STARTTLS", "587", "Security::StartTls", "465"] {
        assert!(text.contains(hint), "{hint:?} in {text}");
    }

    let (implicit_port, _) = start::<A>(&cert, true);
    let mut starttls = options(Security::StartTls, &cert.cert_pem);
    starttls.greeting_wait = Some(Duration::from_secs(1));
    let err = A::smtp_connect(implicit_port.port(), starttls)
        .err()
        .expect("STARTTLS against an implicit-TLS port fails");
    assert!(matches!(err, Error::TlsMode(_)), "{err:?}");
    let text = err.to_string();
    for hint in [
        "no greeting within 1 s",
        "465",
        "Security::ImplicitTls",
        "greeting_wait",
    ] {
        assert!(text.contains(hint), "{hint:?} in {text}");
    }
}

/// The server's refusals kept typed on `c`: 450 vs 550 per recipient, a sender refused
/// with 451 and its enhanced code, transient vs permanent.
fn typed_refusals(c: &mut dyn SmtpOps) {
    let Err(Error::RecipientsRejected(list)) =
        c.send("a@mx.test", &["busy@mx.test", "nobody@mx.test"], BODY)
    else {
        panic!("every recipient refused");
    };
    let codes: Vec<u16> = list
        .iter()
        .map(|r| r.reply.as_ref().unwrap_err().code.get())
        .collect();
    assert_eq!(codes, [450, 550]);
    assert!(list[0].is_transient() && !list[0].is_permanent());
    assert!(list[1].is_permanent() && !list[1].is_transient());
    // Mixed: neither as a whole; all busy: transient.
    let mixed = c.send("a@mx.test", &["busy@mx.test", "nobody@mx.test"], BODY);
    let mixed = mixed.unwrap_err();
    assert!(!mixed.is_transient() && !mixed.is_permanent(), "{mixed}");
    let busy = c.send("a@mx.test", &["busy@mx.test"], BODY).unwrap_err();
    assert!(busy.is_transient(), "{busy}");
    let later = c.send("later@mx.test", &["b@mx.test"], BODY).unwrap_err();
    let refusal = later.refusal().expect("the sender refused");
    assert!(
        matches!(
            refusal,
            Refusal::Smtp {
                command: "MAIL",
                ..
            }
        ),
        "{refusal:?}"
    );
    let enhanced = refusal.enhanced().expect("an enhanced code");
    assert_eq!(
        (enhanced.class, enhanced.subject, enhanced.detail),
        (4, 3, 0)
    );
    assert!(later.is_transient() && !later.is_permanent());
    assert_eq!(
        later.to_string(),
        "server refused MAIL: 451 4.3.0 try again later"
    );
}

/// Our client and our server: STARTTLS + AUTH, a rejected recipient among accepted ones,
/// DATA and BDAT; implicit TLS.
pub fn ours_to_ours<A: Adapter>() {
    let cert = cert();
    let (server, store) = start::<A>(&cert, false);
    for bdat in [false, true] {
        let mut options = options(Security::StartTls, &cert.cert_pem);
        options.prefer_bdat = bdat;
        let mut c = A::smtp_connect(server.port(), options).unwrap();
        assert!(c.is_tls());
        c.authenticate(None, "alice", "wonderland").unwrap();
        let report = c
            .send(
                "alice@mx.test",
                &["b@mx.test", "nobody@mx.test", "c@mx.test"],
                BODY,
            )
            .unwrap();
        let ok: Vec<bool> = report.recipients.iter().map(|r| r.reply.is_ok()).collect();
        assert_eq!(ok, [true, false, true], "{report:?}");
        c.quit().unwrap();
    }
    let got = stored(&store);
    assert_eq!(got.len(), 2);
    for m in &got {
        assert_eq!(m.data, BODY_WIRE);
        assert_eq!(m.to, ["<b@mx.test>", "<c@mx.test>"]);
        assert_eq!(m.authenticated.as_deref(), Some("alice"));
    }
    // Every recipient refused: an error naming them, nothing stored.
    let mut c =
        A::smtp_connect(server.port(), options(Security::StartTls, &cert.cert_pem)).unwrap();
    let err = c.send("a@mx.test", &["nobody@mx.test"], BODY).unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");
    assert_eq!(stored(&store).len(), 2);
    typed_refusals(&mut *c);
    assert_eq!(stored(&store).len(), 2);

    let (implicit, store) = start::<A>(&cert, true);
    let mut c = A::smtp_connect(
        implicit.port(),
        options(Security::ImplicitTls, &cert.cert_pem),
    )
    .unwrap();
    assert!(c.is_tls());
    c.authenticate(Some(Mechanism::CramMd5), "alice", "wonderland")
        .unwrap();
    c.send("a@mx.test", &["b@mx.test"], BODY).unwrap();
    c.quit().unwrap();
    assert_eq!(stored(&store)[0].data, BODY_WIRE);
}

/// The transcript tap sees the whole session inside TLS; RSET between two messages
/// leaves the session usable.
pub fn tapped_session_with_reset<A: Adapter>() {
    use mailproto_engine::Direction;
    let cert = cert();
    let (server, store) = start::<A>(&cert, false);
    let (tap, log) = super::recorder();
    let options = options(Security::StartTls, &cert.cert_pem);
    let mut c = A::smtp_connect_tapped(server.port(), options, Some(tap)).unwrap();
    c.authenticate(None, "alice", "wonderland").unwrap();
    c.send("alice@mx.test", &["b@mx.test"], BODY).unwrap();
    c.reset().unwrap();
    c.send("alice@mx.test", &["c@mx.test"], BODY).unwrap();
    c.quit().unwrap();
    assert_eq!(stored(&store).len(), 2);
    let sent = super::recorded(&log, Direction::Sent);
    let received = super::recorded(&log, Direction::Received);
    // Plaintext before STARTTLS and the plaintext inside TLS after it, in order.
    let order: Vec<usize> = ["EHLO", "STARTTLS", "AUTH", "MAIL FROM", "RSET", "QUIT"]
        .iter()
        .map(|cmd| {
            sent.find(cmd)
                .unwrap_or_else(|| panic!("{cmd} not in {sent:?}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{sent:?}");
    assert_eq!(sent.matches("MAIL FROM").count(), 2, "{sent:?}");
    assert!(received.starts_with("220 "), "{received:?}");
    assert!(received.contains("\r\n235 "), "{received:?}");
    assert!(received.ends_with("\r\n"), "{received:?}");
}

/// LMTP (RFC 2033): one reply per accepted recipient after the data, through the
/// adapter's handler.
pub fn lmtp_ours_to_ours<A: Adapter>() {
    let cert = cert();
    let mut config = SmtpConfig::lmtp("mx.test");
    config.extensions.pipelining = true;
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server(config, store.clone(), &cert, false);
    let mut options = options(Security::Plain, &cert.cert_pem);
    options.config.lmtp = true;
    let mut c = A::smtp_connect(server.port(), options).unwrap();
    let report = c
        .send(
            "a@mx.test",
            &["b@mx.test", "nobody@mx.test", "c@mx.test"],
            BODY,
        )
        .unwrap();
    let ok: Vec<bool> = report.recipients.iter().map(|r| r.reply.is_ok()).collect();
    assert_eq!(ok, [true, false, true], "{report:?}");
    assert!(
        report.reply.to_string().starts_with("250 "),
        "{}",
        report.reply
    );
    c.quit().unwrap();
    let got = stored(&store);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, BODY_WIRE);
}

/// A password mechanism in plaintext: the client refuses it unless forced, and our
/// server refuses it before TLS (RFC 4954 §4: 538 / 530).
pub fn plaintext_password_auth_refused<A: Adapter>() {
    let cert = cert();
    let (server, _store) = start::<A>(&cert, false);
    let mut c = A::smtp_connect(server.port(), options(Security::Plain, &cert.cert_pem)).unwrap();
    assert!(
        c.authenticate(Some(Mechanism::Plain), "alice", "wonderland")
            .is_err()
    );
    let err = c
        .authenticate_forced(Mechanism::Plain, "alice", "wonderland")
        .unwrap_err();
    assert!(
        err.to_string().contains("538") || err.to_string().contains("530"),
        "{err}"
    );
    // CRAM-MD5 sends no password and is allowed in plaintext.
    c.authenticate(Some(Mechanism::CramMd5), "alice", "wonderland")
        .unwrap();
}

fn ca_file(dir: &tempfile::TempDir, cert: &SelfSigned) -> String {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &cert.cert_pem).unwrap();
    path.display().to_string()
}

/// curl against our server: `smtp://` plain, with `--ssl-reqd` (STARTTLS) and AUTH, and
/// `smtps://`.
pub fn server_with_curl<A: Adapter>() {
    let test = "smtp server_with_curl";
    let Some(curl) = program(test, "curl") else {
        return;
    };
    let cert = cert();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(&dir, &cert);
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, BODY_WIRE).unwrap();
    let (server, store) = start::<A>(&cert, false);
    let (implicit, implicit_store) = start::<A>(&cert, true);
    let send = |url: String, extra: &[&str]| {
        let out = Command::new(&curl)
            .args(["-sS", "--cacert", &ca, "--mail-from", "a@mx.test"])
            .args(["--mail-rcpt", "b@mx.test", "--upload-file"])
            .arg(&file)
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    send(format!("smtp://127.0.0.1:{}", server.port()), &[]);
    send(
        format!("smtp://127.0.0.1:{}", server.port()),
        &["--ssl-reqd", "--user", "alice:wonderland"],
    );
    send(
        format!("smtps://127.0.0.1:{}", implicit.port()),
        &["--user", "alice:wonderland"],
    );
    let got = stored(&store);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|m| m.data == BODY_WIRE));
    assert_eq!(got[1].authenticated.as_deref(), Some("alice"));
    assert_eq!(stored(&implicit_store)[0].data, BODY_WIRE);
}

/// Python's smtplib against our server: plain, STARTTLS with AUTH PLAIN and LOGIN, and
/// SMTP_SSL.
pub fn server_with_smtplib<A: Adapter>() {
    let test = "smtp server_with_smtplib";
    if !python_module(test, "smtplib") {
        return;
    }
    let cert = cert();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(&dir, &cert);
    let (server, store) = start::<A>(&cert, false);
    let (implicit, implicit_store) = start::<A>(&cert, true);
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile={ca:?})
body = {body}
s = smtplib.SMTP("127.0.0.1", {port})
s.sendmail("a@mx.test", ["b@mx.test"], body)
s.quit()
for mech in ("PLAIN", "LOGIN"):
    s = smtplib.SMTP("127.0.0.1", {port})
    s.starttls(context=ctx)
    s.ehlo()
    s.user, s.password = "alice", "wonderland"
    code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=(mech == "PLAIN"))
    assert code == 235, (mech, code)
    s.sendmail("a@mx.test", ["b@mx.test", "c@mx.test"], body)
    s.quit()
s = smtplib.SMTP_SSL("127.0.0.1", {sport}, context=ctx)
s.login("alice", "wonderland")
s.sendmail("a@mx.test", ["b@mx.test"], body)
s.quit()
"#,
        ca = ca,
        port = server.port(),
        sport = implicit.port(),
        body = py_bytes(BODY_WIRE),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = stored(&store);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|m| m.data == BODY_WIRE), "{got:?}");
    assert_eq!(got[1].to, ["<b@mx.test>", "<c@mx.test>"]);
    assert!(
        got[1..]
            .iter()
            .all(|m| m.authenticated.as_deref() == Some("alice")),
        "{got:?}"
    );
    assert_eq!(stored(&implicit_store)[0].data, BODY_WIRE);
}

/// A Python bytes literal.
fn py_bytes(b: &[u8]) -> String {
    let mut s = String::from("b'");
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\'' | b'\\' => {
                s.push('\\');
                s.push(char::from(c));
            }
            _ => s.push(char::from(c)),
        }
    }
    s.push('\'');
    s
}

/// swaks against our server: STARTTLS with AUTH LOGIN, and with PIPELINING and AUTH
/// PLAIN.
pub fn server_with_swaks<A: Adapter>() {
    let test = "smtp server_with_swaks";
    let Some(swaks) = program(test, "swaks") else {
        return;
    };
    let cert = cert();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, BODY_WIRE).unwrap();
    let (server, store) = start::<A>(&cert, false);
    let server_arg = format!("127.0.0.1:{}", server.port());
    let cases: [&[&str]; 2] = [
        &["-tls", "--auth", "LOGIN"],
        &["-tls", "--pipeline", "--auth", "PLAIN"],
    ];
    for extra in cases {
        let out = Command::new(&swaks)
            .args([
                "--server",
                &server_arg,
                "--from",
                "a@mx.test",
                "--to",
                "b@mx.test",
            ])
            .args([
                "--auth-user",
                "alice",
                "--auth-password",
                "wonderland",
                "--data",
            ])
            .arg(&file)
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "swaks {extra:?}: {text}");
    }
    // swaks ends the data with CRLF . CRLF after the file's own final CRLF: one empty
    // line more.
    let swaks_wire = [BODY_WIRE, b"\r\n"].concat();
    let got = stored(&store);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|m| m.data == swaks_wire && m.authenticated.is_some()),
        "{got:?}"
    );
}

/// A client that connects and sends nothing is disconnected after the configured
/// timeout with `421 4.4.2` (RFC 5321 §4.5.3.2).
pub fn idle_client_times_out<A: Adapter>() {
    let cert = cert();
    let mut config = config();
    config.timeouts.idle = Duration::from_millis(300);
    let store = Arc::new(Mutex::new(Vec::new()));
    let server = A::smtp_server(config, store, &cert, false);
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut lines = BufReader::new(tcp);
    let mut greeting = String::new();
    lines.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");
    let mut goodbye = String::new();
    lines.read_line(&mut goodbye).unwrap();
    assert!(goodbye.starts_with("421 4.4.2 "), "{goodbye}");
    let mut rest = String::new();
    assert_eq!(
        lines.read_line(&mut rest).unwrap(),
        0,
        "the server closed the connection"
    );
}

/// The SMTP cases as `#[test]` functions for one adapter.
#[macro_export]
macro_rules! smtp_cases {
    ($adapter:ty) => {
        #[test]
        fn smtp_client_with_aiosmtpd() {
            suite::smtp::client_with_aiosmtpd::<$adapter>();
        }
        #[test]
        fn smtp_client_with_aiosmtpd_starttls_auth() {
            suite::smtp::client_with_aiosmtpd_starttls_auth::<$adapter>();
        }
        #[test]
        fn smtp_tapped_session_with_reset() {
            suite::smtp::tapped_session_with_reset::<$adapter>();
        }
        #[test]
        fn smtp_ours_to_ours() {
            suite::smtp::ours_to_ours::<$adapter>();
        }
        #[test]
        fn smtp_lmtp_ours_to_ours() {
            suite::smtp::lmtp_ours_to_ours::<$adapter>();
        }
        #[test]
        fn smtp_plaintext_password_auth_refused() {
            suite::smtp::plaintext_password_auth_refused::<$adapter>();
        }
        #[test]
        fn smtp_server_with_curl() {
            suite::smtp::server_with_curl::<$adapter>();
        }
        #[test]
        fn smtp_server_with_smtplib() {
            suite::smtp::server_with_smtplib::<$adapter>();
        }
        #[test]
        fn smtp_server_with_swaks() {
            suite::smtp::server_with_swaks::<$adapter>();
        }
        #[test]
        fn smtp_tls_mode_mistakes() {
            suite::smtp::tls_mode_mistakes::<$adapter>();
        }
        #[test]
        fn smtp_idle_client_times_out() {
            suite::smtp::idle_client_times_out::<$adapter>();
        }
    };
}
