//! `mailproto sendmail` as programs call it, against a real SMTP server (aiosmtpd):
//! `-t` takes the recipients from the header and leaves `Bcc:` out of what is sent, a
//! lone dot ends the message unless `-i`/`-oi`, recipients may be given as arguments,
//! and a refused delivery gives a sysexits status.
#![allow(missing_docs)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use mailproto_testkit::Aiosmtpd;

fn sendmail(url: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailproto"))
        .arg("sendmail")
        .args(["--server", url])
        .args(args)
        .env_remove("MAILPROTO_SMTP_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailproto sendmail");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

const MESSAGE: &[u8] = b"From: Cron <cron@client.test>\nTo: ann@mx.test\nBcc: audit@mx.test\n\
Subject: nightly\n\nall good\n.\nnot part of it\n";

#[test]
fn sendmail_t_takes_recipients_from_the_header_and_hides_bcc() {
    let Some(server) = Aiosmtpd::start("sendmail -t", None, &[]) else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}?tls=none", server.port);
    let out = sendmail(&url, &["-t", "extra@mx.test"], MESSAGE);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.received();
    assert_eq!(got.len(), 1);
    for rcpt in ["ann@mx.test", "audit@mx.test", "extra@mx.test"] {
        assert!(
            got[0].envelope.contains(rcpt),
            "{rcpt} in {}",
            got[0].envelope
        );
    }
    assert!(
        got[0].envelope.contains("cron@client.test"),
        "{}",
        got[0].envelope
    );
    let data = String::from_utf8_lossy(&got[0].data);
    assert!(!data.contains("Bcc") && !data.contains("audit"), "{data}");
    assert!(
        data.contains("all good") && !data.contains("not part of it"),
        "{data}"
    );

    // -oi: the dot is text; -f sets the sender; recipients as arguments.
    let out = sendmail(
        &url,
        &["-oi", "-f", "robot@client.test", "bob@mx.test"],
        MESSAGE,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert!(
        got[1].envelope.contains("robot@client.test"),
        "{}",
        got[1].envelope
    );
    assert!(got[1].envelope.contains("bob@mx.test") && !got[1].envelope.contains("ann@"));
    assert!(String::from_utf8_lossy(&got[1].data).contains("not part of it"));
}

#[test]
fn sendmail_fails_with_a_sysexits_status() {
    // No recipient at all: a usage error, before any connection.
    let out = sendmail("smtp://127.0.0.1:1?tls=none", &[], b"Subject: x\n\nx\n");
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing listens: the service is unavailable.
    let out = sendmail(
        "smtp://127.0.0.1:1?tls=none",
        &["a@mx.test"],
        b"Subject: x\n\nx\n",
    );
    assert_eq!(
        out.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
