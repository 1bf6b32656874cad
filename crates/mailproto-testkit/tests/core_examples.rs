//! The core crate's examples run against real peers on loopback: `core_smtp_server`
//! receives a message from Python's smtplib, `core_pop3_client` fetches one from Dovecot.
//! Both use the core alone over a `TcpStream`, with time passed in.
#![allow(missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use mailproto_std::tls::SelfSigned;
use mailproto_testkit::{Dovecot, peers_required, program, skip};

/// An example binary of `mailproto-core`, built next to this test by `cargo test
/// --workspace` (cargo builds every example of the packages it tests).
fn example(test: &str, name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    if path.exists() {
        return Some(path);
    }
    let why = format!(
        "{} not built (run `cargo test --workspace` or `cargo build -p mailproto-core --examples`)",
        path.display()
    );
    assert!(!peers_required(), "{test}: {why}");
    skip(test, &why);
    None
}

#[test]
fn core_smtp_server_example_receives_from_smtplib() {
    let test = "core_smtp_server_example_receives_from_smtplib";
    let Some(python) = program(test, "python3") else {
        return;
    };
    let Some(exe) = example(test, "core_smtp_server") else {
        return;
    };
    let mut server = Command::new(exe)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let port = addr.rsplit(':').next().unwrap();
    let script = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.sendmail('a@example.org', ['b@example.org'], b'Subject: core\\r\\n\\r\\n.dot\\r\\nend\\r\\n')\n\
         s.quit()\n"
    );
    let status = Command::new(python).args(["-c", &script]).status().unwrap();
    assert!(status.success(), "smtplib failed");
    let mut rest = String::new();
    for line in stdout.lines() {
        rest.push_str(&line.unwrap());
        rest.push('\n');
    }
    let exit = server.wait().unwrap();
    assert!(exit.success());
    assert_eq!(
        rest,
        "Subject: core\n\n.dot\nend\nclosed: client sent QUIT\n"
    );
}

#[test]
fn core_pop3_client_example_fetches_from_dovecot() {
    let test = "core_pop3_client_example_fetches_from_dovecot";
    let Some(exe) = example(test, "core_pop3_client") else {
        return;
    };
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let Some(dovecot) = Dovecot::start(test, &[("alice", "secret")], &cert.cert_pem, &cert.key_pem)
    else {
        return;
    };
    let message = b"Subject: hello\r\n\r\n..starts with a dot\r\n";
    dovecot.deliver("alice", "1000.test.host", message);
    let addr = format!("127.0.0.1:{}", dovecot.port);
    let mut child = Command::new(exe)
        .args([addr.as_str(), "alice", "secret"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: the example's own deadlines end it; this only guards the test.
    let mut waited = Duration::ZERO;
    while child.try_wait().unwrap().is_none() {
        assert!(waited < Duration::from_secs(30), "example still running");
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", dovecot.log());
    let text = String::from_utf8_lossy(&out.stdout);
    // The message comes back exactly as stored (stuffed on the wire, unstuffed here).
    assert_eq!(
        text,
        "1 messages\nSubject: hello\r\n\r\n..starts with a dot\r\nclosed: QUIT answered\n"
    );
}
