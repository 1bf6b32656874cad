//! SMTP cases: our client against aiosmtpd (plain; STARTTLS with AUTH PLAIN and LOGIN).
//! The bytes aiosmtpd stored are compared with what was sent.

use mailproto_core::sasl::Mechanism;
use mailproto_std::pop3_client::Security;
use mailproto_std::smtp_client::SmtpOptions;
use mailproto_std::tls::ClientTls;
use mailproto_testkit::Aiosmtpd;

use super::Adapter;
use super::pop3::cert;

/// A message with a leading-dot line, an embedded terminator and bare LF line ends (sent
/// as CRLF).
pub const BODY: &[u8] = b"From: a@example.org\nSubject: hi\n\n.dot line\n.\nlast line";
/// What the server must receive: CRLF everywhere, the last line ended.
pub const BODY_WIRE: &[u8] =
    b"From: a@example.org\r\nSubject: hi\r\n\r\n.dot line\r\n.\r\nlast line\r\n";

fn options(security: Security, roots: &str) -> SmtpOptions {
    SmtpOptions {
        security,
        tls: ClientTls::with_root_pem(roots.as_bytes()).unwrap(),
        ..SmtpOptions::default()
    }
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
    };
}
