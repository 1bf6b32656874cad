//! The peers this crate starts really serve: Dovecot answers curl over POP3 and POP3S,
//! aiosmtpd stores what Python's smtplib sends.
#![allow(missing_docs)]

use std::process::Command;

use mailproto_std::tls::SelfSigned;
use mailproto_testkit::{Aiosmtpd, Dovecot, program};

#[test]
fn dovecot_serves_a_delivered_message_to_curl() {
    let test = "dovecot_serves_a_delivered_message_to_curl";
    let Some(curl) = program(test, "curl") else {
        return;
    };
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let Some(dovecot) = Dovecot::start(test, &[("alice", "secret")], &cert.cert_pem, &cert.key_pem)
    else {
        return;
    };
    let message = b"Subject: hello\r\n\r\nbody line\r\n";
    dovecot.deliver("alice", "1000.test.host", message);
    let url = format!("pop3://127.0.0.1:{}/1", dovecot.port);
    let out = Command::new(&curl)
        .args(["-s", "-u", "alice:secret", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "curl failed: {}", dovecot.log());
    assert_eq!(out.stdout, message);
    let url = format!("pop3s://127.0.0.1:{}/1", dovecot.pop3s_port);
    let out = Command::new(&curl)
        .args(["-s", "-k", "-u", "alice:secret", &url])
        .output()
        .unwrap();
    assert_eq!(out.stdout, message, "over POP3S");
}

#[test]
fn aiosmtpd_stores_what_smtplib_sends() {
    let test = "aiosmtpd_stores_what_smtplib_sends";
    let Some(server) = Aiosmtpd::start(test, None, &[]) else {
        return;
    };
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {})\n\
         s.sendmail('a@example.org', ['b@example.org'], b'Subject: x\\r\\n\\r\\n.dot\\r\\n')\ns.quit()\n",
        server.port
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, b"Subject: x\r\n\r\n.dot\r\n");
    assert!(got[0].envelope.contains("b@example.org"));
}
