//! POP3 cases: our client against our server in every TLS mode, our server against curl
//! and Python's poplib, our client against Dovecot. Message bytes are compared with what
//! was stored on the other side.

use std::fs;
use std::process::Command;

use mailproto_engine::pop3_client::{Pop3Options, Security};
use mailproto_engine::tls::{ClientTls, SelfSigned};
use mailproto_testkit::{Dovecot, program, python_module};

use super::{Adapter, MemBackend};

const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

/// Two messages: one with a line starting with a dot and an embedded terminator-like
/// line, one with bare LF line ends (sent as CRLF).
pub const MSG1: &[u8] =
    b"From: a@example.org\r\nSubject: one\r\n\r\n.leading dot\r\nline\r\n.\r\nafter\r\n";
pub const MSG2: &[u8] = b"Subject: two\n\nunix line ends\n";
pub const MSG2_WIRE: &[u8] = b"Subject: two\r\n\r\nunix line ends\r\n";

pub fn cert() -> SelfSigned {
    SelfSigned::generate(&["localhost", "127.0.0.1"]).expect("self-signed certificate")
}

fn options(security: Security, cert: &SelfSigned) -> Pop3Options {
    Pop3Options::default()
        .with_security(security)
        .with_tls(ClientTls::with_root_pem(cert.cert_pem.as_bytes()).unwrap())
}

fn backend() -> MemBackend {
    MemBackend::with_user(USER, PASSWORD, &[MSG1, MSG2])
}

/// Our client and server over STLS: listing, RETR, TOP, DELE applied only after QUIT.
pub fn ours_over_stls<A: Adapter>() {
    let cert = cert();
    let backend = backend();
    let server = A::pop3_server(backend.clone(), &cert, false);

    // Plaintext USER/PASS is refused before TLS.
    let mut plain = A::pop3_connect(server.port(), options(Security::Plain, &cert)).unwrap();
    let refused = plain.login(USER, PASSWORD).unwrap_err();
    assert!(refused.to_string().contains("AUTH"), "{refused}");
    drop(plain);

    let mut s = A::pop3_connect(server.port(), options(Security::StartTls, &cert)).unwrap();
    assert!(s.is_tls(), "{}: STLS did not switch to TLS", A::NAME);
    s.login(USER, PASSWORD).unwrap();
    let sizes = (MSG1.len() + MSG2_WIRE.len()) as u64;
    assert_eq!(s.stat().unwrap(), (2, sizes));
    assert_eq!(
        s.list().unwrap(),
        vec![(1, MSG1.len() as u64), (2, MSG2_WIRE.len() as u64)]
    );
    assert_eq!(s.uidl().unwrap(), vec![(1, "m1".into()), (2, "m2".into())]);
    assert_eq!(s.retr(1).unwrap(), MSG1);
    assert_eq!(s.retr(2).unwrap(), MSG2_WIRE);
    assert_eq!(
        s.top(1, 0).unwrap(),
        b"From: a@example.org\r\nSubject: one\r\n\r\n"
    );
    assert_eq!(
        s.top(1, 1).unwrap(),
        b"From: a@example.org\r\nSubject: one\r\n\r\n.leading dot\r\n"
    );
    s.dele(1).unwrap();
    assert_eq!(s.stat().unwrap(), (1, MSG2_WIRE.len() as u64));

    // A second session meanwhile: the maildrop is locked.
    let mut second = A::pop3_connect(server.port(), options(Security::StartTls, &cert)).unwrap();
    let busy = second.login(USER, PASSWORD).unwrap_err();
    assert!(busy.to_string().contains("IN-USE"), "{busy}");
    // Kept typed: a locked maildrop is worth another try later (RFC 2449 §8.1.2).
    let status = busy.refusal().and_then(|r| r.status()).expect("a -ERR");
    assert_eq!(status.code, Some(mailproto_core::pop3::ResponseCode::InUse));
    assert!(busy.is_transient() && !busy.is_permanent(), "{busy:?}");
    drop(second);
    // A wrong password is not (RFC 3206 §5: [AUTH]).
    let mut third = A::pop3_connect(server.port(), options(Security::StartTls, &cert)).unwrap();
    let wrong = third.login(USER, "not the password").unwrap_err();
    assert!(wrong.is_permanent() && !wrong.is_transient(), "{wrong:?}");
    drop(third);

    assert_eq!(backend.uids(USER), ["m1", "m2"], "deleted before QUIT");
    s.quit().unwrap();
    assert_eq!(backend.uids(USER), ["m2"]);
}

/// A connection dropped after DELE deletes nothing; RSET unmarks.
pub fn drop_after_dele_keeps_messages<A: Adapter>() {
    let cert = cert();
    let backend = backend();
    let server = A::pop3_server(backend.clone(), &cert, false);
    let mut s = A::pop3_connect(server.port(), options(Security::StartTls, &cert)).unwrap();
    s.login(USER, PASSWORD).unwrap();
    s.dele(1).unwrap();
    s.dele(2).unwrap();
    drop(s);
    // The server notices the drop when it reads the end of the stream; until then the
    // maildrop is still locked (IN-USE), so retry, bounded.
    let mut s = login_when_free::<A>(server.port(), &cert);
    assert_eq!(s.stat().unwrap().0, 2, "a dropped session deleted messages");
    s.dele(2).unwrap();
    s.rset().unwrap();
    s.quit().unwrap();
    assert_eq!(backend.uids(USER), ["m1", "m2"]);
}

/// Log in, retrying (bounded) while an earlier session still holds the maildrop.
fn login_when_free<A: Adapter>(port: u16, cert: &SelfSigned) -> Box<dyn super::Pop3Ops> {
    for _ in 0..500 {
        let mut s = A::pop3_connect(port, options(Security::StartTls, cert)).unwrap();
        match s.login(USER, PASSWORD) {
            Ok(()) => return s,
            Err(e) if e.to_string().contains("IN-USE") => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the maildrop stayed locked after the earlier session ended");
}

/// Implicit TLS (POP3S) with APOP and AUTH PLAIN.
pub fn ours_over_implicit_tls<A: Adapter>() {
    let cert = cert();
    let server = A::pop3_server(backend(), &cert, true);
    let mut s = A::pop3_connect(server.port(), options(Security::ImplicitTls, &cert)).unwrap();
    assert!(s.is_tls());
    s.apop(USER, PASSWORD).unwrap();
    assert_eq!(s.retr(2).unwrap(), MSG2_WIRE);
    s.quit().unwrap();
    let mut s = A::pop3_connect(server.port(), options(Security::ImplicitTls, &cert)).unwrap();
    s.auth_plain(USER, PASSWORD).unwrap();
    assert_eq!(s.stat().unwrap().0, 2);
    s.quit().unwrap();
    let mut s = A::pop3_connect(server.port(), options(Security::ImplicitTls, &cert)).unwrap();
    assert!(s.apop(USER, "wrong").is_err());
}

fn write_cert(dir: &tempfile::TempDir, cert: &SelfSigned) -> String {
    let path = dir.path().join("ca.pem");
    fs::write(&path, &cert.cert_pem).unwrap();
    path.display().to_string()
}

/// curl against our server: `pop3://` with `--ssl-reqd` (STLS) and `pop3s://`.
pub fn server_with_curl<A: Adapter>() {
    let test = "pop3 server_with_curl";
    let Some(curl) = program(test, "curl") else {
        return;
    };
    let cert = cert();
    let dir = tempfile::tempdir().unwrap();
    let ca = write_cert(&dir, &cert);
    let server = A::pop3_server(backend(), &cert, false);
    let userpw = format!("{USER}:{PASSWORD}");
    let run = |url: String, extra: &[&str]| {
        let out = Command::new(&curl)
            .args(["-sS", "--cacert", &ca, "-u", &userpw])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let base = format!("pop3://127.0.0.1:{}", server.port());
    assert_eq!(run(format!("{base}/1"), &["--ssl-reqd"]), MSG1);
    assert_eq!(run(format!("{base}/2"), &["--ssl-reqd"]), MSG2_WIRE);
    let listing = run(format!("{base}/"), &["--ssl-reqd"]);
    assert_eq!(
        listing,
        format!("1 {}\r\n2 {}\r\n", MSG1.len(), MSG2_WIRE.len()).as_bytes()
    );
    let uidl = run(format!("{base}/"), &["--ssl-reqd", "-X", "UIDL"]);
    assert_eq!(uidl, b"1 m1\r\n2 m2\r\n");

    let implicit = A::pop3_server(backend(), &cert, true);
    let url = format!("pop3s://127.0.0.1:{}/1", implicit.port());
    assert_eq!(run(url, &[]), MSG1);
}

/// Python's poplib against our server: STLS with USER/PASS, APOP, TOP, UIDL, and
/// POP3_SSL.
pub fn server_with_poplib<A: Adapter>() {
    let test = "pop3 server_with_poplib";
    if !python_module(test, "poplib") {
        return;
    }
    let cert = cert();
    let dir = tempfile::tempdir().unwrap();
    let ca = write_cert(&dir, &cert);
    let server = A::pop3_server(backend(), &cert, false);
    let implicit = A::pop3_server(backend(), &cert, true);
    let script = format!(
        r#"
import poplib, ssl, sys
ctx = ssl.create_default_context(cafile={ca:?})
def body(lines):
    return b"".join(l + b"\r\n" for l in lines)
out = []
p = poplib.POP3("127.0.0.1", {port})
p.stls(ctx)
p.user({user:?}); p.pass_({pw:?})
out.append(p.stat())
out.append(p.uidl()[1])
out.append(body(p.retr(1)[1]))
out.append(body(p.top(1, 0)[1]))
p.quit()
a = poplib.POP3("127.0.0.1", {port})
a.apop({user:?}, {pw:?})
out.append(body(a.retr(2)[1]))
a.quit()
s = poplib.POP3_SSL("127.0.0.1", {sport}, context=ctx)
s.user({user:?}); s.pass_({pw:?})
out.append(body(s.retr(1)[1]))
s.quit()
sys.stdout.write(repr(out))
"#,
        ca = ca,
        port = server.port(),
        sport = implicit.port(),
        user = USER,
        pw = PASSWORD,
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "poplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    let py = |b: &[u8]| {
        let mut s = String::from("b'");
        for &c in b {
            match c {
                b'\r' => s.push_str("\\r"),
                b'\n' => s.push_str("\\n"),
                b'\'' => s.push_str("\\'"),
                b'\\' => s.push_str("\\\\"),
                _ => s.push(char::from(c)),
            }
        }
        s.push('\'');
        s
    };
    let expected = format!(
        "[(2, {}), [b'1 m1', b'2 m2'], {}, {}, {}, {}]",
        MSG1.len() + MSG2_WIRE.len(),
        py(MSG1),
        py(b"From: a@example.org\r\nSubject: one\r\n\r\n"),
        py(MSG2_WIRE),
        py(MSG1),
    );
    assert_eq!(got, expected);
}

/// Our client against Dovecot: STLS, POP3S, USER/PASS, UIDL, RETR, TOP, DELE + QUIT.
pub fn client_with_dovecot<A: Adapter>() {
    let test = "pop3 client_with_dovecot";
    let cert = cert();
    let Some(dovecot) = Dovecot::start(test, &[(USER, PASSWORD)], &cert.cert_pem, &cert.key_pem)
    else {
        return;
    };
    dovecot.deliver(USER, "1000.M1.host", MSG1);
    dovecot.deliver(USER, "1001.M2.host", MSG2_WIRE);

    let mut s = A::pop3_connect(dovecot.port, options(Security::StartTls, &cert))
        .unwrap_or_else(|e| panic!("{e}: {}", dovecot.log()));
    assert!(s.is_tls());
    s.login(USER, PASSWORD).unwrap();
    assert_eq!(s.stat().unwrap().0, 2);
    let uids: Vec<String> = s.uidl().unwrap().into_iter().map(|(_, u)| u).collect();
    assert_eq!(uids, ["1000.M1.host", "1001.M2.host"]);
    assert_eq!(s.retr(1).unwrap(), MSG1);
    assert_eq!(
        s.top(1, 0).unwrap(),
        b"From: a@example.org\r\nSubject: one\r\n\r\n"
    );
    s.dele(1).unwrap();
    s.quit().unwrap();
    let left: usize = ["cur", "new"]
        .iter()
        .map(|d| fs::read_dir(dovecot.maildir(USER).join(d)).unwrap().count())
        .sum();
    assert_eq!(left, 1, "DELE + QUIT removed one message");

    let mut s = A::pop3_connect(dovecot.pop3s_port, options(Security::ImplicitTls, &cert)).unwrap();
    s.login(USER, PASSWORD).unwrap();
    assert_eq!(s.retr(1).unwrap(), MSG2_WIRE);
    s.quit().unwrap();

    let mut s = A::pop3_connect(dovecot.port, options(Security::Plain, &cert)).unwrap();
    assert!(!s.is_tls());
    s.login(USER, PASSWORD).unwrap();
    assert_eq!(s.stat().unwrap(), (1, MSG2_WIRE.len() as u64));
    s.quit().unwrap();
}

/// RETR of several messages pipelined gives each message whole, in order, the same as
/// one by one; the tap sees the commands go out before the first answer comes back.
pub fn retr_many_pipelined<A: Adapter>() {
    use mailproto_engine::Direction;
    let cert = cert();
    let server = A::pop3_server(backend(), &cert, false);
    let (tap, log) = super::recorder();
    let mut s =
        A::pop3_connect_tapped(server.port(), options(Security::StartTls, &cert), Some(tap))
            .unwrap();
    s.login(USER, PASSWORD).unwrap();
    let many = s.retr_many(&[2, 1, 2]).unwrap();
    assert_eq!(many, [MSG2_WIRE, MSG1, MSG2_WIRE]);
    s.quit().unwrap();
    let sent = super::recorded(&log, Direction::Sent);
    assert!(sent.contains("RETR 2\r\nRETR 1\r\nRETR 2\r\n"), "{sent:?}");
    let received = super::recorded(&log, Direction::Received);
    assert!(received.starts_with("+OK"), "{received:?}");
}

/// More messages than the client machine keeps outstanding (4,096 commands by default):
/// `retr_many` tops the pipeline up as answers complete instead of refusing.
pub fn retr_many_past_the_pending_limit<A: Adapter>() {
    let cert = cert();
    let server = A::pop3_server(backend(), &cert, false);
    let mut s = A::pop3_connect(server.port(), options(Security::StartTls, &cert)).unwrap();
    s.login(USER, PASSWORD).unwrap();
    let msgs: Vec<u32> = (0..5_000).map(|i| 1 + i % 2).collect();
    let many = s.retr_many(&msgs).unwrap();
    assert_eq!(many.len(), msgs.len());
    for (got, &msg) in many.iter().zip(&msgs) {
        assert_eq!(got.as_slice(), if msg == 1 { MSG1 } else { MSG2_WIRE });
    }
    s.quit().unwrap();
}

/// The POP3 cases as `#[test]` functions for one adapter.
#[macro_export]
macro_rules! pop3_cases {
    ($adapter:ty) => {
        #[test]
        fn pop3_ours_over_stls() {
            suite::pop3::ours_over_stls::<$adapter>();
        }
        #[test]
        fn pop3_retr_many_pipelined() {
            suite::pop3::retr_many_pipelined::<$adapter>();
        }
        #[test]
        fn pop3_retr_many_past_the_pending_limit() {
            suite::pop3::retr_many_past_the_pending_limit::<$adapter>();
        }
        #[test]
        fn pop3_drop_after_dele_keeps_messages() {
            suite::pop3::drop_after_dele_keeps_messages::<$adapter>();
        }
        #[test]
        fn pop3_ours_over_implicit_tls() {
            suite::pop3::ours_over_implicit_tls::<$adapter>();
        }
        #[test]
        fn pop3_server_with_curl() {
            suite::pop3::server_with_curl::<$adapter>();
        }
        #[test]
        fn pop3_server_with_poplib() {
            suite::pop3::server_with_poplib::<$adapter>();
        }
        #[test]
        fn pop3_client_with_dovecot() {
            suite::pop3::client_with_dovecot::<$adapter>();
        }
    };
}
