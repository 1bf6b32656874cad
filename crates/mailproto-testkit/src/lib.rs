//! Test support for mailproto's interoperability tests: finding outside programs, and
//! starting real peers (Dovecot's POP3 server, an aiosmtpd SMTP server, Postfix's
//! `smtpd`, HAProxy sending PROXY protocol headers) on loopback ports with their own
//! temporary configuration.
//!
//! A test that needs a peer asks for it through this crate. When the peer is missing the
//! test prints `SKIPPED <test>: <why>` and returns, unless `MAILPROTO_REQUIRE_PEERS=1`,
//! in which case it fails: CI installs the peers and sets that variable.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use std::{env, fs};

mod haproxy;
mod postfix;

pub use haproxy::{Frontend, Haproxy, SendProxy};
pub use postfix::{Postfix, PostfixOptions};

/// Whether missing peers are failures (`MAILPROTO_REQUIRE_PEERS=1`).
pub fn peers_required() -> bool {
    env::var("MAILPROTO_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Report a missing peer: print a skip line, or panic when peers are required.
pub fn skip(test: &str, why: &str) {
    if peers_required() {
        panic!("{test}: required peer unavailable: {why} (MAILPROTO_REQUIRE_PEERS=1)");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// The path of an executable found in `PATH` (or the sbin directories), if any.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// An executable the test needs; `None` (after [`skip`]) when it is missing.
pub fn program(test: &str, name: &str) -> Option<PathBuf> {
    let found = find_program(name);
    if found.is_none() {
        skip(test, &format!("`{name}` is not installed"));
    }
    found
}

/// Whether `python3` can import `module`; skips (or fails) the test when it cannot.
pub fn python_module(test: &str, module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(
            test,
            &format!("python3 module `{module}` is not importable"),
        );
    }
    ok
}

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// Wait until something accepts connections on `127.0.0.1:port`, for at most `limit`.
pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A directory readable by the unprivileged users peers run as.
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mailproto-peer-")
        .tempdir()
        .expect("create a temporary directory");
    set_mode(dir.path(), 0o755);
    dir
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Dovecot's POP3 server (Debian's dovecot-pop3d) on loopback with a temporary
/// configuration: users from a passwd file, one Maildir per user, STLS and POP3S with the
/// given certificate. Stopped on drop.
#[derive(Debug)]
pub struct Dovecot {
    _child: Reaped,
    dir: tempfile::TempDir,
    /// The plaintext (STLS-capable) POP3 port.
    pub port: u16,
    /// The implicit-TLS POP3S port.
    pub pop3s_port: u16,
}

impl Dovecot {
    /// Start Dovecot for these `(user, password)` pairs, presenting `cert_pem`/`key_pem`.
    /// `None` (after [`skip`]) when Dovecot is missing or cannot start here (it needs root
    /// and its `dovecot`/`dovenull` users).
    pub fn start(
        test: &str,
        users: &[(&str, &str)],
        cert_pem: &str,
        key_pem: &str,
    ) -> Option<Self> {
        Self::start_with(test, users, cert_pem, key_pem, "")
    }

    /// [`Dovecot::start`] with `extra` appended to dovecot.conf (settings given there
    /// replace the fixture's, e.g. `auth_failure_delay = 0`).
    pub fn start_with(
        test: &str,
        users: &[(&str, &str)],
        cert_pem: &str,
        key_pem: &str,
        extra: &str,
    ) -> Option<Self> {
        let binary = program(test, "dovecot")?;
        let dir = open_tempdir();
        let root = dir.path();
        let passwd: String = users
            .iter()
            .map(|(u, p)| format!("{u}:{{PLAIN}}{p}\n"))
            .collect();
        for (name, text) in [
            ("passwd", passwd.as_str()),
            ("cert.pem", cert_pem),
            ("key.pem", key_pem),
        ] {
            fs::write(root.join(name), text).expect("write a Dovecot file");
            set_mode(&root.join(name), 0o644);
        }
        for (user, _) in users {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(root.join("mail").join(user).join(sub)).expect("create Maildir");
            }
        }
        let _ = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(root.join("mail"))
            .status();
        fs::create_dir_all(root.join("run")).expect("create run dir");
        let port = free_port();
        let pop3s_port = free_port();
        let r = root.display();
        let config = format!(
            "base_dir = {r}/run\nstate_dir = {r}/run\ninstance_name = mailproto-{port}\n\
             protocols = pop3\nlisten = 127.0.0.1\nlog_path = {r}/dovecot.log\n\
             ssl = yes\nssl_cert = <{r}/cert.pem\nssl_key = <{r}/key.pem\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:{r}/mail/%u\nfirst_valid_uid = 1\n\
             default_internal_user = dovecot\ndefault_internal_group = dovecot\n\
             default_login_user = dovenull\npop3_uidl_format = %f\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {r}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={r}/mail/%u\n}}\n\
             service pop3-login {{\n  chroot =\n  inet_listener pop3 {{\n    port = {port}\n  }}\n\
             \x20 inet_listener pop3s {{\n    port = {pop3s_port}\n    ssl = yes\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n{extra}\n"
        );
        fs::write(root.join("dovecot.conf"), config).expect("write dovecot.conf");
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => Reaped(c),
            Err(e) => {
                skip(test, &format!("dovecot did not start: {e}"));
                return None;
            }
        };
        if !wait_for_port(port, Duration::from_secs(10)) {
            let log = fs::read_to_string(root.join("dovecot.log")).unwrap_or_default();
            skip(test, &format!("dovecot is not listening: {log}"));
            return None;
        }
        Some(Dovecot {
            _child: child,
            dir,
            port,
            pop3s_port,
        })
    }

    /// The Maildir of `user`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user)
    }

    /// Put a message into `user`'s `new/` under `name`, readable by Dovecot.
    pub fn deliver(&self, user: &str, name: &str, bytes: &[u8]) {
        let path = self.maildir(user).join("new").join(name);
        fs::write(&path, bytes).expect("deliver into Dovecot's Maildir");
        let _ = Command::new("chown")
            .arg("nobody:nogroup")
            .arg(&path)
            .status();
    }

    /// Dovecot's log, for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

/// A message an [`Aiosmtpd`] server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope as JSON text (`from`, `to`, `tls`).
    pub envelope: String,
    /// The message bytes as received (unstuffed).
    pub data: Vec<u8>,
}

/// An aiosmtpd SMTP server on loopback, saving every message it accepts. Stopped on
/// drop.
#[derive(Debug)]
pub struct Aiosmtpd {
    _child: Reaped,
    dir: tempfile::TempDir,
    /// The SMTP port.
    pub port: u16,
}

impl Aiosmtpd {
    /// Start the server. With `tls` (certificate and key PEM) it offers STARTTLS; with
    /// `users` it requires AUTH (PLAIN/LOGIN, after STARTTLS when TLS is on).
    pub fn start(test: &str, tls: Option<(&str, &str)>, users: &[(&str, &str)]) -> Option<Self> {
        if !python_module(test, "aiosmtpd") {
            return None;
        }
        let dir = open_tempdir();
        let root = dir.path();
        let script = root.join("aiosmtpd_server.py");
        fs::write(&script, include_str!("aiosmtpd_server.py")).expect("write the server script");
        fs::create_dir_all(root.join("out")).expect("create out dir");
        let (cert, key) = match tls {
            Some((cert_pem, key_pem)) => {
                fs::write(root.join("cert.pem"), cert_pem).expect("write cert");
                fs::write(root.join("key.pem"), key_pem).expect("write key");
                (
                    root.join("cert.pem").display().to_string(),
                    root.join("key.pem").display().to_string(),
                )
            }
            None => ("-".to_string(), "-".to_string()),
        };
        let users_json = format!(
            "{{{}}}",
            users
                .iter()
                .map(|(u, p)| format!("\"{u}\": \"{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let port = free_port();
        let mut child = match Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(root.join("out"))
            .args([&cert, &key, &users_json])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                skip(test, &format!("aiosmtpd did not start: {e}"));
                return None;
            }
        };
        let mut ready = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut ready);
        }
        let child = Reaped(child);
        if ready.trim() != "READY" || !wait_for_port(port, Duration::from_secs(10)) {
            skip(test, "aiosmtpd did not come up");
            return None;
        }
        Some(Aiosmtpd {
            _child: child,
            dir,
            port,
        })
    }

    /// The messages received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let out = self.dir.path().join("out");
        let mut names: Vec<PathBuf> = fs::read_dir(&out)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        names.sort();
        names
            .into_iter()
            .map(|eml| Received {
                envelope: fs::read_to_string(eml.with_extension("json")).unwrap_or_default(),
                data: fs::read(&eml).unwrap_or_default(),
            })
            .collect()
    }
}

/// An example program of the crate under test: `cargo test` builds the examples beside
/// the test binaries (`target/<profile>/examples/`).
pub fn example(name: &str) -> PathBuf {
    let exe = env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = profile
        .join("examples")
        .join(format!("{name}{}", env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo test` for the whole crate (it builds the examples)",
        path.display()
    );
    path
}

/// The sink example `sink` on a free loopback port: the process, its output lines after
/// the first, and the address it printed.
fn start_sink(
    sink: &str,
) -> (
    Reaped,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
    std::net::SocketAddr,
) {
    let mut server = Reaped(
        Command::new(example(sink))
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the sink example"),
    );
    let mut lines = BufReader::new(server.0.stdout.take().expect("piped")).lines();
    let first = lines.next().expect("the sink printed its address").unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{sink}: {first:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{sink}: {first:?}: {e}"));
    (server, lines, addr)
}

/// An adapter's pooled-sending example, run as a user would: `count` messages through
/// the transport to the adapter's SMTP sink example (`sink`) on a free loopback port,
/// over at most 4 sessions; every message arrives.
pub fn run_pooled_example(sink: &str, pooled: &str, count: usize) {
    let (_server, mut lines, addr) = start_sink(sink);
    let out = Command::new(example(pooled))
        .arg(format!("smtp://{addr}?tls=none"))
        .args(["sender@example.org", "rcpt@example.org", &count.to_string()])
        .output()
        .expect("run the pooled example");
    let printed = String::from_utf8_lossy(&out.stdout);
    let sessions: usize = printed
        .trim()
        .strip_prefix(&format!("sent {count} messages over "))
        .and_then(|rest| rest.strip_suffix(" sessions"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{pooled}: {printed} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!((1..=4).contains(&sessions), "{printed}");
    for i in 0..count {
        let line = lines.next().expect("the sink reported a message").unwrap();
        assert!(
            line.starts_with("received a message of "),
            "{sink}, message {i}: {line}"
        );
    }
}

/// An adapter's three examples, run as a user would: the SMTP sink on a free loopback
/// port receiving a message from the sender, and the fetcher reading two messages from
/// Dovecot over STLS (checked against `cert_pem`). `names` are the sink, the sender and
/// the fetcher. Skips (or fails, with `MAILPROTO_REQUIRE_PEERS=1`) when Dovecot is
/// missing, after the sink and sender have run.
pub fn run_examples(test: &str, names: [&str; 3], cert_pem: &str, key_pem: &str) {
    let [sink, send, fetch] = names;
    let (server, mut lines, addr) = start_sink(sink);
    let body = b"Subject: from the example\r\n\r\nHello.\r\n";
    let dir = open_tempdir();
    fs::write(dir.path().join("body.eml"), body).unwrap();
    let out = Command::new(example(send))
        .args([&addr.ip().to_string(), &addr.port().to_string()])
        .args(["sender@example.org", "rcpt@example.org"])
        .arg(dir.path().join("body.eml"))
        .output()
        .expect("run the send example");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && printed
                .lines()
                .any(|l| l.contains("rcpt@example.org") && l.contains(": 250")),
        "{send}: {printed} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = lines
        .next()
        .expect("the sink reported the message")
        .unwrap();
    assert_eq!(
        received,
        format!("received a message of {} octets", body.len()),
        "{sink}"
    );
    drop(server);

    let Some(dovecot) = Dovecot::start(test, &[("ann", "secret")], cert_pem, key_pem) else {
        return;
    };
    let messages: [&[u8]; 2] = [
        b"Subject: one\r\n\r\nfirst\r\n",
        b"Subject: two\r\n\r\nsecond\r\n",
    ];
    for (i, m) in messages.iter().enumerate() {
        dovecot.deliver("ann", &format!("100{i}.M{i}.host"), m);
    }
    fs::write(dir.path().join("ca.pem"), cert_pem).unwrap();
    let out = Command::new(example(fetch))
        .args(["127.0.0.1", &dovecot.port.to_string(), "ann", "secret"])
        .arg(dir.path().join("ca.pem"))
        .output()
        .expect("run the fetch example");
    let printed = String::from_utf8_lossy(&out.stdout);
    let size: usize = messages.iter().map(|m| m.len()).sum();
    assert!(
        out.status.success() && printed.contains(&format!("2 messages, {size} octets")),
        "{fetch}: {printed} {} {}",
        String::from_utf8_lossy(&out.stderr),
        dovecot.log()
    );
    for m in messages {
        assert!(
            printed.contains(String::from_utf8_lossy(m).as_ref()),
            "{fetch} printed every message: {printed}"
        );
    }
}
