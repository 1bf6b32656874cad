//! `mailproto send` and `mailproto fetch` end to end, through the real binary, against
//! aiosmtpd, Dovecot and a scripted SMTP server.
//!
//! Tests that need an outside peer print `SKIPPED` when it is missing, or fail under
//! `MAILPROTO_REQUIRE_PEERS=1`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::{fs, thread};

use mailproto_std::tls::SelfSigned;
use mailproto_testkit::{Aiosmtpd, Dovecot};

/// The binary, with no password in its environment.
fn mailproto(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailproto"));
    cmd.args(args).env_remove("MAILPROTO_PASSWORD");
    cmd
}

/// Run `cmd` with `stdin` (empty when `None`) and collect its output.
fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailproto");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        input.write_all(bytes).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait for mailproto")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Assert a successful run and return its standard output.
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A certificate for localhost / 127.0.0.1, and a PEM file with it for `--ca-file`.
fn certificate(dir: &Path) -> (SelfSigned, PathBuf) {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).expect("certificate");
    let path = dir.join("ca.pem");
    fs::write(&path, &cert.cert_pem).expect("write ca.pem");
    (cert, path)
}

fn server(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------------------
// send

#[test]
fn send_plain_builds_a_mime_message() {
    let test = "send_plain_builds_a_mime_message";
    let Some(smtpd) = Aiosmtpd::start(test, None, &[]) else {
        return;
    };
    let out = run(
        mailproto(&[
            "send",
            "--plain",
            "--server",
            &server(smtpd.port),
            "--from",
            "Alice <alice@example.org>",
            "--to",
            "bob@example.org",
            "--to",
            "carol@example.org",
            "--subject",
            "Plain hello",
            "--body",
            "Hello Bob.\nSecond line.\n",
        ]),
        None,
    );
    let stdout = ok(&out);
    assert!(stdout.contains("bob@example.org: 250"), "{stdout}");
    assert!(stdout.contains("carol@example.org: 250"), "{stdout}");
    assert!(stdout.contains("message: 250 2.0.0 OK"), "{stdout}");
    let received = smtpd.received();
    assert_eq!(received.len(), 1);
    let envelope = &received[0].envelope;
    assert!(
        envelope.contains("\"from\": \"alice@example.org\""),
        "{envelope}"
    );
    assert!(
        envelope.contains("\"to\": [\"bob@example.org\", \"carol@example.org\"]"),
        "{envelope}"
    );
    assert!(envelope.contains("\"tls\": false"), "{envelope}");
    let data = text(&received[0].data);
    for header in [
        "From: \"Alice\" <alice@example.org>",
        "To: <bob@example.org>, <carol@example.org>",
        "Subject: Plain hello",
        "Date: ",
        "Message-ID: <",
        "MIME-Version: 1.0",
    ] {
        assert!(data.contains(header), "no {header:?} in\n{data}");
    }
    assert!(data.contains("Hello Bob.\r\nSecond line.\r\n"), "{data}");
}

#[test]
fn send_starttls_with_auth_and_an_attachment() {
    let test = "send_starttls_with_auth_and_an_attachment";
    let dir = tempfile::tempdir().unwrap();
    let (cert, ca) = certificate(dir.path());
    let Some(smtpd) = Aiosmtpd::start(
        test,
        Some((&cert.cert_pem, &cert.key_pem)),
        &[("alice", "pw")],
    ) else {
        return;
    };
    let attachment = dir.path().join("data.bin");
    fs::write(&attachment, b"\x00\x01\x02binary attachment\xfe\xff").unwrap();
    let mut cmd = mailproto(&[
        "send",
        "--server",
        &server(smtpd.port),
        "--starttls",
        "--ca-file",
        ca.to_str().unwrap(),
        "--user",
        "alice",
        "--from",
        "alice@example.org",
        "--to",
        "bob@example.org",
        "--subject",
        "With attachment",
        "--body",
        "See attached.",
        "--attach",
        attachment.to_str().unwrap(),
    ]);
    cmd.env("MAILPROTO_PASSWORD", "pw");
    let stdout = ok(&run(cmd, None));
    assert!(stdout.contains("bob@example.org: 250"), "{stdout}");
    let received = smtpd.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].envelope.contains("\"tls\": true"));
    let data = text(&received[0].data);
    assert!(data.contains("Subject: With attachment"), "{data}");
    assert!(data.contains("Content-Type: multipart/mixed"), "{data}");
    assert!(data.contains("See attached."), "{data}");
    assert!(data.contains("application/octet-stream"), "{data}");
    assert!(data.contains("filename=\"data.bin\""), "{data}");
    assert!(data.contains("Content-Transfer-Encoding: base64"), "{data}");
    assert!(data.contains("AAECYmluYXJ5IGF0dGFjaG1lbnT+/w=="), "{data}");
}

#[test]
fn send_refuses_a_bad_certificate_and_a_wrong_password() {
    let test = "send_refuses_a_bad_certificate_and_a_wrong_password";
    let dir = tempfile::tempdir().unwrap();
    let (cert, ca) = certificate(dir.path());
    let Some(smtpd) = Aiosmtpd::start(
        test,
        Some((&cert.cert_pem, &cert.key_pem)),
        &[("alice", "pw")],
    ) else {
        return;
    };
    let server = server(smtpd.port);
    let send = |extra: &[&str]| {
        let mut args = vec![
            "send",
            "--server",
            server.as_str(),
            "--from",
            "alice@example.org",
            "--to",
            "bob@example.org",
            "--body",
            "x",
            "--starttls",
            "--user",
            "alice",
        ];
        args.extend_from_slice(extra);
        let mut cmd = mailproto(&args);
        cmd.env("MAILPROTO_PASSWORD", "pw");
        run(cmd, None)
    };
    // A self-signed certificate is not trusted by the system's roots.
    let out = send(&[]);
    assert_eq!(out.status.code(), Some(69), "TLS failure: EX_UNAVAILABLE");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("TLS"), "{stderr}");

    // A password file wins over the environment.
    let pwfile = dir.path().join("pw");
    fs::write(&pwfile, "wrong\n").unwrap();
    let out = send(&[
        "--ca-file",
        ca.to_str().unwrap(),
        "--password-file",
        pwfile.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(77), "authentication: EX_NOPERM");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("refused AUTH: 535"), "{stderr}");
    assert!(smtpd.received().is_empty());
}

#[test]
fn send_raw_from_stdin_is_byte_exact() {
    let test = "send_raw_from_stdin_is_byte_exact";
    let Some(smtpd) = Aiosmtpd::start(test, None, &[]) else {
        return;
    };
    let message: &[u8] = b"From: alice@example.org\r\nTo: bob@example.org\r\n\
        Subject: raw\r\n\r\n.a line starting with a dot\r\n..two dots\r\n.\r\n\
        last line\xc3\xa9\r\n";
    let out = run(
        mailproto(&[
            "send",
            "--plain",
            "--server",
            &server(smtpd.port),
            "--from",
            "alice@example.org",
            "--to",
            "bob@example.org",
            "--raw",
            "-",
        ]),
        Some(message),
    );
    ok(&out);
    let received = smtpd.received();
    assert_eq!(received.len(), 1);
    assert_eq!(text(&received[0].data), text(message));
    assert_eq!(received[0].data, message);
}

#[test]
fn send_verbose_masks_credentials() {
    let test = "send_verbose_masks_credentials";
    let dir = tempfile::tempdir().unwrap();
    let (cert, ca) = certificate(dir.path());
    let Some(smtpd) = Aiosmtpd::start(
        test,
        Some((&cert.cert_pem, &cert.key_pem)),
        &[("alice", "s3cret-pw")],
    ) else {
        return;
    };
    let raw = dir.path().join("message.eml");
    fs::write(&raw, "Subject: v\r\n\r\nbody\r\n").unwrap();
    let mut cmd = mailproto(&[
        "send",
        "-v",
        "--server",
        &server(smtpd.port),
        "--starttls",
        "--ca-file",
        ca.to_str().unwrap(),
        "--user",
        "alice",
        "--from",
        "alice@example.org",
        "--to",
        "bob@example.org",
        "--raw",
        raw.to_str().unwrap(),
    ]);
    cmd.env("MAILPROTO_PASSWORD", "s3cret-pw");
    let out = run(cmd, None);
    ok(&out);
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    for expected in [
        "C: STARTTLS",
        "C: AUTH PLAIN ***",
        "C: MAIL FROM:<alice@example.org> SIZE=20 BODY=8BITMIME",
        "C: DATA",
        "C: .",
        "C: QUIT",
    ] {
        assert!(lines.contains(&expected), "no {expected:?} in\n{stderr}");
    }
    // The transcript comes from the machines: the message itself is left out.
    assert!(!lines.contains(&"C: body"), "{stderr}");
    assert!(lines.iter().any(|l| l.starts_with("S: 220")), "{stderr}");
    assert!(lines.iter().any(|l| l.starts_with("S: 250 ")), "{stderr}");
    assert!(lines.iter().any(|l| l.starts_with("S: 235")), "{stderr}");
    // Neither the password nor its PLAIN encoding (\0alice\0s3cret-pw) appears.
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    assert!(!stderr.contains("AGFsaWNlAHMzY3JldC1wdw"), "{stderr}");
}

/// A scripted SMTP server for one session: refuses recipients whose local part starts
/// with `nobody`, accepts the rest, and returns what it received.
fn scripted_smtp(listener: TcpListener) -> JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        let mut seen = Vec::new();
        let say = |w: &mut TcpStream, s: &str| w.write_all(s.as_bytes()).expect("write");
        say(&mut writer, "220 scripted ESMTP\r\n");
        let mut in_data = false;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let l = line.trim_end().to_string();
            seen.push(l.clone());
            if in_data {
                if l == "." {
                    in_data = false;
                    say(&mut writer, "250 2.0.0 queued as 1\r\n");
                }
                continue;
            }
            let upper = l.to_ascii_uppercase();
            let reply = if upper.starts_with("EHLO") {
                "250-scripted\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                "250 2.1.0 Ok\r\n"
            } else if upper.starts_with("RCPT TO:<NOBODY") {
                "550 5.1.1 no such user here\r\n"
            } else if upper.starts_with("RCPT TO:") {
                "250 2.1.5 Ok\r\n"
            } else if upper == "DATA" {
                in_data = true;
                "354 End data with <CR><LF>.<CR><LF>\r\n"
            } else if upper == "QUIT" {
                say(&mut writer, "221 2.0.0 Bye\r\n");
                break;
            } else {
                "502 5.5.2 not here\r\n"
            };
            say(&mut writer, reply);
        }
        seen
    })
}

fn send_to(server: &str, to: &[&str]) -> Output {
    let mut args = vec![
        "send",
        "--plain",
        "--server",
        server,
        "--from",
        "alice@example.org",
        "--body",
        "hi",
    ];
    for t in to {
        args.extend(["--to", t]);
    }
    run(mailproto(&args), None)
}

#[test]
fn send_reports_a_refused_recipient_and_exits_1() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = scripted_smtp(listener);
    let out = send_to(
        &format!("127.0.0.1:{port}"),
        &["bob@example.org", "nobody@example.org"],
    );
    let seen = server.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("bob@example.org: 250 2.1.5 Ok\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("nobody@example.org: refused 550 5.1.1 no such user here\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("message: 250 2.0.0 queued as 1"),
        "{stdout}"
    );
    assert!(seen.contains(&"DATA".to_string()), "{seen:?}");
}

#[test]
fn send_with_every_recipient_refused_exits_1_with_the_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = scripted_smtp(listener);
    let out = send_to(&format!("127.0.0.1:{port}"), &["nobody@example.org"]);
    let seen = server.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(69),
        "550 for every recipient: EX_UNAVAILABLE"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not sent"), "{stderr}");
    // Each refused recipient gets its line, as when some were accepted.
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("nobody@example.org: refused 550 5.1.1 no such user here\n"),
        "{stdout}"
    );
    assert!(!seen.contains(&"DATA".to_string()), "{seen:?}");
}

#[test]
fn send_over_ipv6_loopback() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED send_over_ipv6_loopback: no IPv6 loopback here");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let server = scripted_smtp(listener);
    let out = send_to(&format!("[::1]:{port}"), &["bob@example.org"]);
    server.join().unwrap();
    assert!(ok(&out).contains("bob@example.org: 250"));
}

#[test]
fn send_fails_cleanly_on_bad_input() {
    // Nothing listens on port 1; the address is refused before anything is sent.
    let out = send_to("127.0.0.1:1", &["bob@example.org"]);
    assert_eq!(
        out.status.code(),
        Some(69),
        "connection refused: EX_UNAVAILABLE"
    );
    assert!(text(&out.stderr).starts_with("mailproto: 127.0.0.1:1:"));
    let out = send_to("127.0.0.1:2525", &["not-an-address"]);
    assert_eq!(out.status.code(), Some(64), "a bad --to: EX_USAGE");
    assert!(text(&out.stderr).contains("--to"), "{}", text(&out.stderr));
    let out = send_to("::1:25", &["bob@example.org"]);
    assert!(
        text(&out.stderr).contains("brackets"),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------
// fetch

/// Three messages with CRLF line ends (one with a line that needs dot-stuffing), by
/// Maildir file name.
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "1700000001.M1P1.test",
            b"From: a@example.org\r\nSubject: one\r\n\r\nfirst\r\n".to_vec(),
        ),
        (
            "1700000002.M2P1.test",
            b"From: b@example.org\r\nSubject: two\r\n\r\n.dot line\r\nsecond\r\n".to_vec(),
        ),
        (
            "1700000003.M3P1.test",
            format!(
                "From: c@example.org\r\nSubject: three\r\n\r\n{}",
                "a longer body line to make some bulk\r\n".repeat(2000)
            )
            .into_bytes(),
        ),
    ]
}

fn start_dovecot(test: &str, dir: &Path) -> Option<(Dovecot, PathBuf)> {
    let (cert, ca) = certificate(dir);
    let dovecot = Dovecot::start(test, &[("alice", "pw")], &cert.cert_pem, &cert.key_pem)?;
    Some((dovecot, ca))
}

/// `mailproto fetch` from 127.0.0.1:`port` as alice; in plaintext (`--plain`) unless
/// `extra` asks for TLS.
fn fetch(port: u16, extra: &[&str]) -> Output {
    let server = server(port);
    let mut args = vec!["fetch", "--server", &server, "--user", "alice"];
    if !extra.iter().any(|a| ["--stls", "--tls"].contains(a)) {
        args.push("--plain");
    }
    args.extend_from_slice(extra);
    let mut cmd = mailproto(&args);
    cmd.env("MAILPROTO_PASSWORD", "pw");
    run(cmd, None)
}

/// The files of a Maildir's `new/` and `cur/`, as a set of contents.
fn stored(maildir: &Path) -> BTreeSet<Vec<u8>> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .map(|e| fs::read(e.unwrap().path()).unwrap())
        .collect()
}

#[test]
fn fetch_lists_and_retrieves_byte_exact() {
    let test = "fetch_lists_and_retrieves_byte_exact";
    let dir = tempfile::tempdir().unwrap();
    let Some((dovecot, _)) = start_dovecot(test, dir.path()) else {
        return;
    };
    let messages = messages();
    for (name, bytes) in &messages {
        dovecot.deliver("alice", name, bytes);
    }
    let listing = ok(&fetch(dovecot.port, &["--list"]));
    let rows: Vec<Vec<String>> = listing
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 3, "{listing}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 3, "{listing}");
        assert_eq!(row[0], (i + 1).to_string());
        let (_, bytes) = messages
            .iter()
            .find(|(name, _)| row[2].starts_with(name))
            .unwrap_or_else(|| panic!("unknown uidl in {listing}"));
        assert_eq!(row[1], bytes.len().to_string(), "{listing}");
    }
    for row in &rows {
        let (_, bytes) = messages
            .iter()
            .find(|(n, _)| row[2].starts_with(n))
            .unwrap();
        let out = fetch(dovecot.port, &["--retr", &row[0]]);
        ok(&out);
        assert_eq!(&out.stdout, bytes, "message {}", row[0]);
    }
    let top = fetch(dovecot.port, &["--top", &rows[2][0], "1"]);
    let (_, bytes) = messages
        .iter()
        .find(|(n, _)| rows[2][2].starts_with(n))
        .unwrap();
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let first_line_end = head_end
        + bytes[head_end..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap()
        + 2;
    assert_eq!(ok(&top).as_bytes(), &bytes[..first_line_end]);
    let out = fetch(dovecot.port, &["--retr", "99"]);
    assert_eq!(out.status.code(), Some(69));
    assert!(text(&out.stderr).contains("-ERR"), "{}", text(&out.stderr));
}

#[test]
fn fetch_downloads_new_messages_once_and_deletes_after_storing() {
    let test = "fetch_downloads_new_messages_once_and_deletes_after_storing";
    let dir = tempfile::tempdir().unwrap();
    let Some((dovecot, _)) = start_dovecot(test, dir.path()) else {
        return;
    };
    let inbox = dir.path().join("inbox");
    let out_arg = inbox.to_str().unwrap();
    let messages = messages();
    for (name, bytes) in &messages[..2] {
        dovecot.deliver("alice", name, bytes);
    }

    let first = fetch(dovecot.port, &["-v", "--out", out_arg]);
    let transcript = text(&first.stderr);
    let first = ok(&first);
    assert!(first.starts_with("2 new messages saved"), "{first}");
    // Dovecot offers PIPELINING: both RETRs go out before the first answer.
    let at = |line: &str| transcript.lines().position(|l| l == line);
    let first_answer = transcript.lines().position(|l| l.ends_with(" octets"));
    assert!(
        at("C: RETR 2").is_some() && at("C: RETR 2") < first_answer,
        "{transcript}"
    );
    let want: BTreeSet<Vec<u8>> = messages[..2].iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(stored(&inbox), want);
    assert_eq!(fs::read_dir(inbox.join("new")).unwrap().count(), 2);
    assert_eq!(fs::read_dir(inbox.join("tmp")).unwrap().count(), 0);
    let state = fs::read_to_string(inbox.join(".mailproto-uidls")).unwrap();
    assert_eq!(state.lines().count(), 2, "{state}");
    let prefix = format!("127.0.0.1:{} alice 1700000001.M1P1.test", dovecot.port);
    assert!(state.lines().any(|l| l.starts_with(&prefix)), "{state}");

    // Nothing new: nothing fetched again.
    let second = ok(&fetch(dovecot.port, &["--out", out_arg]));
    assert!(second.starts_with("0 new messages saved"), "{second}");
    assert_eq!(stored(&inbox), want);

    // A new message arrives: only it is fetched; then everything stored is deleted.
    dovecot.deliver("alice", messages[2].0, &messages[2].1);
    let third = ok(&fetch(dovecot.port, &["--out", out_arg, "--delete"]));
    assert!(third.starts_with("1 new message saved"), "{third}");
    assert!(third.contains("3 deleted on the server"), "{third}");
    let want: BTreeSet<Vec<u8>> = messages.iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(stored(&inbox), want);
    assert!(
        stored(&dovecot.maildir("alice")).is_empty(),
        "Dovecot still holds messages:\n{}",
        dovecot.log()
    );
    let fourth = ok(&fetch(dovecot.port, &["--out", out_arg]));
    assert!(fourth.starts_with("0 new messages saved"), "{fourth}");
    // The UIDLs of deleted messages are forgotten.
    let state = fs::read_to_string(inbox.join(".mailproto-uidls")).unwrap();
    assert_eq!(state, "", "{state}");
}

#[test]
fn fetch_over_stls_and_implicit_tls() {
    let test = "fetch_over_stls_and_implicit_tls";
    let dir = tempfile::tempdir().unwrap();
    let Some((dovecot, ca)) = start_dovecot(test, dir.path()) else {
        return;
    };
    let messages = messages();
    dovecot.deliver("alice", messages[1].0, &messages[1].1);
    let ca = ca.to_str().unwrap();
    let out = fetch(dovecot.port, &["--stls", "--ca-file", ca, "--retr", "1"]);
    ok(&out);
    assert_eq!(out.stdout, messages[1].1);
    let out = fetch(
        dovecot.pop3s_port,
        &["--tls", "--ca-file", ca, "--retr", "1"],
    );
    ok(&out);
    assert_eq!(out.stdout, messages[1].1);
    let inbox = dir.path().join("inbox");
    let saved = ok(&fetch(
        dovecot.pop3s_port,
        &["--tls", "--ca-file", ca, "--out", inbox.to_str().unwrap()],
    ));
    assert!(saved.starts_with("1 new message saved"), "{saved}");
    assert_eq!(stored(&inbox), BTreeSet::from([messages[1].1.clone()]));
    // Without the CA file the self-signed certificate is refused, unless told not to
    // check it.
    let out = fetch(dovecot.pop3s_port, &["--tls", "--list"]);
    assert_eq!(out.status.code(), Some(69));
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    let listing = ok(&fetch(
        dovecot.pop3s_port,
        &["--tls", "--insecure", "--list"],
    ));
    assert!(listing.starts_with("1 "), "{listing}");
    // Implicit TLS against the plaintext port fails cleanly, without hanging.
    let out = fetch(dovecot.port, &["--tls", "--ca-file", ca, "--list"]);
    assert_eq!(out.status.code(), Some(69));
}

#[test]
fn fetch_verbose_masks_the_password() {
    let test = "fetch_verbose_masks_the_password";
    let dir = tempfile::tempdir().unwrap();
    let Some((dovecot, ca)) = start_dovecot(test, dir.path()) else {
        return;
    };
    let messages = messages();
    dovecot.deliver("alice", messages[0].0, &messages[0].1);
    let pwfile = dir.path().join("pw");
    fs::write(&pwfile, "pw\n").unwrap();
    let inbox = dir.path().join("inbox");
    let server = server(dovecot.port);
    let out = run(
        mailproto(&[
            "fetch",
            "-v",
            "--server",
            &server,
            "--stls",
            "--ca-file",
            ca.to_str().unwrap(),
            "--user",
            "alice",
            "--password-file",
            pwfile.to_str().unwrap(),
            "--out",
            inbox.to_str().unwrap(),
        ]),
        None,
    );
    ok(&out);
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    for expected in [
        "C: STLS",
        "C: USER alice",
        "C: PASS ***",
        "C: UIDL",
        "C: RETR 1",
        "C: QUIT",
    ] {
        assert!(lines.contains(&expected), "no {expected:?} in\n{stderr}");
    }
    assert!(!stderr.contains("PASS pw"), "{stderr}");
    // The transcript comes from the machines: status lines, not message contents.
    assert!(!stderr.contains("Subject: one"), "{stderr}");

    // SASL PLAIN: the initial response is masked.
    let out = run(
        mailproto(&[
            "fetch",
            "-v",
            "--server",
            &server,
            "--stls",
            "--ca-file",
            ca.to_str().unwrap(),
            "--user",
            "alice",
            "--password-file",
            pwfile.to_str().unwrap(),
            "--auth",
            "sasl",
            "--list",
        ]),
        None,
    );
    ok(&out);
    let stderr = text(&out.stderr);
    assert!(stderr.lines().any(|l| l == "C: AUTH PLAIN ***"), "{stderr}");
    assert!(!stderr.contains("AGFsaWNlAHB3"), "{stderr}");
}

#[test]
fn fetch_with_a_wrong_password_fails() {
    let test = "fetch_with_a_wrong_password_fails";
    let dir = tempfile::tempdir().unwrap();
    let Some((dovecot, _)) = start_dovecot(test, dir.path()) else {
        return;
    };
    let server = server(dovecot.port);
    let mut cmd = mailproto(&[
        "fetch", "--plain", "--server", &server, "--user", "alice", "--list",
    ]);
    cmd.env("MAILPROTO_PASSWORD", "wrong");
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(77), "[AUTH]: EX_NOPERM");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("PASS: -ERR"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// TLS by default

#[test]
fn send_requires_starttls_unless_plain_is_given() {
    let test = "send_requires_starttls_unless_plain_is_given";
    let Some(smtpd) = Aiosmtpd::start(test, None, &[]) else {
        return;
    };
    let server = server(smtpd.port);
    let args = [
        "--server",
        server.as_str(),
        "--from",
        "alice@example.org",
        "--to",
        "bob@example.org",
        "--body",
        "x",
    ];
    // No STARTTLS offered: nothing is sent, and the error names the way out.
    let out = run(mailproto(&[&["send"][..], &args].concat()), None);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("STARTTLS") && stderr.contains("--plain"),
        "{stderr}"
    );
    assert!(smtpd.received().is_empty());
    // --plain and --tls together make no sense.
    let out = run(
        mailproto(&[&["send", "--plain", "--tls"][..], &args].concat()),
        None,
    );
    assert_eq!(out.status.code(), Some(64));
    // With --plain it goes.
    ok(&run(
        mailproto(&[&["send", "--plain"][..], &args].concat()),
        None,
    ));
    assert_eq!(smtpd.received().len(), 1);
}

#[test]
fn fetch_requires_stls_unless_plain_is_given() {
    // A POP3 server without STLS: the client must stop after CAPA, before any login.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines();
        writer.write_all(b"+OK ready\r\n").unwrap();
        let mut seen = Vec::new();
        while let Some(Ok(line)) = lines.next() {
            if line == "CAPA" {
                writer.write_all(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n").unwrap();
            } else {
                writer.write_all(b"-ERR not in this test\r\n").unwrap();
            }
            seen.push(line);
        }
        seen
    });
    let mut cmd = mailproto(&[
        "fetch",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--user",
        "alice",
        "--list",
    ]);
    cmd.env("MAILPROTO_PASSWORD", "pw");
    let out = run(cmd, None);
    let seen = server.join().unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("STLS") && stderr.contains("--plain"),
        "{stderr}"
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.starts_with("USER") || l.starts_with("PASS")),
        "credentials sent without TLS: {seen:?}"
    );
}

#[test]
fn fetch_uses_stls_by_default() {
    let test = "fetch_uses_stls_by_default";
    let dir = tempfile::tempdir().unwrap();
    let Some((dovecot, ca)) = start_dovecot(test, dir.path()) else {
        return;
    };
    let server = server(dovecot.port);
    let mut cmd = mailproto(&[
        "fetch",
        "-v",
        "--server",
        &server,
        "--ca-file",
        ca.to_str().unwrap(),
        "--user",
        "alice",
        "--list",
    ]);
    cmd.env("MAILPROTO_PASSWORD", "pw");
    let out = run(cmd, None);
    ok(&out);
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let stls = lines.iter().position(|l| *l == "C: STLS");
    let user = lines.iter().position(|l| *l == "C: USER alice");
    assert!(
        stls.is_some() && user.is_some() && stls < user,
        "STLS before USER expected:\n{stderr}"
    );
}
