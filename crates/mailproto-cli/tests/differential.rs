//! Differential conformance: the same SMTP sessions played against `mailproto serve` and
//! Postfix's smtpd, the same POP3 sessions against `mailproto serve` and Dovecot, and
//! their answers compared.
//!
//! A session is a list of steps (a command line, a pipelined group, DATA with its body,
//! a BDAT chunk); each answer is reduced to what both sides must agree on: the reply
//! class and, where both give one, the enhanced status code (RFC 3463) for SMTP; `+OK` /
//! `-ERR`, the response code where both give one (RFC 2449 §8) and the multi-line body
//! for POP3 (line counts for UIDL and CAPA, whose contents are the server's own). What
//! was stored (SMTP) and what is left in the maildrop (POP3) is compared too. Two more
//! tests run STARTTLS and STLS sessions (AUTH and logins before and after TLS) with
//! every server presenting the same certificate.
//!
//! Every difference is either listed in `conformance/differences.txt` (with the RFC
//! section that justifies our answer; `docs/conformance.md` renders the list) or a
//! failure. Once the two servers answer a step in different classes the rest of that
//! session is not comparable and is skipped. Sessions are hand-written scenarios plus a
//! fixed number of sequences generated with a fixed seed, so every run is the same.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mailproto_testkit::{Dovecot, Postfix, PostfixOptions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Generated sessions per protocol, and the seed they come from.
const GENERATED: usize = 60;
const SEED: [u8; 32] = *b"mailproto differential seed 0001";

/// How long one answer may take before the server counts as silent.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// How long Postfix may take to deliver what it accepted (it queues first).
const DELIVERY_LIMIT: Duration = Duration::from_secs(20);

const DIFFERENCES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../conformance/differences.txt"
);
const CONFORMANCE_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/conformance.md");

// ---------------------------------------------------------------------------------------
// mailproto serve

/// `mailproto serve` on free loopback ports over a temporary Maildir root, with the
/// limits that would get in a long run's way off and no login delay.
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
    fn start(users: &[(String, String)]) -> Serve {
        Serve::start_tls(users, None)
    }

    /// With `tls` (certificate and key, PEM): STARTTLS and STLS offered.
    fn start_tls(users: &[(String, String)], tls: Option<(&str, &str)>) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailproto"));
        if let Some((cert, key)) = tls {
            fs::write(dir.path().join("cert.pem"), cert).unwrap();
            fs::write(dir.path().join("key.pem"), key).unwrap();
            cmd.arg("serve")
                .arg("--tls-cert")
                .arg(dir.path().join("cert.pem"))
                .arg("--tls-key")
                .arg(dir.path().join("key.pem"));
        } else {
            cmd.arg("serve");
        }
        cmd.args(["--smtp", "127.0.0.1:0", "--pop3", "127.0.0.1:0"])
            .args(["--hostname", Postfix::DOMAIN, "--login-failure-delay", "0"])
            .args(["--max-per-address", "1000", "--connections-per-minute", "0"])
            .args(["--messages-per-minute", "0", "-q"])
            .arg("--maildir")
            .arg(dir.path().join("mail"));
        for (user, password) in users {
            cmd.args(["--user", &format!("{user}:{password}")]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mailproto serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut banner = String::new();
        stderr.read_line(&mut banner).unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let address = |key: &str| -> SocketAddr {
            banner
                .split(&format!("{key} "))
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {key} address in {banner:?}"))
        };
        Serve {
            smtp: address("SMTP"),
            pop3: address("POP3"),
            child,
            dir,
        }
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("mail").join(user)
    }
}

// ---------------------------------------------------------------------------------------
// Answers and how they are compared

/// What a server answered to one step, reduced to what is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// An SMTP reply: code, enhanced code, first line.
    Smtp(u16, Option<String>, String),
    /// A POP3 status (`+OK` or `-ERR`), its response code, the multi-line body when the
    /// command has one (compared as `Body`), and the first line.
    Pop3(bool, Option<String>, Body, String),
    /// The server closed the connection.
    Closed,
    /// No answer within [`ANSWER_LIMIT`].
    Silent,
}

/// A POP3 multi-line body as compared: every line, or only how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    None,
    Lines(Vec<String>),
    Count(usize),
}

impl Answer {
    /// The short form the difference list uses: `250 2.1.0`, `354`, `+OK`,
    /// `-ERR [IN-USE]`, `closed`, `silent`.
    fn describe(&self) -> String {
        match self {
            Answer::Smtp(code, Some(enhanced), _) => format!("{code} {enhanced}"),
            Answer::Smtp(code, None, _) => code.to_string(),
            Answer::Pop3(ok, code, _, _) => {
                let status = if *ok { "+OK" } else { "-ERR" };
                match code {
                    Some(code) => format!("{status} [{code}]"),
                    None => status.to_string(),
                }
            }
            Answer::Closed => "closed".into(),
            Answer::Silent => "silent".into(),
        }
    }

    /// Whether the two answers agree: same class, same enhanced or response code where
    /// both give one, same body.
    fn agrees(&self, other: &Answer) -> (bool, bool) {
        match (self, other) {
            (Answer::Smtp(a, ea, _), Answer::Smtp(b, eb, _)) => {
                let class = a / 100 == b / 100;
                let detail = match (ea, eb) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                };
                (class, class && detail)
            }
            (Answer::Pop3(a, ca, ba, _), Answer::Pop3(b, cb, bb, _)) => {
                let class = a == b;
                let detail = match (ca, cb) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                };
                (class, class && detail && ba == bb)
            }
            (a, b) => {
                let same = std::mem::discriminant(a) == std::mem::discriminant(b);
                (same, same)
            }
        }
    }

    /// Whether the session goes on after this answer.
    fn open(&self) -> bool {
        match self {
            Answer::Smtp(code, ..) => *code != 421 && *code != 221,
            Answer::Pop3(..) => true,
            Answer::Closed | Answer::Silent => false,
        }
    }
}

/// One known difference: `protocol | step | reference answer | our answer | why`.
#[derive(Debug, Clone)]
struct Known {
    protocol: String,
    step: String,
    theirs: String,
    ours: String,
    why: String,
}

/// Whether `answer` (its [`Answer::describe`] form) matches `pattern`: equal, or the
/// pattern's `x` digits and `*` parts stand for anything (`5xx`, `550 5.1.*`, `-ERR *`).
fn matches(pattern: &str, answer: &str) -> bool {
    let (p, a): (Vec<&str>, Vec<&str>) = (
        pattern.split_whitespace().collect(),
        answer.split_whitespace().collect(),
    );
    if p.last() == Some(&"*") && p.len() - 1 <= a.len() {
        return p[..p.len() - 1]
            .iter()
            .zip(&a)
            .all(|(p, a)| word_matches(p, a));
    }
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| word_matches(p, a))
}

fn word_matches(pattern: &str, word: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (p, w): (Vec<char>, Vec<char>) = (pattern.chars().collect(), word.chars().collect());
    if p.last() == Some(&'*') {
        return w.len() >= p.len() - 1
            && p[..p.len() - 1]
                .iter()
                .zip(&w)
                .all(|(p, w)| p == w || (*p == 'x' && w.is_ascii_digit()));
    }
    p.len() == w.len()
        && p.iter()
            .zip(&w)
            .all(|(p, w)| p == w || (*p == 'x' && w.is_ascii_digit()))
}

fn load_known() -> Vec<Known> {
    let text = fs::read_to_string(DIFFERENCES).expect("read conformance/differences.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let parts: Vec<&str> = line.splitn(5, '|').map(str::trim).collect();
            assert_eq!(parts.len(), 5, "a malformed line: {line}");
            Known {
                protocol: parts[0].into(),
                step: parts[1].into(),
                theirs: parts[2].into(),
                ours: parts[3].into(),
                why: parts[4].into(),
            }
        })
        .collect()
}

/// What the comparison of all sessions found.
#[derive(Default)]
struct Findings {
    sessions: usize,
    compared: usize,
    /// Known differences seen, by their index in the list.
    seen: BTreeMap<usize, usize>,
    /// Differences not in the list, with the session they came from.
    unexplained: Vec<String>,
}

impl Findings {
    /// Compare the answers of one session; returns whether the states still agree.
    fn compare(
        &mut self,
        known: &[Known],
        protocol: &str,
        session: &str,
        labels: &[String],
        theirs: &[Answer],
        ours: &[Answer],
    ) -> bool {
        self.sessions += 1;
        for (i, (t, o)) in theirs.iter().zip(ours).enumerate() {
            let step = labels.get(i).map_or("?", String::as_str);
            let (class, all) = t.agrees(o);
            if all {
                self.compared += 1;
            } else if !self.explain(known, protocol, step, &t.describe(), &o.describe()) {
                self.unexplained.push(format!(
                    "{protocol} step {i} `{step}`: reference `{}` ours `{}` (lines {:?} / {:?})\n  in {session}",
                    t.describe(),
                    o.describe(),
                    first_line(t),
                    first_line(o),
                ));
                return false;
            }
            if !class {
                return false;
            }
            if !t.open() || !o.open() {
                return t.open() == o.open();
            }
        }
        if theirs.len() != ours.len() && theirs.len().min(ours.len()) < labels.len() {
            // One side stopped answering earlier: that is a difference of its own.
            let i = theirs.len().min(ours.len());
            let describe = |a: &[Answer]| a.get(i).map_or("nothing".into(), Answer::describe);
            let step = labels.get(i).map_or("?", String::as_str);
            if !self.explain(known, protocol, step, &describe(theirs), &describe(ours)) {
                self.unexplained.push(format!(
                    "{protocol} step {i} `{step}`: reference `{}` ours `{}`\n  in {session}",
                    describe(theirs),
                    describe(ours)
                ));
            }
            return false;
        }
        true
    }

    fn explain(
        &mut self,
        known: &[Known],
        protocol: &str,
        step: &str,
        theirs: &str,
        ours: &str,
    ) -> bool {
        let hit = known.iter().position(|k| {
            k.protocol == protocol
                && (k.step == step || k.step == "*")
                && matches(&k.theirs, theirs)
                && matches(&k.ours, ours)
        });
        if let Some(i) = hit {
            *self.seen.entry(i).or_default() += 1;
        }
        hit.is_some()
    }

    fn report(&self, protocol: &str, known: &[Known]) {
        eprintln!(
            "differential {protocol}: {} sessions, {} answers agreed, {} known differences seen, {} unexplained",
            self.sessions,
            self.compared,
            self.seen.values().sum::<usize>(),
            self.unexplained.len()
        );
        for (i, k) in known
            .iter()
            .enumerate()
            .filter(|(_, k)| k.protocol == protocol)
        {
            eprintln!(
                "  {:>4}x  {} | {} | {}",
                self.seen.get(&i).copied().unwrap_or(0),
                k.step,
                k.theirs,
                k.ours
            );
        }
        assert!(
            self.unexplained.is_empty(),
            "{} differences are neither fixed nor listed in conformance/differences.txt:\n{}",
            self.unexplained.len(),
            self.unexplained.join("\n")
        );
    }
}

fn first_line(a: &Answer) -> &str {
    match a {
        Answer::Smtp(.., line) | Answer::Pop3(.., line) => line,
        _ => "",
    }
}

/// Read one line (CRLF or LF), `None` at the end or past the limit.
fn read_line(r: &mut BufReader<Conn>) -> Result<Option<String>, ()> {
    let mut buf = Vec::new();
    match r.read_until(b'\n', &mut buf) {
        Ok(0) => Ok(None),
        Ok(_) => {
            while buf.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                buf.pop();
            }
            Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(())
        }
        Err(_) => Ok(None),
    }
}

fn connect(addr: SocketAddr) -> BufReader<Conn> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(ANSWER_LIMIT)).unwrap();
    BufReader::new(Conn::Plain(tcp))
}

/// A session's connection: plaintext until STARTTLS/STLS, then TLS (rustls, trusting
/// the certificate both servers of the TLS tests present).
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    Gone,
}

impl std::io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.read(buf),
            Conn::Tls(tls) => tls.read(buf),
            Conn::Gone => Ok(0),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.write(buf),
            Conn::Tls(tls) => tls.write(buf),
            Conn::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(tcp) => tcp.flush(),
            Conn::Tls(tls) => tls.flush(),
            Conn::Gone => Ok(()),
        }
    }
}

/// The certificate and key (PEM) every server of the TLS tests presents, for the names
/// `localhost` and `127.0.0.1`: one for the whole run, so the client trusts just it.
fn tls_pair() -> &'static (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let cert = mailproto_std::tls::SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
        (cert.cert_pem, cert.key_pem)
    })
}

/// The client side of TLS for the TLS tests: trusts [`tls_pair`]'s certificate only.
fn tls_client() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let pem = tls_pair().0.as_bytes();
            for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(pem) {
                roots.add(cert.unwrap()).unwrap();
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// After the server's go-ahead to STARTTLS/STLS: the TLS handshake. False (the session
/// is then over) when it fails, or when the server sent anything after its go-ahead
/// (plaintext that would be taken as protected, CVE-2011-0411).
fn upgrade(r: &mut BufReader<Conn>) -> bool {
    if !r.buffer().is_empty() {
        return false;
    }
    let Conn::Plain(tcp) = std::mem::replace(r.get_mut(), Conn::Gone) else {
        return false;
    };
    let config = tls_client();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tcp = tcp;
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            return false;
        }
    }
    *r.get_mut() = Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)));
    true
}

// ---------------------------------------------------------------------------------------
// SMTP

#[derive(Debug, Clone)]
enum Step {
    /// One command line, one reply.
    Cmd(String),
    /// Command lines in one write, one reply each (RFC 2920).
    Pipelined(Vec<String>),
    /// DATA; after a 354 the body (dot-stuffed already, CRLF) and `.`.
    Data(Vec<u8>),
    /// `BDAT <size>[ LAST]` with the chunk (RFC 3030).
    Bdat(Vec<u8>, bool),
    /// Raw octets, then this many replies, labelled as given.
    Raw(String, Vec<u8>, usize),
    /// STARTTLS; after a 220 the TLS handshake (RFC 3207), labelled `TLS` (`220` when it
    /// completed, else `closed`).
    StartTls,
}

fn verb(line: &str) -> String {
    let word = line
        .split([' ', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if word.is_empty() {
        "(empty line)".into()
    } else if word.len() > 12 {
        "(long line)".into()
    } else {
        word
    }
}

fn smtp_reply(r: &mut BufReader<Conn>) -> Answer {
    let mut first = None;
    loop {
        let line = match read_line(r) {
            Ok(Some(line)) => line,
            Ok(None) => return Answer::Closed,
            Err(()) => return Answer::Silent,
        };
        let first = first.get_or_insert_with(|| line.clone());
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            let code: u16 = first.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            let enhanced = first
                .get(4..)
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|e| {
                    let parts: Vec<&str> = e.split('.').collect();
                    parts.len() == 3
                        && parts
                            .iter()
                            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                        && e.as_bytes()[0] == first.as_bytes()[0]
                })
                .map(str::to_string);
            return Answer::Smtp(code, enhanced, first.clone());
        }
    }
}

/// What one side of an SMTP session gave: the labels of the answers, the answers (the
/// greeting first), and how many copies of messages it accepted (one per distinct
/// recipient of each accepted message).
struct Played {
    labels: Vec<String>,
    answers: Vec<Answer>,
    copies: usize,
}

/// Play `steps` against the SMTP server at `addr` until the session ends; `QUIT` is
/// sent at the end.
fn play_smtp(addr: SocketAddr, steps: &[Step]) -> Played {
    let mut played = play_smtp_answers(addr, steps);
    // Follow the transaction through the answers: MAIL starts one, each RCPT accepted
    // adds its recipient, an accepted end of data delivers a copy to each.
    let mut recipients = std::collections::BTreeSet::new();
    let lines = steps.iter().flat_map(|s| match s {
        Step::Cmd(l) => vec![l.clone()],
        Step::Pipelined(ls) => ls.clone(),
        _ => Vec::new(),
    });
    let mut lines = lines.peekable();
    for (label, answer) in played.labels.iter().zip(&played.answers).skip(1) {
        let ok = matches!(answer, Answer::Smtp(c, ..) if c / 100 == 2);
        let line = match label.as_str() {
            "DATA" | "end of data" | "BDAT" | "BDAT LAST" | "STARTTLS" | "TLS" => None,
            _ => lines.next(),
        };
        match label.as_str() {
            "MAIL" | "RSET" | "EHLO" | "HELO" if ok => recipients.clear(),
            "RCPT" if ok => {
                let address = line.unwrap_or_default().to_ascii_lowercase();
                let address = address.split('<').nth(1).and_then(|a| a.split('>').next());
                recipients.insert(address.unwrap_or_default().to_string());
            }
            "end of data" | "BDAT LAST" if ok => {
                played.copies += recipients.len();
                recipients.clear();
            }
            _ => {}
        }
    }
    played
}

fn play_smtp_answers(addr: SocketAddr, steps: &[Step]) -> Played {
    let mut r = connect(addr);
    let mut labels = vec!["greeting".to_string()];
    let mut answers = vec![smtp_reply(&mut r)];
    let quit = [Step::Cmd("QUIT".into())];
    for step in steps.iter().chain(&quit) {
        if !answers.last().is_some_and(Answer::open) {
            break;
        }
        let mut send = |bytes: &[u8]| {
            let _ = r.get_mut().write_all(bytes);
        };
        match step {
            Step::Cmd(line) => {
                send(format!("{line}\r\n").as_bytes());
                labels.push(verb(line));
                answers.push(smtp_reply(&mut r));
            }
            Step::Pipelined(lines) => {
                let group: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
                send(group.as_bytes());
                for line in lines {
                    labels.push(verb(line));
                    let answer = smtp_reply(&mut r);
                    let open = answer.open();
                    answers.push(answer);
                    if !open {
                        break;
                    }
                }
            }
            Step::Data(body) => {
                send(b"DATA\r\n");
                labels.push("DATA".into());
                let answer = smtp_reply(&mut r);
                let go = matches!(answer, Answer::Smtp(354, ..));
                answers.push(answer);
                if go {
                    let _ = r.get_mut().write_all(body);
                    let _ = r.get_mut().write_all(b".\r\n");
                    labels.push("end of data".into());
                    answers.push(smtp_reply(&mut r));
                }
            }
            Step::Bdat(chunk, last) => {
                let last = if *last { " LAST" } else { "" };
                let mut bytes = format!("BDAT {}{last}\r\n", chunk.len()).into_bytes();
                bytes.extend_from_slice(chunk);
                send(&bytes);
                labels.push(format!("BDAT{last}"));
                answers.push(smtp_reply(&mut r));
            }
            Step::StartTls => {
                send(b"STARTTLS\r\n");
                labels.push("STARTTLS".into());
                let answer = smtp_reply(&mut r);
                let go = matches!(answer, Answer::Smtp(220, ..));
                answers.push(answer);
                if go {
                    labels.push("TLS".into());
                    answers.push(if upgrade(&mut r) {
                        Answer::Smtp(220, None, "TLS established".into())
                    } else {
                        Answer::Closed
                    });
                }
            }
            Step::Raw(label, bytes, replies) => {
                send(bytes);
                for _ in 0..*replies {
                    labels.push(label.clone());
                    let answer = smtp_reply(&mut r);
                    let open = answer.open();
                    answers.push(answer);
                    if !open {
                        break;
                    }
                }
            }
        }
    }
    Played {
        labels,
        answers,
        copies: 0,
    }
}

/// Steps as the failure messages show them: lines as sent, bodies by size.
fn show(steps: &[Step]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .map(|s| match s {
            Step::Cmd(l) if l.len() > 60 => format!("{:?}... ({} octets)", &l[..40], l.len()),
            Step::Cmd(l) => format!("{l:?}"),
            Step::Pipelined(ls) => format!("pipelined {ls:?}"),
            Step::Data(b) => format!("DATA + {} octets", b.len()),
            Step::Bdat(b, last) => format!("BDAT {}{}", b.len(), if *last { " LAST" } else { "" }),
            Step::Raw(label, b, _) => format!("{label}: {:?}", String::from_utf8_lossy(b)),
            Step::StartTls => "STARTTLS".into(),
        })
        .collect();
    parts.join(", ")
}

/// The messages under `root`'s Maildirs (`*/new`, `*/cur`) by path, contents normalised:
/// LF line ends, without the trace fields each server prepends.
fn stored_under(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(users) = fs::read_dir(root) else {
        return out;
    };
    for user in users.flatten() {
        for sub in ["new", "cur"] {
            let Ok(files) = fs::read_dir(user.path().join(sub)) else {
                continue;
            };
            for f in files.flatten() {
                if let Ok(data) = fs::read(f.path()) {
                    out.insert(f.path(), normalise(&data));
                }
            }
        }
    }
    out
}

fn normalise(data: &[u8]) -> Vec<u8> {
    let text: Vec<u8> = {
        let mut v = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            v.push(data[i]);
            i += 1;
        }
        v
    };
    let mut rest = &text[..];
    loop {
        let trace = [
            &b"Return-Path:"[..],
            b"Received:",
            b"Delivered-To:",
            b"X-Original-To:",
        ]
        .iter()
        .any(|p| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p));
        if !trace {
            return rest.to_vec();
        }
        // The field and its continuation lines.
        let mut end = 0;
        loop {
            match rest[end..].iter().position(|&b| b == b'\n') {
                Some(n) => end += n + 1,
                None => return Vec::new(),
            }
            if !matches!(rest.get(end), Some(b' ' | b'\t')) {
                break;
            }
        }
        rest = &rest[end..];
    }
}

fn new_messages(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<Vec<u8>> {
    let mut new: Vec<Vec<u8>> = after
        .into_iter()
        .filter(|(p, _)| !before.contains_key(p))
        .map(|(_, m)| m)
        .collect();
    new.sort();
    new
}

/// One SMTP session against both servers, answers and stored messages compared.
fn smtp_session(
    findings: &mut Findings,
    known: &[Known],
    postfix: &Postfix,
    postfix_root: &Path,
    serve: &Serve,
    name: &str,
    steps: &[Step],
) {
    let ours_root = serve.dir.path().join("mail");
    let (before_theirs, before_ours) = (stored_under(postfix_root), stored_under(&ours_root));
    let theirs = play_smtp(SocketAddr::from(([127, 0, 0, 1], postfix.port)), steps);
    let ours = play_smtp(serve.smtp, steps);
    let session = format!("{name}: {}", show(steps));
    let comparable = findings.compare(
        known,
        "smtp",
        &session,
        &theirs.labels,
        &theirs.answers,
        &ours.answers,
    );
    // Stored: ours is on disk before its 250; Postfix delivers from its queue, so wait
    // (bounded) for the copies it accepted, also when the sessions are not compared,
    // so that none arrives during the next one.
    // A generated session's messages carry its number in their Message-ID (see
    // `tagged`): a copy Postfix delivers late, during a later session, is not counted
    // there.
    let own = |m: &Vec<u8>| {
        let text = String::from_utf8_lossy(m);
        match text.split("Message-ID: <g").nth(1) {
            Some(rest) if rest.contains("-generated") => name
                .strip_prefix("generated #")
                .is_some_and(|i| rest.starts_with(&format!("{i}-"))),
            _ => true,
        }
    };
    let mine = |all: Vec<Vec<u8>>| -> Vec<Vec<u8>> { all.into_iter().filter(own).collect() };
    let ours_new = mine(new_messages(&before_ours, stored_under(&ours_root)));
    let deadline = Instant::now() + DELIVERY_LIMIT;
    let theirs_new = loop {
        let got = mine(new_messages(&before_theirs, stored_under(postfix_root)));
        if got.len() >= theirs.copies || Instant::now() >= deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !comparable {
        return;
    }
    if theirs_new != ours_new {
        let describe = |m: &[Vec<u8>]| format!("{} messages", m.len());
        if !findings.explain(
            known,
            "smtp",
            "stored",
            &describe(&theirs_new),
            &describe(&ours_new),
        ) {
            findings.unexplained.push(format!(
                "smtp stored: reference {} ours {}:\n  reference {:?}\n  ours {:?}\n  in {session}",
                describe(&theirs_new),
                describe(&ours_new),
                theirs_new
                    .iter()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .collect::<Vec<_>>(),
                ours_new
                    .iter()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .collect::<Vec<_>>(),
            ));
        }
    }
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <alice@example.org>\r\nTo: <bob@mx.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\nDate: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\n{body}"
    )
    .into_bytes()
}

fn cmd(s: &str) -> Step {
    Step::Cmd(s.to_string())
}

/// The hand-written SMTP scenarios.
fn smtp_scenarios() -> Vec<(&'static str, Vec<Step>)> {
    let ehlo = || cmd("EHLO client.example");
    let tx = |body: Vec<u8>| {
        vec![
            ehlo(),
            cmd("MAIL FROM:<alice@example.org>"),
            cmd("RCPT TO:<bob@mx.test>"),
            Step::Data(body),
        ]
    };
    let long = "x".repeat(1100);
    vec![
        ("a plain transaction", tx(message("plain", "hello\r\n"))),
        (
            "dot-stuffed lines",
            tx(message("dots", "..leading dot\r\n...two\r\n.x\r\nend\r\n")),
        ),
        ("an empty body", tx(Vec::new())),
        (
            "two recipients",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org>"),
                cmd("RCPT TO:<bob@mx.test>"),
                cmd("RCPT TO:<carol@mx.test>"),
                Step::Data(message("two", "to both\r\n")),
            ],
        ),
        (
            "the null sender",
            vec![
                ehlo(),
                cmd("MAIL FROM:<>"),
                cmd("RCPT TO:<bob@mx.test>"),
                Step::Data(message("bounce", "a bounce\r\n")),
            ],
        ),
        (
            "pipelined transaction",
            vec![
                ehlo(),
                Step::Pipelined(vec![
                    "MAIL FROM:<alice@example.org>".into(),
                    "RCPT TO:<bob@mx.test>".into(),
                    "RCPT TO:<dave@mx.test>".into(),
                ]),
                Step::Data(message("pipelined", "p\r\n")),
            ],
        ),
        (
            "BDAT in two chunks",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org>"),
                cmd("RCPT TO:<bob@mx.test>"),
                Step::Bdat(message("bdat", "first chunk\r\n"), false),
                Step::Bdat(b"second chunk\r\n".to_vec(), true),
            ],
        ),
        (
            "BDAT LAST with an empty chunk",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org>"),
                cmd("RCPT TO:<bob@mx.test>"),
                Step::Bdat(message("bdat0", "one\r\n"), false),
                Step::Bdat(Vec::new(), true),
            ],
        ),
        (
            "MAIL before EHLO",
            vec![cmd("MAIL FROM:<alice@example.org>"), cmd("RSET")],
        ),
        ("HELO then a transaction", {
            let mut s = vec![cmd("HELO client.example")];
            s.extend(tx(message("helo", "hi\r\n")).into_iter().skip(1));
            s
        }),
        (
            "RCPT before MAIL, DATA before RCPT",
            vec![
                ehlo(),
                cmd("RCPT TO:<bob@mx.test>"),
                cmd("MAIL FROM:<alice@example.org>"),
                Step::Data(Vec::new()),
            ],
        ),
        (
            "a second MAIL in one transaction",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org>"),
                cmd("MAIL FROM:<alice@example.org>"),
            ],
        ),
        (
            "RSET and NOOP everywhere",
            vec![
                cmd("NOOP"),
                cmd("RSET"),
                ehlo(),
                cmd("NOOP"),
                cmd("MAIL FROM:<alice@example.org>"),
                cmd("RSET"),
                cmd("RCPT TO:<bob@mx.test>"),
                cmd("NOOP with an argument"),
            ],
        ),
        (
            "odd case and spacing",
            vec![
                cmd("ehlo client.example"),
                cmd("mail from:<alice@example.org>"),
                cmd("rcpt TO:<bob@mx.test>"),
                cmd("rSeT"),
                cmd("MAIL FROM: <alice@example.org>"),
                cmd("RSET"),
                cmd("MAIL FROM:alice@example.org"),
            ],
        ),
        (
            "unknown commands and an empty line",
            vec![ehlo(), cmd("FOO bar"), cmd(""), cmd("NOOP")],
        ),
        (
            "an over-long command line",
            vec![ehlo(), cmd(&format!("NOOP {long}")), cmd("NOOP")],
        ),
        (
            "an over-long address",
            vec![
                ehlo(),
                cmd(&format!("MAIL FROM:<{}@example.org>", "a".repeat(300))),
            ],
        ),
        (
            "bad parameters",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org> BOGUS=1"),
                cmd("MAIL FROM:<alice@example.org> SIZE=abc"),
                cmd("MAIL FROM:<alice@example.org> BODY=9BIT"),
                cmd("MAIL FROM:<alice@example.org> SIZE=100 BODY=8BITMIME"),
                cmd("RCPT TO:<bob@mx.test> BOGUS=1"),
                cmd("RCPT TO:<bob@mx.test> NOTIFY=NEVER"),
            ],
        ),
        (
            "a size over the limit",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org> SIZE=999999999999"),
            ],
        ),
        ("EHLO without a domain", vec![cmd("EHLO"), cmd("HELO")]),
        (
            "VRFY, EXPN, HELP",
            vec![ehlo(), cmd("VRFY bob"), cmd("EXPN list"), cmd("HELP")],
        ),
        ("STARTTLS not offered", vec![ehlo(), cmd("STARTTLS")]),
        (
            "a bare LF in the body (smuggling)",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org>"),
                cmd("RCPT TO:<bob@mx.test>"),
                cmd("DATA"),
                Step::Raw(
                    "end of data".into(),
                    b"Subject: s\r\n\r\nline\n.\nMAIL FROM:<evil@example.org>\r\n.\r\n".to_vec(),
                    1,
                ),
            ],
        ),
        (
            "Postmaster without a domain",
            vec![
                ehlo(),
                cmd("MAIL FROM:<alice@example.org>"),
                cmd("RCPT TO:<Postmaster>"),
            ],
        ),
        (
            "SMTPUTF8 address",
            vec![
                ehlo(),
                cmd("MAIL FROM:<jörg@example.org> SMTPUTF8"),
                cmd("RCPT TO:<bob@mx.test>"),
                Step::Data(message("utf8", "grüße\r\n")),
            ],
        ),
    ]
}

fn smtp_step() -> impl Strategy<Value = Step> {
    let lines = prop::sample::select(vec![
        "EHLO client.example",
        "HELO client.example",
        "MAIL FROM:<alice@example.org>",
        "MAIL FROM:<>",
        "mail from:<Alice@Example.org>",
        "MAIL FROM:<alice@example.org> SIZE=100",
        "MAIL FROM:<alice@example.org> BODY=8BITMIME",
        "MAIL FROM:<alice@example.org> BOGUS=1",
        "MAIL FROM:alice@example.org",
        "RCPT TO:<bob@mx.test>",
        "RCPT TO:<erin@mx.test>",
        "rcpt to:<Frank@mx.test>",
        "RCPT TO:<bob@mx.test> NOTIFY=NEVER",
        "RCPT TO:<>",
        "RCPT TO:bob@mx.test",
        "RSET",
        "NOOP",
        "VRFY bob",
        "HELP",
        "FOO",
        "",
    ]);
    prop_oneof![
        6 => lines.prop_map(|l| Step::Cmd(l.to_string())),
        1 => Just(Step::Data(message("generated", "generated body\r\n..dot\r\n"))),
        1 => Just(Step::Bdat(message("generated-bdat", "chunk\r\n"), true)),
        1 => Just(Step::Pipelined(vec![
            "MAIL FROM:<alice@example.org>".into(),
            "RCPT TO:<bob@mx.test>".into(),
        ])),
    ]
}

/// `count` values of `strategy` drawn from the fixed seed: the same on every run.
fn generated<T: std::fmt::Debug>(
    strategy: impl Strategy<Value = Vec<T>>,
    count: usize,
) -> Vec<Vec<T>> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &SEED),
    );
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Serialises the two tests: both start servers and fill the machine's two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Generated session `i`'s steps, its messages' Message-IDs carrying `i`
/// (`<g{i}-generated...>`), so each session counts only its own deliveries.
fn tagged(steps: &[Step], i: usize) -> Vec<Step> {
    let tag = |body: &[u8]| {
        String::from_utf8_lossy(body)
            .replace(
                "Message-ID: <generated",
                &format!("Message-ID: <g{i}-generated"),
            )
            .into_bytes()
    };
    steps
        .iter()
        .map(|step| match step {
            Step::Data(body) => Step::Data(tag(body)),
            Step::Bdat(body, last) => Step::Bdat(tag(body), *last),
            other => other.clone(),
        })
        .collect()
}

#[test]
fn smtp_answers_match_postfix() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let test = "smtp_answers_match_postfix";
    let Some(postfix) = Postfix::start(test, &PostfixOptions::default()) else {
        return;
    };
    let users: Vec<(String, String)> = ["bob", "carol", "dave", "erin", "frank", "postmaster"]
        .iter()
        .map(|u| (u.to_string(), "pw".to_string()))
        .collect();
    let serve = Serve::start(&users);
    let postfix_root = postfix.maildir("bob").parent().unwrap().to_path_buf();
    let known = load_known();
    let mut findings = Findings::default();
    for (name, steps) in smtp_scenarios() {
        smtp_session(
            &mut findings,
            &known,
            &postfix,
            &postfix_root,
            &serve,
            name,
            &steps,
        );
    }
    let sessions = generated(prop::collection::vec(smtp_step(), 1..12), GENERATED);
    for (i, steps) in sessions.iter().enumerate() {
        let mut steps = tagged(steps, i);
        steps.insert(0, cmd("EHLO client.example"));
        smtp_session(
            &mut findings,
            &known,
            &postfix,
            &postfix_root,
            &serve,
            &format!("generated #{i}"),
            &steps,
        );
    }
    findings.report("smtp", &known);
}

/// The STARTTLS sessions (RFC 3207), with AUTH (RFC 4954) before and after it. Both
/// servers present the same certificate, offer AUTH PLAIN and LOGIN, and know `bob` and
/// `carol` (password `pw`).
fn smtp_tls_scenarios() -> Vec<(&'static str, Vec<Step>)> {
    const PLAIN: &str = "AUTH PLAIN AGJvYgBwdw=="; // \0bob\0pw
    let mail = || {
        vec![
            cmd("MAIL FROM:<bob@mx.test>"),
            cmd("RCPT TO:<carol@mx.test>"),
            Step::Data(message("tls", "over TLS\r\n")),
        ]
    };
    let ehlo = || cmd("EHLO client.example");
    let mut after_auth = vec![ehlo(), Step::StartTls, ehlo(), cmd(PLAIN)];
    after_auth.extend(mail());
    let mut no_auth = vec![ehlo(), Step::StartTls, ehlo()];
    no_auth.extend(mail());
    vec![
        ("STARTTLS, EHLO, AUTH PLAIN, a message", after_auth),
        ("STARTTLS, EHLO, a message without AUTH", no_auth),
        ("AUTH PLAIN before STARTTLS", vec![ehlo(), cmd(PLAIN)]),
        (
            "AUTH LOGIN before STARTTLS",
            vec![ehlo(), cmd("AUTH LOGIN")],
        ),
        (
            "a wrong password after STARTTLS",
            vec![
                ehlo(),
                Step::StartTls,
                ehlo(),
                cmd("AUTH PLAIN AGJvYgB3cm9uZw=="),
            ],
        ),
        (
            "STARTTLS twice",
            vec![ehlo(), Step::StartTls, ehlo(), cmd("STARTTLS")],
        ),
        ("STARTTLS before EHLO", vec![Step::StartTls, ehlo()]),
        (
            "STARTTLS with a parameter",
            vec![ehlo(), cmd("STARTTLS now")],
        ),
        (
            "STARTTLS inside a transaction",
            vec![
                ehlo(),
                cmd("MAIL FROM:<bob@mx.test>"),
                Step::StartTls,
                ehlo(),
            ],
        ),
        (
            "AUTH twice after STARTTLS",
            vec![ehlo(), Step::StartTls, ehlo(), cmd(PLAIN), cmd(PLAIN)],
        ),
    ]
}

#[test]
fn smtp_tls_answers_match_postfix() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let test = "smtp_tls_answers_match_postfix";
    let (cert, key) = tls_pair();
    let users: Vec<(String, String)> = ["bob", "carol"]
        .iter()
        .map(|u| (u.to_string(), "pw".to_string()))
        .collect();
    let options = PostfixOptions {
        tls: Some((cert.clone(), key.clone())),
        users: users.clone(),
        ..PostfixOptions::default()
    };
    let Some(postfix) = Postfix::start(test, &options) else {
        return;
    };
    let serve = Serve::start_tls(&users, Some((cert, key)));
    // TLS must come up with both, or every session would agree on a closed connection.
    for addr in [SocketAddr::from(([127, 0, 0, 1], postfix.port)), serve.smtp] {
        let steps = [cmd("EHLO client.example"), Step::StartTls, cmd("NOOP")];
        let played = play_smtp_answers(addr, &steps);
        let tls = played.labels.iter().position(|l| l == "TLS");
        let after = tls.and_then(|i| played.answers.get(i..i + 2));
        assert!(
            matches!(after, Some([Answer::Smtp(220, ..), Answer::Smtp(250, ..)])),
            "STARTTLS with {addr}: {:?}",
            played.answers
        );
    }
    let postfix_root = postfix.maildir("bob").parent().unwrap().to_path_buf();
    let known = load_known();
    let mut findings = Findings::default();
    for (name, steps) in smtp_tls_scenarios() {
        smtp_session(
            &mut findings,
            &known,
            &postfix,
            &postfix_root,
            &serve,
            name,
            &steps,
        );
    }
    findings.report("smtp", &known);
}

// ---------------------------------------------------------------------------------------
// POP3

/// The commands whose `+OK` has a multi-line body, and how it is compared.
fn pop3_body_kind(line: &str) -> Option<fn(Vec<String>) -> Body> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("").to_ascii_uppercase();
    let args = words.count();
    match (verb.as_str(), args) {
        ("CAPA", _) => Some(|l| Body::Count(usize::from(!l.is_empty()))),
        ("UIDL", 0) => Some(|l| Body::Count(l.len())),
        ("LIST", 0) | ("TOP", _) | ("RETR", _) => Some(Body::Lines),
        _ => None,
    }
}

fn pop3_answer(r: &mut BufReader<Conn>, body: Option<fn(Vec<String>) -> Body>) -> Answer {
    let first = match read_line(r) {
        Ok(Some(line)) => line,
        Ok(None) => return Answer::Closed,
        Err(()) => return Answer::Silent,
    };
    let ok = first.starts_with("+OK");
    let code = first
        .split_whitespace()
        .nth(1)
        .filter(|w| w.starts_with('[') && w.ends_with(']'))
        .map(|w| w.trim_matches(['[', ']']).to_string());
    let body = match body {
        Some(kind) if ok => {
            let mut lines = Vec::new();
            loop {
                match read_line(r) {
                    Ok(Some(line)) if line == "." => break,
                    Ok(Some(line)) => lines.push(line),
                    Ok(None) => return Answer::Closed,
                    Err(()) => return Answer::Silent,
                }
            }
            kind(lines)
        }
        _ => Body::None,
    };
    Answer::Pop3(ok, code, body, first)
}

/// Play POP3 command lines (`None`: drop the connection there, without QUIT).
fn play_pop3(addr: SocketAddr, lines: &[Option<String>]) -> (Vec<String>, Vec<Answer>) {
    let mut r = connect(addr);
    let mut labels = vec!["greeting".to_string()];
    let mut answers = vec![pop3_answer(&mut r, None)];
    for line in lines {
        let Some(line) = line else { break };
        if !answers.last().is_some_and(Answer::open) {
            break;
        }
        let _ = r.get_mut().write_all(format!("{line}\r\n").as_bytes());
        labels.push(verb(line));
        let answer = pop3_answer(&mut r, pop3_body_kind(line));
        let go = verb(line) == "STLS" && matches!(answer, Answer::Pop3(true, ..));
        answers.push(answer);
        if go {
            // RFC 2595 §4: the TLS negotiation begins after the +OK.
            labels.push("TLS".into());
            answers.push(if upgrade(&mut r) {
                Answer::Pop3(true, None, Body::None, "TLS established".into())
            } else {
                Answer::Closed
            });
        }
        if verb(line) == "QUIT" {
            break;
        }
    }
    (labels, answers)
}

const POP3_MESSAGES: [&str; 3] = [
    "From: <a@example.org>\r\nSubject: one\r\n\r\nfirst\r\nsecond line\r\n",
    "From: <b@example.org>\r\nSubject: two\r\n\r\n.starts with a dot\r\n\r\nafter a blank line\r\n",
    "From: <c@example.org>\r\nSubject: three\r\nX-Long: a\r\n b\r\n\r\n1\r\n2\r\n3\r\n4\r\n",
];

/// The messages left in a maildrop (contents, sorted).
fn maildrop(root: &Path) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = ["new", "cur"]
        .iter()
        .filter_map(|s| fs::read_dir(root.join(s)).ok())
        .flatten()
        .flatten()
        .filter_map(|e| fs::read(e.path()).ok())
        .collect();
    out.sort();
    out
}

fn pop3_session(
    findings: &mut Findings,
    known: &[Known],
    dovecot: &Dovecot,
    serve: &Serve,
    user: &str,
    name: &str,
    lines: &[Option<String>],
) {
    for (i, m) in POP3_MESSAGES.iter().enumerate() {
        let file = format!("170000000{i}.M{i}P1.test");
        dovecot.deliver(user, &file, m.as_bytes());
        let dir = serve.maildir(user).join("new");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(&file), m).unwrap();
    }
    let lines: Vec<Option<String>> = lines
        .iter()
        .map(|l| l.as_ref().map(|l| l.replace("{user}", user)))
        .collect();
    let (labels, theirs) = play_pop3(SocketAddr::from(([127, 0, 0, 1], dovecot.port)), &lines);
    let (_, ours) = play_pop3(serve.pop3, &lines);
    let session = format!("{name} as {user}: {lines:?}");
    if !findings.compare(known, "pop3", &session, &labels, &theirs, &ours) {
        return;
    }
    // What is left: the server has finished with the maildrop once it answered QUIT or
    // saw the close; wait (bounded) for the two to agree, as Dovecot's UPDATE runs
    // after its answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (t, o) = (
            maildrop(&dovecot.maildir(user)),
            maildrop(&serve.maildir(user)),
        );
        if t == o {
            break;
        }
        if Instant::now() >= deadline {
            let describe = |m: &[Vec<u8>]| format!("{} left", m.len());
            if !findings.explain(known, "pop3", "maildrop", &describe(&t), &describe(&o)) {
                findings.unexplained.push(format!(
                    "pop3 maildrop: reference {} ours {}\n  in {session}",
                    describe(&t),
                    describe(&o)
                ));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pop3_scenarios() -> Vec<(&'static str, Vec<Option<String>>)> {
    let s = |v: &[&str]| v.iter().map(|l| Some(l.to_string())).collect::<Vec<_>>();
    let login = ["USER {user}", "PASS pw"];
    let after_login = |rest: &[&str]| {
        let mut v = s(&login);
        v.extend(s(rest));
        v
    };
    vec![
        (
            "every command once",
            after_login(&[
                "STAT", "LIST", "LIST 2", "UIDL 1", "TOP 1 0", "TOP 2 1", "RETR 2", "NOOP", "QUIT",
            ]),
        ),
        (
            "arguments out of range",
            after_login(&[
                "LIST 0", "LIST 4", "LIST x", "TOP 9 1", "TOP 1", "TOP 1 x", "RETR 0", "RETR 4",
                "DELE 9", "UIDL 7", "QUIT",
            ]),
        ),
        (
            "deleted messages vanish from the listings",
            after_login(&[
                "DELE 1", "DELE 1", "STAT", "LIST", "LIST 1", "RETR 1", "TOP 1 0", "UIDL 1",
                "RSET", "STAT", "QUIT",
            ]),
        ),
        ("DELE then QUIT removes", after_login(&["DELE 2", "QUIT"])),
        ("DELE then a dropped connection keeps", {
            let mut v = after_login(&["DELE 2", "DELE 3"]);
            v.push(None);
            v
        }),
        (
            "transaction commands before login",
            s(&[
                "STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "UIDL", "TOP 1 1", "QUIT",
            ]),
        ),
        (
            "PASS before USER, a wrong password, then right",
            s(&[
                "PASS pw",
                "USER {user}",
                "PASS wrong",
                "USER {user}",
                "PASS pw",
                "STAT",
                "QUIT",
            ]),
        ),
        (
            "USER twice",
            s(&["USER {user}", "USER {user}", "PASS pw", "QUIT"]),
        ),
        (
            "a user that does not exist",
            s(&["USER nobody-here", "PASS pw", "QUIT"]),
        ),
        (
            "login commands after login",
            after_login(&["USER {user}", "PASS pw", "APOP a b", "STAT", "QUIT"]),
        ),
        ("CAPA in both states", {
            let mut v = s(&["CAPA"]);
            v.extend(after_login(&["CAPA", "QUIT"]));
            v
        }),
        (
            "odd case and spacing",
            s(&[
                "user {user}",
                "pAsS pw",
                "stat",
                "list  1",
                "LIST 1 2",
                "retr 1",
                "QUIT",
            ]),
        ),
        (
            "unknown and empty commands",
            after_login(&["FOO", "", "XTND XLST", "NOOP", "QUIT"]),
        ),
        (
            "an over-long line",
            after_login(&[&"NOOP ".repeat(60), "STAT", "QUIT"]),
        ),
        ("QUIT in AUTHORIZATION", s(&["USER {user}", "QUIT"])),
    ]
}

fn pop3_line() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        20 => prop::sample::select(vec![
            "STAT", "LIST", "LIST 1", "LIST 3", "LIST 5", "UIDL", "UIDL 2", "TOP 1 0",
            "TOP 3 2", "TOP 4 1", "RETR 1", "RETR 2", "RETR 5", "DELE 1", "DELE 2", "DELE 3",
            "DELE 7", "RSET", "NOOP", "CAPA", "stat", "FOO", "USER {user}", "PASS pw", "",
        ])
        .prop_map(|l| Some(l.to_string())),
        1 => Just(None),
    ]
}

#[test]
fn pop3_answers_match_dovecot() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let test = "pop3_answers_match_dovecot";
    let scenarios = pop3_scenarios();
    let sessions = generated(prop::collection::vec(pop3_line(), 1..14), GENERATED);
    let users: Vec<(String, String)> = (0..scenarios.len() + sessions.len())
        .map(|i| (format!("u{i}"), "pw".to_string()))
        .collect();
    let user_refs: Vec<(&str, &str)> = users
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    let cert = mailproto_std::tls::SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let Some(dovecot) = Dovecot::start_with(
        test,
        &user_refs,
        &cert.cert_pem,
        &cert.key_pem,
        "auth_failure_delay = 0\n",
    ) else {
        return;
    };
    let serve = Serve::start(&users);
    let known = load_known();
    let mut findings = Findings::default();
    let mut users = users.iter().map(|(u, _)| u.as_str());
    for (name, lines) in &scenarios {
        pop3_session(
            &mut findings,
            &known,
            &dovecot,
            &serve,
            users.next().unwrap(),
            name,
            lines,
        );
    }
    for (i, generated_lines) in sessions.iter().enumerate() {
        let mut lines = vec![Some("USER {user}".to_string()), Some("PASS pw".to_string())];
        lines.extend(generated_lines.iter().cloned());
        if lines.last().is_some_and(Option::is_some) {
            lines.push(Some("QUIT".into()));
        }
        pop3_session(
            &mut findings,
            &known,
            &dovecot,
            &serve,
            users.next().unwrap(),
            &format!("generated #{i}"),
            &lines,
        );
    }
    findings.report("pop3", &known);
}

/// The STLS sessions (RFC 2595 §4), with logins before and after it.
fn pop3_stls_scenarios() -> Vec<(&'static str, Vec<Option<String>>)> {
    let s = |lines: &[&str]| lines.iter().map(|l| Some(l.to_string())).collect();
    vec![
        (
            "STLS, then a login and RETR",
            s(&[
                "CAPA",
                "STLS",
                "CAPA",
                "USER {user}",
                "PASS pw",
                "STAT",
                "RETR 1",
                "QUIT",
            ]),
        ),
        (
            "a login before STLS",
            s(&["USER {user}", "PASS pw", "QUIT"]),
        ),
        ("STLS twice", s(&["STLS", "STLS", "QUIT"])),
        (
            "STLS after the login",
            s(&["STLS", "USER {user}", "PASS pw", "STLS", "QUIT"]),
        ),
        ("STLS with an argument", s(&["STLS now", "QUIT"])),
        ("STLS after USER", s(&["USER {user}", "STLS", "QUIT"])),
    ]
}

#[test]
fn pop3_stls_answers_match_dovecot() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let test = "pop3_stls_answers_match_dovecot";
    let scenarios = pop3_stls_scenarios();
    let users: Vec<(String, String)> = (0..scenarios.len())
        .map(|i| (format!("t{i}"), "pw".to_string()))
        .collect();
    let user_refs: Vec<(&str, &str)> = users
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    let (cert, key) = tls_pair();
    let Some(dovecot) =
        Dovecot::start_with(test, &user_refs, cert, key, "auth_failure_delay = 0\n")
    else {
        return;
    };
    let serve = Serve::start_tls(&users, Some((cert, key)));
    // TLS must come up with both, or every session would agree on a closed connection.
    for addr in [SocketAddr::from(([127, 0, 0, 1], dovecot.port)), serve.pop3] {
        let (labels, answers) = play_pop3(addr, &[Some("STLS".into()), Some("CAPA".into())]);
        let tls = labels.iter().position(|l| l == "TLS");
        let after = tls.and_then(|i| answers.get(i..i + 2));
        assert!(
            matches!(
                after,
                Some([Answer::Pop3(true, ..), Answer::Pop3(true, ..)])
            ),
            "STLS with {addr}: {answers:?}"
        );
    }
    let known = load_known();
    let mut findings = Findings::default();
    for ((name, lines), (user, _)) in scenarios.iter().zip(&users) {
        pop3_session(&mut findings, &known, &dovecot, &serve, user, name, lines);
    }
    findings.report("pop3", &known);
}

// ---------------------------------------------------------------------------------------
// The list and its page

/// The table docs/conformance.md shows between its markers.
fn rendered(known: &[Known]) -> String {
    let mut out = String::new();
    for protocol in ["smtp", "pop3"] {
        let (name, reference) = match protocol {
            "smtp" => ("SMTP", "Postfix"),
            _ => ("POP3", "Dovecot"),
        };
        let _ = writeln!(out, "\n### {name}: against {reference}\n");
        let _ = writeln!(out, "| step | {reference} | mailproto | why |");
        let _ = writeln!(out, "|---|---|---|---|");
        for k in known.iter().filter(|k| k.protocol == protocol) {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | `{}` | {} |",
                k.step, k.theirs, k.ours, k.why
            );
        }
    }
    out
}

#[test]
fn conformance_doc_lists_every_known_difference() {
    let known = load_known();
    for k in &known {
        assert!(
            ["smtp", "pop3"].contains(&k.protocol.as_str()),
            "unknown protocol {:?}",
            k.protocol
        );
        assert!(!k.why.is_empty(), "no reason for {k:?}");
    }
    let (begin, end) = ("<!-- differences:begin -->", "<!-- differences:end -->");
    let doc = fs::read_to_string(CONFORMANCE_DOC).expect("read docs/conformance.md");
    let (head, rest) = doc.split_once(begin).expect("the begin marker");
    let (_, tail) = rest.split_once(end).expect("the end marker");
    let want = format!("{head}{begin}\n{}\n{end}{tail}", rendered(&known));
    if doc != want {
        if std::env::var_os("MAILPROTO_WRITE_CONFORMANCE").is_some() {
            fs::write(CONFORMANCE_DOC, want).unwrap();
        } else {
            panic!(
                "docs/conformance.md does not show conformance/differences.txt; rewrite it \
                 with MAILPROTO_WRITE_CONFORMANCE=1 cargo test -p mailproto-cli --test \
                 differential conformance_doc"
            );
        }
    }
}
