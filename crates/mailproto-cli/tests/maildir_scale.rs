//! `mailproto serve`'s Maildir at scale, through the real binary: a POP3 login on a
//! 50,000-message maildrop lists it from the file names alone (the server's count of
//! message files read is zero, and under strace, when it is installed, no message file
//! is opened); files named by other programs are measured once; a message delivered
//! with `,S=`/`,W=` in its name comes back byte-exact through RETR with the size LIST
//! gave; leftovers older than 36 hours in `tmp/` are removed at start, newer ones kept.
#![allow(missing_docs)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

/// A `mailproto serve` child process (user alice), killed on drop.
struct Serve {
    child: Child,
    smtp: SocketAddr,
    pop3: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        // Under a wrapper (strace) the server is the wrapper's child: end it first, by
        // its id, or it would outlive the test once the wrapper is gone.
        let pid = self.child.id();
        if let Ok(children) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            for child in children.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", child]).status();
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Start on `maildir`, run by `wrapper` (e.g. strace and its arguments) when given.
    fn start(wrapper: &[&str], runtime: &str, maildir: &Path) -> Serve {
        let binary = env!("CARGO_BIN_EXE_mailproto");
        let mut command = match wrapper {
            [program, args @ ..] => {
                let mut c = Command::new(program);
                c.args(args).arg(binary);
                c
            }
            [] => Command::new(binary),
        };
        let mut child = command
            .args(["serve", "--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0"])
            .args(["--user", "alice:wonderland", "--runtime", runtime])
            .arg("--maildir")
            .arg(maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut banner = String::new();
        stderr.read_line(&mut banner).unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let word_after = |key: &str| -> SocketAddr {
            let rest = banner
                .split(&format!("{key} "))
                .nth(1)
                .unwrap_or_else(|| panic!("no {key} address in {banner:?}"));
            rest.split_whitespace().next().unwrap().parse().unwrap()
        };
        Serve {
            smtp: word_after("SMTP"),
            pop3: word_after("POP3"),
            child,
            log,
        }
    }

    /// The first log line holding `needle`, waited for (bounded).
    fn log_line(&self, needle: &str) -> String {
        self.log_lines(needle, 1).swap_remove(0)
    }

    /// The first `n` log lines holding `needle`, waited for (bounded).
    fn log_lines(&self, needle: &str, n: usize) -> Vec<String> {
        for _ in 0..1000 {
            let lines: Vec<String> = self
                .log
                .lock()
                .unwrap()
                .lines()
                .filter(|l| l.contains(needle))
                .map(String::from)
                .collect();
            if lines.len() >= n {
                return lines;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "not {n} {needle:?} in the log: {}",
            self.log.lock().unwrap()
        );
    }
}

/// A POP3 session as a client types it.
struct Pop3(BufReader<TcpStream>);

impl Pop3 {
    fn login(addr: SocketAddr) -> Pop3 {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut p = Pop3(BufReader::new(tcp));
        assert!(p.line().starts_with("+OK"));
        for command in ["USER alice", "PASS wonderland"] {
            let reply = p.command(command);
            assert!(reply.starts_with("+OK"), "{command}: {reply}");
        }
        p
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    fn command(&mut self, command: &str) -> String {
        self.0
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        self.line()
    }

    /// The raw lines of a multi-line answer up to the terminator (not unstuffed).
    fn multiline(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let mut line = Vec::new();
            self.0.read_until(b'\n', &mut line).unwrap();
            assert!(!line.is_empty(), "closed inside a multi-line answer");
            if line == b".\r\n" {
                return body;
            }
            body.extend_from_slice(&line);
        }
    }
}

/// Files in `cur/` named as `serve` names them, `,S=` and `,W=` included.
fn build_maildrop(root: &Path, count: usize, body: &[u8]) {
    let user = root.join("alice");
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(user.join(sub)).unwrap();
    }
    for i in 0..count {
        let name = format!(
            "{}.M{}P1Q{i}.build,S={len},W={len}:2,S",
            1_700_000_000 + i / 100,
            i % 100,
            len = body.len()
        );
        fs::write(user.join("cur").join(name), body).unwrap();
    }
}

/// The message files under `root` that the strace output shows opened.
fn opened_messages(trace: &Path, root: &Path) -> Vec<String> {
    let text = fs::read_to_string(trace).unwrap_or_default();
    let cur = root.join("alice").join("cur");
    let new = root.join("alice").join("new");
    let is_message = |l: &&str| {
        [&cur, &new]
            .iter()
            .any(|d| l.contains(&format!("{}/", d.display())))
    };
    text.lines()
        .filter(|l| l.contains("open"))
        .filter(is_message)
        .map(String::from)
        .collect()
}

/// A login on 50,000 messages: STAT, LIST and UIDL answer from the names; the server
/// reads no message file to list them (its own count, and strace's when installed).
#[test]
fn a_pop3_login_on_50000_messages_opens_no_message_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    let body = b"Subject: one of many\r\n\r\nbody\r\n";
    build_maildrop(&root, 50_000, body);
    let trace = dir.path().join("trace");
    let strace = mailproto_testkit::find_program("strace");
    let trace_arg = format!("{}", trace.display());
    let wrapper: Vec<&str> = match &strace {
        Some(path) => vec![
            path.to_str().unwrap(),
            "-f",
            "-qq",
            "-e",
            "trace=open,openat,openat2",
            "-o",
            &trace_arg,
        ],
        None => {
            eprintln!("strace is not installed: counting with the server's own figure only");
            Vec::new()
        }
    };
    let serve = Serve::start(&wrapper, "std", &root);
    let mut p = Pop3::login(serve.pop3);
    let total = 50_000 * body.len();
    assert_eq!(p.command("STAT"), format!("+OK 50000 {total}"));
    assert_eq!(p.command("LIST 50000"), format!("+OK 50000 {}", body.len()));
    assert!(
        p.command("UIDL 1")
            .starts_with("+OK 1 1700000000.M0P1Q0.build")
    );
    let line = serve.log_line("pop3 login alice");
    assert!(
        line.contains("50000 message(s), 0 message file(s) read"),
        "{line}"
    );
    if strace.is_some() {
        let opened = opened_messages(&trace, &root);
        assert!(
            opened.is_empty(),
            "message files opened at login: {opened:?}"
        );
    }
    // The listing is right: the last message reads back whole.
    assert!(p.command("RETR 50000").starts_with("+OK"));
    assert_eq!(p.multiline(), body);
    assert!(p.command("QUIT").starts_with("+OK"));
    if strace.is_some() {
        assert_eq!(
            opened_messages(&trace, &root).len(),
            1,
            "RETR opened one file"
        );
    }
}

/// Files without `,W=` (another program's) are read once to measure them; the next
/// login lists them from the sizes kept.
#[test]
fn foreign_files_are_measured_at_the_first_login_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    build_maildrop(&root, 0, b"");
    for i in 0..10 {
        let path = root.join(format!("alice/new/17000000{i:02}.foreign.host"));
        fs::write(path, b"Subject: bare\n\nLF only\n").unwrap();
    }
    let serve = Serve::start(&[], "std", &root);
    let mut p = Pop3::login(serve.pop3);
    // Three bare LFs: three octets more on the wire.
    assert_eq!(p.command("LIST 1"), "+OK 1 26");
    p.command("QUIT");
    let first = serve.log_line("pop3 login alice");
    assert!(first.contains("10 message file(s) read"), "{first}");
    let mut p = Pop3::login(serve.pop3);
    p.command("QUIT");
    let logins = serve.log_lines("pop3 login alice", 2);
    assert!(logins[1].contains("0 message file(s) read"), "{logins:?}");
}

/// A message delivered over SMTP is named with its sizes; LIST gives `,W=`, RETR gives
/// that many octets, and the bytes are the file's, on every runtime.
fn delivered_names_carry_the_sizes_and_retr_is_byte_exact(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    let serve = Serve::start(&[], runtime, &root);
    let tcp = TcpStream::connect(serve.smtp).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut smtp = BufReader::new(tcp);
    let mut line = String::new();
    let mut body = b"Subject: exact\r\n\r\n".to_vec();
    for i in 0..200 {
        body.extend_from_slice(format!("line {i} {}\r\n", "x".repeat(i % 90)).as_bytes());
        if i % 17 == 0 {
            body.extend_from_slice(b".a dotted line\r\n");
        }
    }
    let mut stuffed = Vec::new();
    for l in body.split_inclusive(|b| *b == b'\n') {
        if l.starts_with(b".") {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(l);
    }
    stuffed.extend_from_slice(b".\r\n");
    let commands: [&[u8]; 6] = [
        b"EHLO client.example\r\n",
        b"MAIL FROM:<a@example.org>\r\n",
        b"RCPT TO:<alice@localhost>\r\n",
        b"DATA\r\n",
        &stuffed,
        b"QUIT\r\n",
    ];
    smtp.read_line(&mut line).unwrap();
    for command in commands {
        smtp.get_mut().write_all(command).unwrap();
        loop {
            line.clear();
            smtp.read_line(&mut line).unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        assert!(!line.starts_with('4') && !line.starts_with('5'), "{line}");
    }
    let new: Vec<PathBuf> = fs::read_dir(root.join("alice/new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(new.len(), 1);
    let name = new[0].file_name().unwrap().to_str().unwrap().to_string();
    let stored = fs::read(&new[0]).unwrap();
    let size = stored.len();
    assert!(name.ends_with(&format!(",S={size},W={size}")), "{name}");
    assert!(stored.ends_with(&body), "the body is stored as sent");

    let mut p = Pop3::login(serve.pop3);
    assert_eq!(p.command("LIST 1"), format!("+OK 1 {size}"));
    let uid = p.command("UIDL 1");
    assert_eq!(uid, format!("+OK 1 {}", name.split(',').next().unwrap()));
    assert!(p.command("RETR 1").starts_with("+OK"));
    let retrieved = p.multiline();
    let mut unstuffed = Vec::new();
    for l in retrieved.split_inclusive(|b| *b == b'\n') {
        unstuffed.extend_from_slice(l.strip_prefix(b".").unwrap_or(l));
    }
    assert_eq!(unstuffed, stored, "RETR gives the file's bytes");
    p.command("QUIT");
}

/// A file a killed delivery left in `tmp/` 40 hours ago is removed at start, with a log
/// line; one from a minute ago stays (it may be a delivery in progress).
#[test]
fn stale_tmp_files_are_removed_at_start_and_recent_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    build_maildrop(&root, 0, b"");
    let old = root.join("alice/tmp/1700000000.M1P2Q3.host");
    let recent = root.join("alice/tmp/1700000001.M1P2Q4.host");
    for (path, age) in [(&old, 40 * 3600), (&recent, 60)] {
        let mut file = File::create(path).unwrap();
        file.write_all(b"Subject: half a mess").unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age))
            .unwrap();
    }
    let serve = Serve::start(&[], "std", &root);
    let line = serve.log_line("stale file");
    assert!(line.contains("1700000000.M1P2Q3.host"), "{line}");
    assert!(line.contains("age_hours=40"), "{line}");
    assert!(!old.exists(), "the leftover is gone");
    assert!(recent.exists(), "a recent file stays");
    let mut rest = String::new();
    let _ = File::open(&recent).unwrap().read_to_string(&mut rest);
    assert_eq!(rest, "Subject: half a mess");
}

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

on_every_runtime!(delivered_names_carry_the_sizes_and_retr_is_byte_exact);
