//! Hashed users and trusted TLS for `mailproto serve`, through the real binary:
//! `mailproto passwd` writes a users file (Argon2id, SHA-512-crypt) that `serve --users`
//! reads; swaks AUTH PLAIN / LOGIN, curl over SMTP and POP3, and poplib USER/PASS log in
//! with the right passwords and fail with a wrong one, every client verifying the
//! certificate `serve --tls-self-signed-dir` wrote (no `--insecure` anywhere); CRAM-MD5
//! and APOP are offered only while every password is plaintext.
#![allow(missing_docs)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mailproto_testkit::{program, python_module};

const BINARY: &str = env!("CARGO_BIN_EXE_mailproto");

/// A `mailproto serve` child process, killed on drop.
struct Serve {
    child: Child,
    smtp: SocketAddr,
    pop3: SocketAddr,
    banner: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(runtime: &str, maildir: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(BINARY)
            .args(["serve", "--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0"])
            .args(["--runtime", runtime, "--login-failure-delay", "0"])
            .arg("--maildir")
            .arg(maildir)
            .args(extra)
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
            banner,
            log,
        }
    }

    /// The log line holding `needle`, waited for (bounded).
    fn log_line(&self, needle: &str) -> String {
        for _ in 0..500 {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.contains(needle))
            {
                return line.to_string();
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("no {needle:?} in the log: {}", self.log.lock().unwrap());
    }
}

/// `mailproto passwd FILE USER [--scheme S]` with the password in MAILPROTO_PASSWORD.
fn passwd(file: &Path, user: &str, password: &str, scheme: Option<&str>) -> Output {
    let mut command = Command::new(BINARY);
    command
        .arg("passwd")
        .arg(file)
        .arg(user)
        .env("MAILPROTO_PASSWORD", password)
        .stdin(Stdio::null());
    if let Some(scheme) = scheme {
        command.args(["--scheme", scheme]);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A users file with alice (Argon2id) and bob (SHA-512-crypt), written by `passwd`.
fn hashed_users(dir: &Path) -> PathBuf {
    let file = dir.join("users");
    passwd(&file, "alice", "wonder land", None);
    passwd(&file, "bob", "builder", Some("sha512-crypt"));
    file
}

fn python(script: &str) -> Result<String, String> {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// swaks with AUTH `mech` over STARTTLS, verifying the certificate against `ca`.
fn swaks(swaks: &Path, serve: &Serve, ca: &Path, mech: &str, user: &str, pass: &str) -> Output {
    Command::new(swaks)
        .args(["--server", "127.0.0.1", "--port"])
        .arg(serve.smtp.port().to_string())
        .args(["--tls", "--tls-verify", "--tls-ca-path"])
        .arg(ca)
        .args(["--tls-sni", "localhost"])
        .args(["--auth", mech, "--auth-user", user, "--auth-password", pass])
        .args(["--from", "s@example.org", "--to", "alice@localhost"])
        .args(["--timeout", "60"])
        .output()
        .unwrap()
}

/// Hashed users log in through swaks (AUTH PLAIN and LOGIN), curl (SMTP and POP3) and
/// poplib (USER/PASS), every client verifying `DIR/cert.pem`; a wrong password fails
/// each way; neither EHLO nor the POP3 greeting offers CRAM-MD5 or APOP.
fn hashed_users_log_in_with_real_clients(runtime: &str) {
    let test = "hashed_users_log_in_with_real_clients";
    let (Some(swaks_bin), Some(curl)) = (program(test, "swaks"), program(test, "curl")) else {
        return;
    };
    if !python_module(test, "poplib") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let users = hashed_users(dir.path());
    let certs = dir.path().join("certs");
    let serve = Serve::start(
        runtime,
        &dir.path().join("mail"),
        &[
            "--users",
            users.to_str().unwrap(),
            "--tls-self-signed-dir",
            certs.to_str().unwrap(),
        ],
    );
    let ca = certs.join("cert.pem");
    let line = serve.log_line("clients: --ca-file");
    assert!(
        line.contains(ca.to_str().unwrap()) && line.contains("(written)"),
        "{line}"
    );

    for (mech, user, pass) in [
        ("PLAIN", "alice", "wonder land"),
        ("LOGIN", "bob", "builder"),
    ] {
        let out = swaks(&swaks_bin, &serve, &ca, mech, user, pass);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mech} {user}: {text}");
        assert!(text.contains("235 "), "{text}");
        assert!(!text.contains("CRAM-MD5"), "CRAM-MD5 offered: {text}");
        let wrong = swaks(&swaks_bin, &serve, &ca, mech, user, "wrong");
        let text = String::from_utf8_lossy(&wrong.stdout);
        assert!(!wrong.status.success() && text.contains("535 "), "{text}");
    }

    let message = dir.path().join("m.eml");
    fs::write(&message, b"Subject: hashed\r\n\r\nbody\r\n").unwrap();
    let curl_smtp = |pass: &str| {
        Command::new(&curl)
            .args(["-sS", "--ssl-reqd", "--cacert"])
            .arg(&ca)
            .args(["--user", &format!("bob:{pass}")])
            .args([
                "--mail-from",
                "c@example.org",
                "--mail-rcpt",
                "alice@localhost",
            ])
            .arg("--upload-file")
            .arg(&message)
            .arg(format!("smtp://localhost:{}", serve.smtp.port()))
            .output()
            .unwrap()
    };
    let out = curl_smtp("builder");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!curl_smtp("wrong").status.success());

    let curl_pop3 = |pass: &str| {
        Command::new(&curl)
            .args(["-sS", "--ssl-reqd", "--cacert"])
            .arg(&ca)
            .args(["--user", &format!("alice:{pass}")])
            .arg(format!("pop3://localhost:{}/", serve.pop3.port()))
            .output()
            .unwrap()
    };
    let out = curl_pop3("wonder land");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Three messages: two from swaks, one from curl.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    assert!(!curl_pop3("wrong").status.success());

    let poplib = |user: &str, pass: &str| {
        python(&format!(
            "import poplib, ssl\n\
             ctx = ssl.create_default_context(cafile={ca:?})\n\
             p = poplib.POP3('localhost', {port})\n\
             greeting = p.getwelcome().decode()\n\
             caps = p.capa()\n\
             p.stls(ctx)\n\
             p.user({user:?}); p.pass_({pass:?})\n\
             n = p.stat()[0]\n\
             p.quit()\n\
             print(n, '<' in greeting, b'CRAM-MD5' in b' '.join(caps.get('SASL', [])))\n",
            ca = ca.to_str().unwrap(),
            port = serve.pop3.port(),
        ))
    };
    assert_eq!(poplib("alice", "wonder land").unwrap(), "3 False False");
    let wrong = poplib("alice", "wonderland").unwrap_err();
    assert!(wrong.contains("-ERR [AUTH]"), "{wrong}");
    let wrong = poplib("nobody", "wonder land").unwrap_err();
    assert!(wrong.contains("-ERR [AUTH]"), "{wrong}");
}

/// With every password in plaintext, EHLO offers CRAM-MD5 and the POP3 greeting carries
/// an APOP timestamp; one hashed password turns both off.
#[test]
fn digest_logins_are_offered_only_when_every_password_is_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let offers = |extra: &[&str]| {
        let serve = Serve::start("std", &dir.path().join("mail"), extra);
        let tcp = TcpStream::connect(serve.smtp).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut r = BufReader::new(tcp);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        r.get_mut().write_all(b"EHLO client.example\r\n").unwrap();
        let mut ehlo = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            ehlo.push_str(&line);
            if !line.starts_with("250-") {
                break;
            }
        }
        let tcp = TcpStream::connect(serve.pop3).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut greeting = String::new();
        BufReader::new(tcp).read_line(&mut greeting).unwrap();
        (ehlo.contains("CRAM-MD5"), greeting.contains('<'))
    };
    let file = dir.path().join("users");
    fs::write(&file, "alice:{PLAIN}pw\nbob:builder\n").unwrap();
    assert_eq!(
        offers(&["--users", file.to_str().unwrap(), "--user", "carol:c"]),
        (true, true)
    );
    passwd(&file, "bob", "builder", None);
    assert_eq!(offers(&["--users", file.to_str().unwrap()]), (false, false));
}

/// `passwd` adds a user, changes the password (the old one stops working), keeps the file
/// private, and `serve` reads it: a POP3 login checks each state.
#[test]
fn passwd_round_trips_through_serve() {
    if !python_module("passwd_round_trips_through_serve", "poplib") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    let out = passwd(&file, "alice", "first", None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("added alice"));
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("alice:{ARGON2ID}$argon2id$v=19$"),
        "{text}"
    );
    assert!(!text.contains("first"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let login = |password: &str| {
        let serve = Serve::start(
            "std",
            &dir.path().join("mail"),
            &["--users", file.to_str().unwrap()],
        );
        python(&format!(
            "import poplib\n\
             p = poplib.POP3('127.0.0.1', {port})\n\
             p.user('alice'); p.pass_({password:?})\n\
             p.quit()\n",
            port = serve.pop3.port()
        ))
        .is_ok()
    };
    assert!(login("first"));
    let out = passwd(&file, "alice", "second", Some("sha512-crypt"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed alice"));
    let text = fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("alice:{SHA512-CRYPT}$6$"), "{text}");
    assert!(login("second"));
    assert!(!login("first"));
}

/// `mailproto send --ca-file DIR/cert.pem` verifies the certificate `serve` wrote; the
/// next start reuses it (same fingerprint in the banner).
#[test]
fn send_trusts_the_certificate_serve_wrote_and_serve_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let args = [
        "--user",
        "alice:pw",
        "--tls-self-signed-dir",
        certs.to_str().unwrap(),
    ];
    let fingerprint = |banner: &str| banner.split("SHA-256 ").nth(1).map(str::to_string);
    let first = Serve::start("std", &dir.path().join("mail"), &args);
    let first_print = fingerprint(&first.banner).expect("a fingerprint in the banner");
    let ca = certs.join("cert.pem");
    let out = Command::new(BINARY)
        .args(["send", "--server"])
        .arg(format!("localhost:{}", first.smtp.port()))
        .args(["--starttls", "--ca-file"])
        .arg(&ca)
        .args([
            "--user",
            "alice",
            "--from",
            "s@example.org",
            "--to",
            "alice@localhost",
        ])
        .args(["--subject", "trusted", "--body", "verified"])
        .env("MAILPROTO_PASSWORD", "pw")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(first);
    let second = Serve::start("std", &dir.path().join("mail"), &args);
    assert_eq!(fingerprint(&second.banner), Some(first_print));
    assert!(second.log_line("clients: --ca-file").contains("(reused)"));
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

on_every_runtime!(hashed_users_log_in_with_real_clients);
