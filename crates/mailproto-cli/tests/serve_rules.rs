//! `mailproto serve` failure rules against real clients (swaks, Python's smtplib and
//! poplib, a raw socket where the exact lines matter): the replies seen are the rules',
//! `every=N` counts across sessions, a seeded probability fails the same messages twice,
//! a delay holds up its own session only, connect rules answer at the greeting, EHLO,
//! AUTH and DATA rules before the engine's own reply, POP3 rules match the client and
//! answer any command, and the listener's per-address message rate answers `451 4.7.1`.
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mailproto_testkit::{program, python_module};

/// A `mailproto serve` child process (users alice and bob), killed on drop.
struct Serve {
    child: Child,
    smtp: SocketAddr,
    pop3: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(runtime: &str, extra: &[&str]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailproto"))
            .args(["serve", "--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0"])
            .args(["--user", "alice:wonderland", "--user", "bob:builder"])
            .args(["--runtime", runtime, "--login-failure-delay", "0"])
            .arg("--maildir")
            .arg(dir.path().join("mail"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        // Keep draining the log so the server never blocks on a full pipe.
        thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
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
        }
    }

    /// The messages stored for `user`.
    fn stored(&self, user: &str) -> usize {
        ["new", "cur"]
            .iter()
            .map(|sub| {
                let path: PathBuf = self.dir.path().join("mail").join(user).join(sub);
                std::fs::read_dir(path).map_or(0, |d| d.count())
            })
            .sum()
    }
}

/// Run a Python script, returning its standard output (it must succeed).
fn python(script: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One swaks session; its transcript.
fn swaks(swaks: &PathBuf, serve: &Serve, to: &str) -> Output {
    Command::new(swaks)
        .args(["--server", "127.0.0.1", "--port"])
        .arg(serve.smtp.port().to_string())
        .args(["--from", "sender@example.org", "--to", to])
        .args(["--helo", "client.example", "--timeout", "30"])
        .output()
        .unwrap()
}

/// The reply swaks printed for `RCPT TO`: the line after `-> RCPT TO:`.
fn rcpt_reply(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    lines
        .find(|l| l.contains("RCPT TO:"))
        .unwrap_or_else(|| panic!("{text}"));
    let reply = lines.next().unwrap_or_else(|| panic!("{text}"));
    reply
        .trim_start_matches(['<', '-', '*', '~', ' '])
        .to_string()
}

/// A raw SMTP line reader: the last line of the next reply.
fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "connection closed");
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.trim_end().to_string();
        }
    }
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    BufReader::new(tcp)
}

fn send(r: &mut BufReader<TcpStream>, line: &str) {
    r.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
}

/// `rcpt *@slow.example every=3 reply="451 4.7.1 slow down"`: six swaks sessions, one
/// recipient each; the third and the sixth (counted across sessions) get the rule's
/// reply, the others 250, and four messages are stored.
fn every_third_rcpt_across_sessions_gets_the_rules_reply(runtime: &str) {
    let Some(swaks_bin) = program("every_third_rcpt_across_sessions", "swaks") else {
        return;
    };
    let rule = r#"rcpt *@slow.example every=3 reply="451 4.7.1 slow down""#;
    let serve = Serve::start(runtime, &["--rule", rule]);
    let replies: Vec<String> = (0..6)
        .map(|_| rcpt_reply(&swaks(&swaks_bin, &serve, "alice@slow.example")))
        .collect();
    for (i, reply) in replies.iter().enumerate() {
        if i % 3 == 2 {
            assert_eq!(
                reply,
                "451 4.7.1 slow down",
                "session {}: {replies:?}",
                i + 1
            );
        } else {
            assert!(reply.starts_with("250 "), "session {}: {replies:?}", i + 1);
        }
    }
    // Recipients the rule does not match are not counted.
    let other = rcpt_reply(&swaks(&swaks_bin, &serve, "alice@fast.example"));
    assert!(other.starts_with("250 "), "{other}");
    assert_eq!(serve.stored("alice"), 5);
}

/// `data-end reply="554 5.6.0 rejected" probability=0.5 --seed 42`: sixteen messages
/// through smtplib; two servers with the same seed refuse the same ones, some but not
/// all, and only the accepted ones are stored.
fn a_seeded_probability_refuses_the_same_messages_twice(runtime: &str) {
    if !python_module(
        "a_seeded_probability_refuses_the_same_messages_twice",
        "smtplib",
    ) {
        return;
    }
    let rule = r#"data-end reply="554 5.6.0 rejected" probability=0.5"#;
    let run = || {
        let serve = Serve::start(runtime, &["--seed", "42", "--rule", rule]);
        let script = format!(
            "import smtplib\n\
             s = smtplib.SMTP('127.0.0.1', {port})\n\
             codes = []\n\
             for i in range(16):\n\
             \x20   try:\n\
             \x20       s.sendmail('a@example.org', ['alice@localhost'], 'Subject: %d\\r\\n\\r\\nbody\\r\\n' % i)\n\
             \x20       codes.append('250')\n\
             \x20   except smtplib.SMTPDataError as e:\n\
             \x20       codes.append('%d %s' % (e.smtp_code, e.smtp_error.decode()))\n\
             s.quit()\n\
             print(','.join(codes))\n",
            port = serve.smtp.port()
        );
        let codes: Vec<String> = python(&script)
            .trim()
            .split(',')
            .map(String::from)
            .collect();
        let accepted = codes.iter().filter(|c| *c == "250").count();
        assert_eq!(serve.stored("alice"), accepted);
        assert!(
            codes
                .iter()
                .all(|c| c == "250" || c == "554 5.6.0 rejected"),
            "{codes:?}"
        );
        codes
    };
    let first = run();
    let second = run();
    assert_eq!(first, second, "the same seed fails the same messages");
    let refused = first.iter().filter(|c| *c != "250").count();
    assert!((1..16).contains(&refused), "{first:?}");
}

/// `mail sender=*@slow.example delay=2s`: a slow sender's MAIL is answered no sooner than
/// 2 s after it was sent, and a session that starts meanwhile is answered first (the
/// delay holds up its own session only, whatever runs the sessions).
fn a_delay_holds_up_its_own_session_only(runtime: &str) {
    let serve = Serve::start(runtime, &["--rule", "mail sender=*@slow.example delay=2s"]);
    let greeted = |addr| {
        let mut r = connect(addr);
        assert!(reply(&mut r).starts_with("220 "));
        send(&mut r, "EHLO client.example");
        assert!(reply(&mut r).starts_with("250 "));
        r
    };
    let mut slow = greeted(serve.smtp);
    let mut fast = greeted(serve.smtp);
    let sent = Instant::now();
    send(&mut slow, "MAIL FROM:<s@slow.example>");
    let slow_reply = thread::spawn(move || {
        let line = reply(&mut slow);
        (line, Instant::now())
    });
    send(&mut fast, "MAIL FROM:<f@fast.example>");
    let fast_line = reply(&mut fast);
    let fast_at = Instant::now();
    let (slow_line, slow_at) = slow_reply.join().unwrap();
    assert!(fast_line.starts_with("250 "), "{fast_line}");
    assert!(slow_line.starts_with("250 "), "{slow_line}");
    assert!(slow_at.duration_since(sent) >= Duration::from_secs(2));
    assert!(fast_at < slow_at, "the other session waited for the delay");
}

/// Connect rules answer at the greeting: `connect from=127.0.0.0/8 reply="554 5.7.1 not
/// you"` greets smtplib with the 554 (RFC 5321 §3.1: a raw session then gets 503 to
/// everything but QUIT); `disconnect` greets with 421 and closes; a rule for another
/// network leaves loopback alone.
fn a_connect_rule_answers_at_the_greeting(runtime: &str) {
    if !python_module("a_connect_rule_answers_at_the_greeting", "smtplib") {
        return;
    }
    let serve = Serve::start(
        runtime,
        &[
            "--rule",
            r#"connect from=127.0.0.0/8 reply="554 5.7.1 not you""#,
            "--rule",
            "connect from=10.0.0.0/8 disconnect",
        ],
    );
    let script = format!(
        "import smtplib\n\
         try:\n\
         \x20   smtplib.SMTP('127.0.0.1', {port})\n\
         \x20   print('greeted')\n\
         except smtplib.SMTPConnectError as e:\n\
         \x20   print('%d %s' % (e.smtp_code, e.smtp_error.decode()))\n",
        port = serve.smtp.port()
    );
    assert_eq!(python(&script).trim(), "554 5.7.1 not you");
    let mut r = connect(serve.smtp);
    assert_eq!(reply(&mut r), "554 5.7.1 not you");
    send(&mut r, "EHLO client.example");
    assert!(reply(&mut r).starts_with("503 5.5.1 "));
    send(&mut r, "QUIT");
    assert!(reply(&mut r).starts_with("221 "));
    drop(serve);

    let serve = Serve::start(runtime, &["--rule", "connect from=127.0.0.0/8 disconnect"]);
    let mut r = connect(serve.smtp);
    let refused = reply(&mut r);
    assert!(refused.starts_with("421 4.3.0 "), "{refused}");
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0, "closed after the 421");
    drop(serve);

    let serve = Serve::start(runtime, &["--rule", "connect from=10.0.0.0/8 disconnect"]);
    let mut r = connect(serve.smtp);
    assert!(reply(&mut r).starts_with("220 "));
}

/// A connect delay holds the greeting back, whatever runs the sessions (on smol and
/// tokio the hook runs on the blocking pool, not the executor).
fn a_connect_delay_holds_the_greeting(runtime: &str) {
    let serve = Serve::start(runtime, &["--rule", "connect delay=1s"]);
    let started = Instant::now();
    let mut r = connect(serve.smtp);
    assert!(reply(&mut r).starts_with("220 "));
    assert!(started.elapsed() >= Duration::from_secs(1));
}

/// `ehlo from=127.0.0.0/8 *.spam.example reply="550 5.7.1 go away"` through smtplib: an
/// EHLO naming a spam domain gets the rule's reply, and MAIL then needs a greeting
/// first; the next EHLO with another name is accepted; `ehlo *.close.example
/// disconnect` answers 421 and closes.
fn an_ehlo_rule_answers_the_greeting_command(runtime: &str) {
    if !python_module("an_ehlo_rule_answers_the_greeting_command", "smtplib") {
        return;
    }
    let serve = Serve::start(
        runtime,
        &[
            "--rule",
            r#"ehlo from=127.0.0.0/8 *.spam.example reply="550 5.7.1 go away""#,
            "--rule",
            "ehlo *.close.example disconnect",
        ],
    );
    let script = format!(
        "import smtplib\n\
         out = []\n\
         s = smtplib.SMTP('127.0.0.1', {port})\n\
         code, msg = s.ehlo('mx.spam.example')\n\
         out.append('%d %s' % (code, msg.decode()))\n\
         out.append('%d' % s.docmd('MAIL', 'FROM:<a@example.org>')[0])\n\
         out.append('%d' % s.ehlo('client.example')[0])\n\
         out.append('%d' % s.docmd('MAIL', 'FROM:<a@example.org>')[0])\n\
         s.quit()\n\
         s = smtplib.SMTP('127.0.0.1', {port})\n\
         out.append('%d' % s.ehlo('a.close.example')[0])\n\
         try:\n\
         \x20   s.noop()\n\
         \x20   out.append('open')\n\
         except smtplib.SMTPServerDisconnected:\n\
         \x20   out.append('closed')\n\
         print('|'.join(out))\n",
        port = serve.smtp.port()
    );
    assert_eq!(
        python(&script).trim(),
        "550 5.7.1 go away|503|250|250|421|closed"
    );
}

/// `auth user=alice reply="454 4.7.0 temporary authentication failure"`: smtplib's AUTH
/// for alice gets the rule's reply though her password is right; bob logs in.
fn an_auth_rule_answers_with_its_reply(runtime: &str) {
    if !python_module("an_auth_rule_answers_with_its_reply", "smtplib") {
        return;
    }
    let serve = Serve::start(
        runtime,
        &[
            "--rule",
            r#"auth user=alice reply="454 4.7.0 temporary authentication failure""#,
        ],
    );
    let script = format!(
        "import base64, smtplib\n\
         out = []\n\
         for user, pw in (('alice', 'wonderland'), ('bob', 'builder')):\n\
         \x20   s = smtplib.SMTP('127.0.0.1', {port})\n\
         \x20   s.ehlo('client.example')\n\
         \x20   token = base64.b64encode(('\\0%s\\0%s' % (user, pw)).encode()).decode()\n\
         \x20   code, msg = s.docmd('AUTH', 'PLAIN ' + token)\n\
         \x20   out.append('%d %s' % (code, msg.decode()))\n\
         \x20   s.quit()\n\
         print('|'.join(out))\n",
        port = serve.smtp.port()
    );
    assert_eq!(
        python(&script).trim(),
        "454 4.7.0 temporary authentication failure|235 2.7.0 Authentication successful"
    );
}

/// `data sender=*@full.example reply="452 4.3.1 out of room"`: smtplib's DATA gets the
/// rule's reply where the 354 would be (nothing of the body is sent or stored); after
/// RSET another sender's message goes through.
fn a_data_rule_answers_before_354(runtime: &str) {
    if !python_module("a_data_rule_answers_before_354", "smtplib") {
        return;
    }
    let serve = Serve::start(
        runtime,
        &[
            "--rule",
            r#"data sender=*@full.example reply="452 4.3.1 out of room""#,
        ],
    );
    let script = format!(
        "import smtplib\n\
         out = []\n\
         s = smtplib.SMTP('127.0.0.1', {port})\n\
         s.ehlo('client.example')\n\
         s.mail('a@full.example')\n\
         s.rcpt('alice@localhost')\n\
         code, msg = s.docmd('DATA')\n\
         out.append('%d %s' % (code, msg.decode()))\n\
         s.rset()\n\
         s.sendmail('a@example.org', ['alice@localhost'], 'Subject: ok\\r\\n\\r\\nx\\r\\n')\n\
         out.append('sent')\n\
         s.quit()\n\
         print('|'.join(out))\n",
        port = serve.smtp.port()
    );
    assert_eq!(python(&script).trim(), "452 4.3.1 out of room|sent");
    assert_eq!(serve.stored("alice"), 1);
}

/// POP3 rules on the client's address and on the commands the server answers from the
/// listing, through poplib: `pop3 stat from=127.0.0.0/8` answers its -ERR (a rule for
/// another network does not fire), `pop3 login from=127.0.0.0/8 bob fail` refuses bob,
/// `pop3 dele` refuses DELE (nothing is deleted at QUIT), and `pop3 user mallory
/// disconnect` drops the connection at USER.
fn pop3_rules_on_the_client_and_on_other_commands(runtime: &str) {
    if !python_module("pop3_rules_on_the_client_and_on_other_commands", "poplib") {
        return;
    }
    let serve = Serve::start(
        runtime,
        &[
            "--rule",
            r#"pop3 stat from=127.0.0.0/8 reply="-ERR [SYS/TEMP] try later""#,
            "--rule",
            r#"pop3 uidl from=10.0.0.0/8 reply="-ERR not you""#,
            "--rule",
            "pop3 login from=127.0.0.0/8 bob fail",
            "--rule",
            r#"pop3 dele reply="-ERR [SYS/PERM] read-only""#,
            "--rule",
            "pop3 user mallory disconnect",
        ],
    );
    let script = format!(
        "import poplib, smtplib\n\
         s = smtplib.SMTP('127.0.0.1', {smtp})\n\
         s.sendmail('a@example.org', ['alice@localhost'], 'Subject: 1\\r\\n\\r\\nx\\r\\n')\n\
         s.quit()\n\
         out = []\n\
         def attempt(f):\n\
         \x20   try:\n\
         \x20       r = f()\n\
         \x20       out.append('ok')\n\
         \x20   except poplib.error_proto as e:\n\
         \x20       out.append(e.args[0].decode())\n\
         p = poplib.POP3('127.0.0.1', {pop3})\n\
         p.user('bob')\n\
         attempt(lambda: p.pass_('builder'))\n\
         p.user('alice'); p.pass_('wonderland')\n\
         attempt(p.stat)\n\
         attempt(p.uidl)\n\
         attempt(lambda: p.dele(1))\n\
         p.quit()\n\
         p = poplib.POP3('127.0.0.1', {pop3})\n\
         try:\n\
         \x20   p.user('mallory')\n\
         \x20   out.append('answered')\n\
         except (poplib.error_proto, EOFError, OSError) as e:\n\
         \x20   out.append('dropped')\n\
         print('|'.join(out))\n",
        smtp = serve.smtp.port(),
        pop3 = serve.pop3.port()
    );
    let out = python(&script);
    let parts: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(
        parts,
        [
            "-ERR [AUTH] Authentication failed",
            "-ERR [SYS/TEMP] try later",
            "ok",
            "-ERR [SYS/PERM] read-only",
            "dropped"
        ],
        "{out}"
    );
    assert_eq!(serve.stored("alice"), 1, "the refused DELE deleted nothing");
}

/// RCPT, DATA and end-of-data rules through smtplib: a refused recipient gets the
/// rule's 550 while another is accepted; a DATA rule's reply is smtplib's answer to
/// DATA; `data-end sender=... disconnect` answers 421 and closes; nothing refused is
/// stored.
fn rcpt_data_and_end_rules_through_smtplib(runtime: &str) {
    if !python_module("rcpt_data_and_end_rules_through_smtplib", "smtplib") {
        return;
    }
    let serve = Serve::start(
        runtime,
        &[
            "--rule",
            r#"rcpt bob@* reply="550 5.1.1 bob has left""#,
            "--rule",
            r#"data sender=*@full.example reply="452 4.3.1 out of room""#,
            "--rule",
            "data-end sender=*@drop.example disconnect",
        ],
    );
    let script = format!(
        "import smtplib\n\
         out = []\n\
         s = smtplib.SMTP('127.0.0.1', {port})\n\
         refused = s.sendmail('a@example.org', ['alice@localhost', 'bob@localhost'], 'Subject: 1\\r\\n\\r\\nx\\r\\n')\n\
         code, text = refused['bob@localhost']\n\
         out.append('%d %s' % (code, text.decode()))\n\
         try:\n\
         \x20   s.sendmail('a@full.example', ['alice@localhost'], 'Subject: 2\\r\\n\\r\\nx\\r\\n')\n\
         except smtplib.SMTPDataError as e:\n\
         \x20   out.append('%d %s' % (e.smtp_code, e.smtp_error.decode()))\n\
         try:\n\
         \x20   s.sendmail('a@drop.example', ['alice@localhost'], 'Subject: 3\\r\\n\\r\\nx\\r\\n')\n\
         except (smtplib.SMTPDataError, smtplib.SMTPServerDisconnected) as e:\n\
         \x20   out.append('%d' % getattr(e, 'smtp_code', 0))\n\
         try:\n\
         \x20   s.noop()\n\
         \x20   out.append('open')\n\
         except smtplib.SMTPServerDisconnected:\n\
         \x20   out.append('closed')\n\
         print('|'.join(out))\n",
        port = serve.smtp.port()
    );
    let out = python(&script);
    assert_eq!(
        out.trim(),
        "550 5.1.1 bob has left|452 4.3.1 out of room|421|closed"
    );
    assert_eq!(serve.stored("alice"), 1);
    assert_eq!(serve.stored("bob"), 0);
}

/// POP3 rules through poplib: `pop3 login bob reply="-ERR [IN-USE] ..."`, every second
/// RETR `-ERR [SYS/TEMP]`, QUIT's UPDATE refused (nothing deleted), and `pop3 top
/// disconnect` dropping the connection after `+OK`.
fn pop3_rules_through_poplib(runtime: &str) {
    if !python_module("pop3_rules_through_poplib", "poplib") {
        return;
    }
    let serve = Serve::start(
        runtime,
        &[
            "--rule",
            r#"pop3 login bob reply="-ERR [IN-USE] locked""#,
            "--rule",
            r#"pop3 retr every=2 reply="-ERR [SYS/TEMP] busy""#,
            "--rule",
            r#"pop3 quit reply="-ERR [SYS/TEMP] not now""#,
        ],
    );
    let script = format!(
        "import poplib, smtplib\n\
         s = smtplib.SMTP('127.0.0.1', {smtp})\n\
         for i in range(2):\n\
         \x20   s.sendmail('a@example.org', ['alice@localhost'], 'Subject: %d\\r\\n\\r\\nx\\r\\n' % i)\n\
         s.quit()\n\
         out = []\n\
         p = poplib.POP3('127.0.0.1', {pop3})\n\
         p.user('bob')\n\
         try:\n\
         \x20   p.pass_('builder')\n\
         except poplib.error_proto as e:\n\
         \x20   out.append(e.args[0].decode())\n\
         p.user('alice'); p.pass_('wonderland')\n\
         for n in (1, 2, 1):\n\
         \x20   try:\n\
         \x20       p.retr(n)\n\
         \x20       out.append('ok')\n\
         \x20   except poplib.error_proto as e:\n\
         \x20       out.append(e.args[0].decode())\n\
         p.dele(1)\n\
         try:\n\
         \x20   p.quit()\n\
         except poplib.error_proto as e:\n\
         \x20   out.append(e.args[0].decode())\n\
         print('|'.join(out))\n",
        smtp = serve.smtp.port(),
        pop3 = serve.pop3.port()
    );
    let out = python(&script);
    let parts: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(parts.len(), 5, "{out}");
    assert!(parts[0].starts_with("-ERR [IN-USE]"), "{out}");
    assert_eq!(parts[1], "ok");
    assert!(
        parts[2].starts_with("-ERR [SYS/TEMP] ") && parts[2].ends_with("busy"),
        "{out}"
    );
    assert_eq!(parts[3], "ok");
    assert!(
        parts[4].starts_with("-ERR [SYS/TEMP] ") && parts[4].ends_with("not now"),
        "{out}"
    );
    assert_eq!(serve.stored("alice"), 2, "a refused UPDATE deletes nothing");
    drop(serve);

    let serve = Serve::start(runtime, &["--rule", "pop3 top disconnect"]);
    let mut r = connect(serve.smtp);
    reply(&mut r);
    for line in [
        "EHLO client.example",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<alice@localhost>",
        "DATA",
        "Subject: x\r\n\r\nbody\r\n.",
        "QUIT",
    ] {
        send(&mut r, line);
        reply(&mut r);
    }
    let mut p = connect(serve.pop3);
    let mut line = String::new();
    p.read_line(&mut line).unwrap();
    for command in ["USER alice", "PASS wonderland"] {
        send(&mut p, command);
        line.clear();
        p.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    }
    send(&mut p, "TOP 1 0");
    line.clear();
    p.read_line(&mut line).unwrap();
    assert!(line.starts_with("+OK"), "{line}");
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut p, &mut rest);
    assert!(
        !rest.ends_with(b".\r\n"),
        "the message was not passed off as whole: {rest:?}"
    );
}

/// `--messages-per-minute 2` (the listener's rate limiter per client address): the
/// third MAIL within the minute gets `451 4.7.1`, which senders retry later.
fn the_message_rate_per_address_answers_451(runtime: &str) {
    let serve = Serve::start(runtime, &["--messages-per-minute", "2"]);
    let mut r = connect(serve.smtp);
    reply(&mut r);
    send(&mut r, "EHLO client.example");
    reply(&mut r);
    let mut replies = Vec::new();
    for _ in 0..3 {
        send(&mut r, "MAIL FROM:<a@example.org>");
        replies.push(reply(&mut r));
        send(&mut r, "RSET");
        reply(&mut r);
    }
    assert!(replies[0].starts_with("250 ") && replies[1].starts_with("250 "));
    assert!(replies[2].starts_with("451 4.7.1 "), "{replies:?}");
}

/// Rules that cannot work are refused at start with the reason and the line.
#[test]
fn bad_rules_stop_serve_at_start_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules");
    std::fs::write(&file, "# ok\nrcpt *@x delay=1s\npop3 quit disconnect\n").unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mailproto"))
            .args(["serve", "--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0"])
            .args(["--user", "alice:pw", "--maildir"])
            .arg(dir.path().join("mail"))
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["--rules", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("cannot close"),
        "{err}"
    );
    let out = run(&["--rule", "connect *@x delay=1s"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connect") && err.contains("client only"),
        "{err}"
    );
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

on_every_runtime!(
    every_third_rcpt_across_sessions_gets_the_rules_reply,
    a_seeded_probability_refuses_the_same_messages_twice,
    a_delay_holds_up_its_own_session_only,
    a_connect_rule_answers_at_the_greeting,
    a_connect_delay_holds_the_greeting,
    an_ehlo_rule_answers_the_greeting_command,
    an_auth_rule_answers_with_its_reply,
    a_data_rule_answers_before_354,
    rcpt_data_and_end_rules_through_smtplib,
    pop3_rules_through_poplib,
    pop3_rules_on_the_client_and_on_other_commands,
    the_message_rate_per_address_answers_451,
);
