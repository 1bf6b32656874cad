//! `mailproto serve` end to end, through the real binary, on each runtime it can run on
//! (`--runtime std|smol|tokio`): nothing acknowledged is lost under concurrent load, a
//! killed server leaves nothing partial in `new/`, POP3 deletes only after QUIT and locks
//! the maildrop, curl / Python clients work against it, SIGINT stops it cleanly, and
//! its deadlines drop a dripping client and one that stops reading.
#![allow(missing_docs)]

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mailproto_core::secret::Secret;
use mailproto_core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_std::pop3_client::{Pop3Client, Pop3Options, Security};
use mailproto_std::smtp_client::{Envelope, SmtpClient, SmtpOptions};
use mailproto_testkit::{program, python_module};
use sha2::{Digest, Sha256};

/// A `mailproto serve` child process, killed on drop.
struct Serve {
    child: Child,
    smtp: SocketAddr,
    pop3: SocketAddr,
    dir: tempfile::TempDir,
    /// What the server logged on stderr after its banner.
    log: Arc<Mutex<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Start on free loopback ports with users alice and bob, sessions run by
    /// `runtime` (`std`, `smol` or `tokio`).
    fn start_on(runtime: &str, extra: &[&str]) -> Serve {
        Self::start_under(None, runtime, extra)
    }

    /// [`Serve::start_on`], run by `wrapper` (e.g. `prlimit` and its arguments) when
    /// given.
    fn start_under(wrapper: Option<&[&str]>, runtime: &str, extra: &[&str]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let binary = env!("CARGO_BIN_EXE_mailproto");
        let mut command = match wrapper {
            Some([program, args @ ..]) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary);
                c
            }
            _ => Command::new(binary),
        };
        let mut child = command
            .args(["serve", "--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0"])
            .args(["--user", "alice:wonderland", "--user", "bob:builder"])
            .args(["--runtime", runtime])
            .arg("--maildir")
            .arg(dir.path().join("mail"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        stderr.read_line(&mut first).unwrap();
        // Keep draining the log so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push_str(&line);
                line.clear();
            }
        });
        let word_after = |key: &str| -> SocketAddr {
            let rest = first
                .split(&format!("{key} "))
                .nth(1)
                .unwrap_or_else(|| panic!("no {key} address in {first:?}"));
            rest.split_whitespace().next().unwrap().parse().unwrap()
        };
        Serve {
            smtp: word_after("SMTP"),
            pop3: word_after("POP3"),
            child,
            dir,
            log,
        }
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user)
    }

    /// The messages in `new/` and `cur/` of `user`, without the trace header lines the
    /// server prepends (Return-Path and Received).
    fn stored(&self, user: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = fs::read_dir(self.maildir(user).join(sub)) else {
                continue;
            };
            for e in entries {
                let data = fs::read(e.unwrap().path()).unwrap();
                out.push(strip_trace(&data).to_vec());
            }
        }
        out
    }
}

fn strip_trace(data: &[u8]) -> &[u8] {
    let mut rest = data;
    for prefix in [&b"Return-Path: "[..], b"Received: "] {
        if rest.starts_with(prefix) {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
            rest = &rest[end..];
        }
    }
    rest
}

fn smtp(addr: SocketAddr) -> SmtpClient {
    let options = SmtpOptions::default().with_security(Security::Plain);
    SmtpClient::connect("127.0.0.1", addr.port(), options).unwrap()
}

fn envelope(to: &str) -> Envelope {
    let from = ReversePath::Mailbox("sender@example.org".parse::<Mailbox>().unwrap());
    Envelope::new(from, [ForwardPath::Mailbox(to.parse().unwrap())])
}

fn pop3(addr: SocketAddr) -> Pop3Client {
    let options = Pop3Options::default().with_security(Security::Plain);
    Pop3Client::connect("127.0.0.1", addr.port(), options).unwrap()
}

/// Log in, retrying (bounded) while an earlier session still holds the maildrop.
fn pop3_login_when_free(addr: SocketAddr, user: &str, pass: &Secret<String>) -> Pop3Client {
    for _ in 0..500 {
        let mut client = pop3(addr);
        match client.login(user, pass) {
            Ok(()) => return client,
            Err(e) if e.to_string().contains("IN-USE") => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the maildrop stayed locked after the earlier session ended");
}

/// A message body that differs per sender and index.
fn message(sender: usize, index: usize) -> Vec<u8> {
    let mut m = format!("Subject: load {sender}/{index}\r\n\r\n").into_bytes();
    for line in 0..(index % 7 + 1) * 5 {
        m.extend_from_slice(format!("{sender}.{index}.{line} the quick brown fox\r\n").as_bytes());
        if line % 4 == 0 {
            m.extend_from_slice(b".a line that starts with a dot\r\n");
        }
    }
    m
}

fn nothing_acknowledged_is_lost_under_concurrent_senders(runtime: &str) {
    // 2,000 messages from one address in seconds: the per-client message rate is lifted.
    let args = [
        "--quiet",
        "--max-connections",
        "64",
        "--messages-per-minute",
        "0",
    ];
    let serve = Serve::start_on(runtime, &args);
    let addr = serve.smtp;
    let senders: Vec<_> = (0..20)
        .map(|s| {
            thread::spawn(move || {
                let mut client = smtp(addr);
                let mut acknowledged = Vec::new();
                for i in 0..100 {
                    let body = message(s, i);
                    let report = client.send(envelope("alice@localhost"), &mut Cursor::new(&body));
                    if report.is_ok() {
                        acknowledged.push(Sha256::digest(&body).to_vec());
                    }
                }
                client.quit().unwrap();
                acknowledged
            })
        })
        .collect();
    let acknowledged: Vec<Vec<u8>> = senders
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(acknowledged.len(), 2000, "every message was acknowledged");
    let stored: HashSet<Vec<u8>> = serve
        .stored("alice")
        .iter()
        .map(|m| Sha256::digest(m).to_vec())
        .collect();
    let expected: HashSet<Vec<u8>> = acknowledged.into_iter().collect();
    assert_eq!(stored.len(), 2000);
    assert_eq!(stored, expected, "stored messages are byte-exact copies");
}

fn killed_mid_data_leaves_nothing_in_new(runtime: &str) {
    let mut serve = Serve::start_on(runtime, &[]);
    let mut tcp = TcpStream::connect(serve.smtp).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut line = String::new();
    let mut expect = |reader: &mut BufReader<TcpStream>, code: &str| loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.starts_with(&format!("{code} ")) {
            break;
        }
        assert!(line.starts_with(&format!("{code}-")), "{line}");
    };
    expect(&mut reader, "220");
    tcp.write_all(b"EHLO client\r\n").unwrap();
    expect(&mut reader, "250");
    tcp.write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n")
        .unwrap();
    expect(&mut reader, "250");
    expect(&mut reader, "250");
    expect(&mut reader, "354");
    tcp.write_all(b"Subject: half\r\n\r\nthe first half of a message\r\n")
        .unwrap();
    // Wait (bounded) until the delivery has started in tmp/.
    let tmp = serve.maildir("alice").join("tmp");
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_dir(&tmp).map_or(0, |d| d.count()) == 0 {
        assert!(Instant::now() < deadline, "the delivery never started");
        thread::sleep(Duration::from_millis(10));
    }
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    let new = fs::read_dir(serve.maildir("alice").join("new"))
        .unwrap()
        .count();
    assert_eq!(new, 0, "a partial message reached new/");
}

fn pop3_deletes_only_after_quit_and_locks_the_maildrop(runtime: &str) {
    let serve = Serve::start_on(runtime, &[]);
    let mut client = smtp(serve.smtp);
    for i in 0..2 {
        client
            .send(envelope("bob@localhost"), &mut Cursor::new(message(9, i)))
            .unwrap();
    }
    client.quit().unwrap();
    let pass = Secret::from("builder");

    let mut first = pop3(serve.pop3);
    first.login("bob", &pass).unwrap();
    assert_eq!(first.stat().unwrap().0, 2);
    let mut second = pop3(serve.pop3);
    let busy = second.login("bob", &pass).unwrap_err();
    assert!(busy.to_string().contains("IN-USE"), "{busy}");
    first.dele(1).unwrap();
    drop(first);
    drop(second);

    // The server notices the drop when it reads the end of the stream; until then the
    // maildrop is still locked (IN-USE), so retry, bounded.
    let mut again = pop3_login_when_free(serve.pop3, "bob", &pass);
    assert_eq!(
        again.stat().unwrap().0,
        2,
        "a dropped session deleted a message"
    );
    let uids = again.uidl().unwrap();
    let mut fetched = Vec::new();
    again.retr(2, &mut fetched).unwrap();
    assert_eq!(strip_trace(&fetched), &message(9, 1)[..]);
    again.dele(1).unwrap();
    again.quit().unwrap();
    assert_eq!(serve.stored("bob").len(), 1);
    let mut last = pop3_login_when_free(serve.pop3, "bob", &pass);
    let left = last.uidl().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].uid, uids[1].uid, "UIDLs are stable across sessions");
    last.quit().unwrap();
}

fn curl_and_python_clients_against_serve(runtime: &str) {
    let test = "curl_and_python_clients_against_serve";
    let Some(curl) = program(test, "curl") else {
        return;
    };
    if !python_module(test, "poplib") {
        return;
    }
    let serve = Serve::start_on(runtime, &["--tls-self-signed"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    let body = b"Subject: via curl\r\n\r\n.dotted\r\nbody\r\n";
    fs::write(&file, body).unwrap();
    let out = Command::new(&curl)
        .args(["-sS", "-k", "--ssl-reqd", "--user", "alice:wonderland"])
        .args([
            "--mail-from",
            "c@example.org",
            "--mail-rcpt",
            "alice@localhost",
        ])
        .arg("--upload-file")
        .arg(&file)
        .arg(format!("smtp://{}", serve.smtp))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&curl)
        .args(["-sS", "-k", "--ssl-reqd", "--user", "alice:wonderland"])
        .arg(format!("pop3://{}/1", serve.pop3))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(strip_trace(&out.stdout), body);
    let script = format!(
        "import poplib, ssl\n\
         p = poplib.POP3('127.0.0.1', {port})\n\
         p.stls(ssl._create_unverified_context())\n\
         p.user('alice'); p.pass_('wonderland')\n\
         lines = p.retr(1)[1]\n\
         p.quit()\n\
         print(lines[-2].decode(), lines[-1].decode())\n",
        port = serve.pop3.port()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ".dotted body");
}

fn ctrl_c_stops_the_server_cleanly(runtime: &str) {
    let Some(kill) = program("ctrl_c_stops_the_server_cleanly", "kill") else {
        return;
    };
    let mut serve = Serve::start_on(runtime, &[]);
    // A session in progress must not keep the server from stopping.
    let _idle = TcpStream::connect(serve.smtp).unwrap();
    let status = Command::new(kill)
        .args(["-INT", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = serve.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop after SIGINT");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
}

/// SIGTERM (as `docker stop` and systemd send) while a message is half sent: the server
/// lets the session finish its message within the grace period, stores it once, and
/// exits with success.
fn sigterm_during_a_delivery_lets_it_finish(runtime: &str) {
    let Some(kill) = program("sigterm_during_a_delivery_lets_it_finish", "kill") else {
        return;
    };
    let mut serve = Serve::start_on(runtime, &[]);
    let tcp = TcpStream::connect(serve.smtp).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(tcp);
    let expect = |r: &mut BufReader<TcpStream>, send: &[u8], code: &str| {
        r.get_mut().write_all(send).unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with(code), "{send:?}: {line:?}");
            if line.as_bytes().get(3) == Some(&b' ') {
                return line;
            }
        }
    };
    expect(&mut r, b"", "220");
    expect(&mut r, b"EHLO client.example\r\n", "250");
    expect(&mut r, b"MAIL FROM:<carol@example.org>\r\n", "250");
    expect(&mut r, b"RCPT TO:<alice@localhost>\r\n", "250");
    expect(&mut r, b"DATA\r\n", "354");
    let head = b"Subject: sigterm\r\n\r\nthe first half\r\n";
    r.get_mut().write_all(head).unwrap();

    let status = Command::new(kill)
        .args(["-TERM", &serve.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Wait (bounded) until the server says it is stopping, so the rest of the message
    // surely arrives after the signal.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !serve.log.lock().unwrap().contains("stopping") {
        assert!(Instant::now() < deadline, "serve did not log the SIGTERM");
        assert!(
            serve.child.try_wait().unwrap().is_none(),
            "serve exited at SIGTERM with a message in flight"
        );
        thread::yield_now();
    }
    let end = expect(&mut r, b"the second half\r\n.\r\n", "250");
    assert!(end.starts_with("250 "), "{end}");
    // The session may be told 421 now, or end normally.
    r.get_mut().write_all(b"QUIT\r\n").unwrap();
    let mut bye = String::new();
    let _ = r.read_line(&mut bye);
    assert!(
        bye.is_empty() || bye.starts_with("221") || bye.starts_with("421"),
        "{bye:?}"
    );
    let exit = loop {
        if let Some(exit) = serve.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let stored = serve.stored("alice");
    assert_eq!(stored.len(), 1, "stored once");
    assert_eq!(
        stored[0],
        [&head[..], b"the second half\r\n"].concat(),
        "stored whole"
    );
}

/// `--connections-per-minute 60`: a client that opens connections faster gets `421
/// 4.7.0` past the bucket's 60, and is served again once the bucket refills (one a
/// second; polled, bounded).
fn connection_rate_answers_421_then_recovers(runtime: &str) {
    let serve = Serve::start_on(
        runtime,
        &[
            "--connections-per-minute",
            "60",
            "--max-per-address",
            "1000",
        ],
    );
    let greeting = || {
        let tcp = TcpStream::connect(serve.smtp).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut line = String::new();
        BufReader::new(tcp).read_line(&mut line).unwrap();
        line
    };
    let mut served = 0;
    let refused = loop {
        assert!(served < 200, "no refusal after {served} connections");
        let line = greeting();
        if line.starts_with("220 ") {
            served += 1;
        } else {
            break line;
        }
    };
    assert!(
        refused.starts_with("421 4.7.0 ") && refused.contains("a minute"),
        "{refused:?}"
    );
    assert!(served >= 60, "refused after {served}: {refused:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = greeting();
        if line.starts_with("220 ") {
            break;
        }
        assert!(line.starts_with("421 4.7.0 "), "{line:?}");
        assert!(
            Instant::now() < deadline,
            "still refused after 10 s: {line:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// `serve --timeout 1`: a client that drips `NOOP\r\n` one octet every 400 ms gets
/// `421 4.4.2` and the close before its command is complete (the line deadline is not
/// moved by the drip).
fn dripping_client_is_dropped_at_the_line_deadline(runtime: &str) {
    let serve = Serve::start_on(runtime, &["--timeout", "1"]);
    let tcp = TcpStream::connect(serve.smtp).unwrap();
    let mut r = BufReader::new(tcp);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    // The read timeout is the client's pace: one octet per wait.
    r.get_ref()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut sent = 0;
    let reply = loop {
        assert!(sent < 6, "the whole command went out without a reply");
        r.get_mut().write_all(&b"NOOP\r\n"[sent..=sent]).unwrap();
        sent += 1;
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(_) => break line,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert!(reply.starts_with("421 4.4.2 "), "{reply}");
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0, "closed after the 421");
}

/// `serve --timeout 1`: a POP3 client that sends `RETR 1` for a 30 MB message and stops
/// reading is dropped once the write deadline passes; the maildrop is released at once,
/// a second login succeeds and the message is still there.
fn pop3_reader_that_stops_is_dropped_and_a_second_login_succeeds(runtime: &str) {
    let serve = Serve::start_on(runtime, &["--timeout", "1"]);
    // Deliver a 30 MB message through SMTP, as any sender would.
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n";
    while big.len() < 30 * 1024 * 1024 {
        big.extend_from_slice(line);
    }
    let mut sender = smtp(serve.smtp);
    sender
        .send(envelope("alice@localhost"), &mut Cursor::new(&big))
        .unwrap();
    sender.quit().unwrap();
    let tcp = TcpStream::connect(serve.pop3).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(tcp);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    r.get_mut()
        .write_all(b"USER alice\r\nPASS wonderland\r\n")
        .unwrap();
    for _ in 0..2 {
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    }
    r.get_mut().write_all(b"RETR 1\r\n").unwrap();
    // Read nothing more. The stalled session must let go of the maildrop: a second
    // login succeeds (bounded retries while the server notices).
    let pass = Secret::new(String::from("wonderland"));
    let mut second = None;
    for _ in 0..300 {
        let mut client = pop3(serve.pop3);
        match client.login("alice", &pass) {
            Ok(()) => {
                second = Some(client);
                break;
            }
            Err(e) => {
                assert!(e.to_string().contains("IN-USE"), "{e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let mut second = second.expect("the stalled session kept the maildrop locked");
    assert_eq!(second.stat().unwrap().0, 1, "nothing was deleted");
    second.quit().unwrap();
    assert_eq!(serve.stored("alice").len(), 1);
    // The first connection ends after what the socket buffers held.
    let mut sink = Vec::new();
    let _ = r.read_to_end(&mut sink);
    assert!(sink.len() < big.len(), "the whole message went out");
}

/// Every case above as a test on each runtime `serve` can run on.
macro_rules! on_every_runtime {
    ($($case:ident),* $(,)?) => {
        mod on_std {
            $(#[test] fn $case() { super::$case("std") })*
        }
        mod on_smol {
            $(#[test] fn $case() { super::$case("smol") })*
        }
        mod on_tokio {
            $(#[test] fn $case() { super::$case("tokio") })*
        }
    };
}

/// `serve --proxy-from 127.0.0.2 --connections-per-minute 2`: a direct connection from
/// 127.0.0.1 (not the proxy) is refused with `421 4.7.0`; without the proxy flag, the
/// third connection within a minute from one address is refused the same way.
fn limit_flags_reach_the_listener(runtime: &str) {
    let greeting = |addr: SocketAddr| {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut line = String::new();
        BufReader::new(tcp).read_line(&mut line).unwrap();
        line
    };
    let proxied = Serve::start_on(runtime, &["--quiet", "--proxy-from", "127.0.0.2"]);
    let refused = greeting(proxied.smtp);
    assert!(refused.starts_with("421 4.7.0 "), "{refused}");
    drop(proxied);
    let rated = Serve::start_on(runtime, &["--quiet", "--connections-per-minute", "2"]);
    for _ in 0..2 {
        let served = greeting(rated.smtp);
        assert!(served.starts_with("220 "), "{served}");
    }
    let refused = greeting(rated.smtp);
    assert!(refused.starts_with("421 4.7.0 "), "{refused}");
}

/// Under `prlimit --nofile`, connections that exhaust the server's descriptors make its
/// accept fail (EMFILE): the accept loop logs each failure with a wait that grows from
/// 5 ms, doubling (no spin), and serves again once descriptors are free.
fn accept_errors_back_off_when_descriptors_run_out(runtime: &str) {
    let test = &format!("{runtime} accept_errors_back_off_when_descriptors_run_out");
    let Some(prlimit) = mailproto_testkit::program(test, "prlimit") else {
        return;
    };
    let prlimit = prlimit.to_string_lossy().into_owned();
    let wrapper = [prlimit.as_str(), "--nofile=48:48", "--"];
    let extra = ["--max-per-address", "1000", "--connections-per-minute", "0"];
    let serve = Serve::start_under(Some(&wrapper), runtime, &extra);
    let mut open = Vec::new();
    for _ in 0..100 {
        match TcpStream::connect(serve.smtp) {
            Ok(tcp) => open.push(tcp),
            Err(_) => break,
        }
    }
    let start = std::time::Instant::now();
    let delays = loop {
        let log = serve.log.lock().unwrap().clone();
        let delays: Vec<u64> = log
            .lines()
            .filter(|l| l.contains("accept failed"))
            .filter_map(|l| l.split("delay_ms=").nth(1))
            .filter_map(|d| d.split_whitespace().next()?.parse().ok())
            .collect();
        if delays.contains(&80) || start.elapsed() > Duration::from_secs(20) {
            break delays;
        }
        thread::yield_now();
    };
    let log = serve.log.lock().unwrap().clone();
    assert!(
        delays.contains(&80),
        "accept errors logged: {delays:?}\n{log}"
    );
    // Each wait doubles one before it: the series starts at 5 ms, again after an
    // accept that succeeds (a descriptor freed), and each listener (SMTP, POP3) keeps
    // its own, so two series may interleave.
    assert_eq!(delays[0], 5, "growing waits: {delays:?}");
    for (i, &d) in delays.iter().enumerate() {
        assert!(
            d == 5 || delays[..i].contains(&(d / 2)) && d % 2 == 0,
            "growing waits: {delays:?}"
        );
    }
    drop(open);
    // Descriptors free again: the next client is served (within the longest wait).
    let tcp = TcpStream::connect(serve.smtp).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut line = String::new();
    BufReader::new(tcp).read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
}

on_every_runtime!(
    accept_errors_back_off_when_descriptors_run_out,
    limit_flags_reach_the_listener,
    nothing_acknowledged_is_lost_under_concurrent_senders,
    killed_mid_data_leaves_nothing_in_new,
    pop3_deletes_only_after_quit_and_locks_the_maildrop,
    curl_and_python_clients_against_serve,
    ctrl_c_stops_the_server_cleanly,
    sigterm_during_a_delivery_lets_it_finish,
    connection_rate_answers_421_then_recovers,
    dripping_client_is_dropped_at_the_line_deadline,
    pop3_reader_that_stops_is_dropped_and_a_second_login_succeeds,
);
