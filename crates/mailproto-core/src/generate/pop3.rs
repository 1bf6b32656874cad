//! Generators of POP3 values and sessions (RFC 1939, RFC 2449, RFC 5034, RFC 6856).
//!
//! Every command, status line and response encodes with its own `encode` and parses
//! back, under [`limits`], to an equal value.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;

use super::script::{Pop3Script, Pop3Step};
use super::{Alphabet, PRINTABLE, Source, between, char_of, one_in, pick, some, text, weighted};
use crate::pop3::table;
use crate::pop3::{Command, Limits, Response, ResponseCode, Secret, Status, StatusIndicator};
use crate::time::Duration;

/// A token: printable ASCII without space, and Latin letters beyond ASCII.
const TOKEN: Alphabet = &[('a', 'z'), ('!', '~'), ('\u{a0}', '\u{17f}')];
const PASSWORD: Alphabet = &[('a', 'z'), (' ', '~'), ('\u{e0}', '\u{ff}')];
const MECHANISM: Alphabet = &[('A', 'Z'), ('0', '9'), ('-', '-'), ('_', '_')];
const BASE64: Alphabet = &[('A', 'Z'), ('a', 'z'), ('0', '9'), ('+', '+'), ('/', '/')];
const HEX: Alphabet = &[('0', '9'), ('a', 'f')];
/// `rchar` of a response code level (RFC 2449 §3), without `/` and `]`.
const RCHAR: Alphabet = &[('A', 'Z'), ('!', '.'), ('0', '\\'), ('^', '~')];
/// Status text after its first character.
const STATUS_TEXT: Alphabet = &[('a', 'z'), (' ', '~'), ('\u{e0}', '\u{ff}')];

/// The limits the generated values parse back under: every line may be as long as it
/// likes (the generators keep them short, but a user's maximum is not theirs to know).
pub fn limits() -> Limits {
    Limits {
        command_line: usize::MAX,
        credential_line: usize::MAX,
        status_line: usize::MAX,
        continuation_line: usize::MAX,
        capability_line: usize::MAX,
    }
}

fn token(s: &mut impl Source) -> String {
    text(s, TOKEN, 1, 20)
}

fn msg(s: &mut impl Source) -> u32 {
    if one_in(s, 4) {
        1 + s.choose(u64::from(u32::MAX)) as u32
    } else {
        between(s, 1, 20) as u32
    }
}

fn mechanism(s: &mut impl Source) -> String {
    if one_in(s, 4) {
        text(s, MECHANISM, 1, 20)
    } else {
        pick(s, &["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]).into()
    }
}

fn base64_text(s: &mut impl Source) -> String {
    let mut b64 = text(s, BASE64, 1, 60);
    (0..s.choose(3)).for_each(|_| b64.push('='));
    b64
}

/// Any command of [`Command`], known keywords and unknown ones, with their arguments
/// (the simplest is `NOOP`).
pub fn command(s: &mut impl Source) -> Command {
    match weighted(
        s,
        &[1, 2, 2, 1, 2, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 2, 2, 1, 1],
    ) {
        0 => Command::Noop,
        1 => Command::User(token(s)),
        2 => Command::Pass(Secret::from(text(s, PASSWORD, 0, 40))),
        3 => Command::Apop {
            name: token(s),
            digest: text(s, HEX, 32, 32),
        },
        4 => Command::Auth {
            mechanism: mechanism(s),
            initial_response: match weighted(s, &[2, 1, 2]) {
                0 => None,
                1 => Some(Secret::from(String::new())),
                _ => Some(Secret::from(base64_text(s))),
            },
        },
        5 => Command::AuthList,
        6 => Command::Stls,
        7 => Command::Capa,
        8 => Command::Utf8,
        9 => Command::Stat,
        10 => Command::List(one_in(s, 2).then(|| msg(s))),
        11 => Command::Retr(msg(s)),
        12 => Command::Dele(msg(s)),
        13 => Command::Rset,
        14 => Command::Quit,
        15 => Command::Top {
            msg: msg(s),
            lines: if one_in(s, 4) {
                s.choose(1 << 32) as u32
            } else {
                s.choose(10) as u32
            },
        },
        16 => Command::Uidl(one_in(s, 2).then(|| msg(s))),
        17 => Command::Lang(one_in(s, 2).then(|| token(s))),
        _ => {
            let mut keyword = text(s, &[('X', 'X'), ('!', '~')], 3, 4);
            while table::lookup(keyword.as_bytes()).is_some() {
                keyword.replace_range(..1, "X");
                if table::lookup(keyword.as_bytes()).is_some() {
                    keyword = String::from("XYZ");
                }
            }
            Command::Unknown {
                keyword,
                args: some(s, 3, token),
            }
        }
    }
}

/// An extended response code (RFC 2449 §8, RFC 3206): one of those the crate names, or
/// another of one to three levels.
pub fn response_code(s: &mut impl Source) -> ResponseCode {
    match s.choose(7) {
        0 => ResponseCode::InUse,
        1 => ResponseCode::LoginDelay,
        2 => ResponseCode::SysTemp,
        3 => ResponseCode::SysPerm,
        4 => ResponseCode::Auth,
        5 => ResponseCode::Utf8,
        _ => {
            let mut code = text(s, &[('A', 'Z'), ('0', '9'), ('-', '-')], 1, 8);
            for _ in 0..s.choose(3) {
                code.push('/');
                code.push_str(&text(s, RCHAR, 1, 8));
            }
            let first = code.split('/').next().unwrap_or_default();
            let known = ["IN-USE", "LOGIN-DELAY", "AUTH", "UTF8", "SYS"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(first));
            if known {
                code.insert(0, 'X');
            }
            ResponseCode::Other(code)
        }
    }
}

/// A status line: `+OK` or `-ERR`, a response code now and then, and a text that does
/// not start with a space or `[` (which read back differently, as [`Status::encode`]
/// says).
pub fn status(s: &mut impl Source) -> Status {
    let indicator = if one_in(s, 3) {
        StatusIndicator::Err
    } else {
        StatusIndicator::Ok
    };
    let code = one_in(s, 3).then(|| response_code(s));
    let text = if one_in(s, 6) {
        String::new()
    } else {
        let mut t = String::new();
        t.push(char_of(
            s,
            &[('a', 'z'), ('!', 'Z'), ('\\', '~'), ('\u{e0}', '\u{ff}')],
        ));
        t.push_str(&text(s, STATUS_TEXT, 0, 60));
        t
    };
    Status {
        indicator,
        code,
        text,
    }
}

/// A first line of a server answer: a status line, or (one in five) a SASL
/// continuation `+ challenge` (RFC 5034 §4).
pub fn response(s: &mut impl Source) -> Response {
    if one_in(s, 5) {
        Response::Continuation(text(s, PRINTABLE, 0, 80))
    } else {
        Response::Status(status(s))
    }
}

/// A command line that the parser refuses (without its CRLF, never holding CR or
/// LF): a missing or malformed argument, a keyword of the wrong length, a control
/// character, invalid UTF-8, an empty line.
pub fn invalid_line(s: &mut impl Source) -> Vec<u8> {
    let line: Vec<u8> = match s.choose(10) {
        0 => Vec::new(),
        1 => b"RETR".to_vec(),
        2 => [b"RETR ".as_slice(), text(s, &[('a', 'z')], 1, 6).as_bytes()].concat(),
        3 => b"DELE 0".to_vec(),
        4 => b"TOP 1".to_vec(),
        5 => b"STAT now".to_vec(),
        6 => [
            b"TOOLONG".as_slice(),
            text(s, &[('A', 'Z')], 0, 4).as_bytes(),
        ]
        .concat(),
        7 => b"NOOP \x01".to_vec(),
        8 => b"USER \xff\xfe".to_vec(),
        _ => b"LIST 1 2".to_vec(),
    };
    let refused = line.iter().all(|b| *b != b'\r' && *b != b'\n')
        && Command::parse(&line, &Limits::default()).is_err();
    if refused { line } else { b"RETR".to_vec() }
}

/// A pause between steps: mostly a few seconds, one in seven past the ten-minute
/// autologout of RFC 1939 §3.
pub fn pause(s: &mut impl Source) -> Duration {
    if one_in(s, 7) {
        Duration::from_secs(between(s, 601, 1200))
    } else {
        Duration::from_secs(between(s, 1, 30))
    }
}

/// The mailbox a generated POP3 session logs in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
    /// How many messages the maildrop holds: message numbers are mostly picked in
    /// `1..=messages`, sometimes one beyond.
    pub messages: u32,
}

impl Default for Account {
    /// `alice` / `secret`, with 3 messages.
    fn default() -> Self {
        Account {
            user: String::from("alice"),
            password: String::from("secret"),
            messages: 3,
        }
    }
}

impl Account {
    /// The AUTH PLAIN initial response of this account (RFC 4616), base64.
    pub fn plain_response(&self) -> String {
        let mut raw = Vec::new();
        raw.push(0);
        raw.extend_from_slice(self.user.as_bytes());
        raw.push(0);
        raw.extend_from_slice(self.password.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

fn step(c: Command) -> Pop3Step {
    Pop3Step::Command(c)
}

/// A client session against `account`: sometimes CAPA first; a login (USER and PASS
/// mostly right, sometimes a wrong password first, sometimes AUTH PLAIN, now and then
/// an APOP or random command that fails); up to 12 transaction commands (STAT, LIST,
/// UIDL, RETR, TOP, DELE, RSET, NOOP) with message numbers up to one beyond the
/// maildrop, the odd refused line, pause or random command; and QUIT (seven times in
/// eight; otherwise the connection just ends, and nothing may be deleted).
pub fn script(s: &mut impl Source, account: &Account) -> Pop3Script {
    let mut steps = Vec::new();
    if one_in(s, 3) {
        steps.push(step(Command::Capa));
    }
    let user = || Command::User(account.user.clone());
    let pass = || Command::Pass(Secret::from(account.password.clone()));
    match weighted(s, &[6, 1, 1, 1]) {
        0 => {
            steps.push(step(user()));
            steps.push(step(pass()));
        }
        1 => {
            steps.push(step(user()));
            let mut wrong = account.password.clone();
            wrong.push('x');
            steps.push(step(Command::Pass(Secret::from(wrong))));
            if !one_in(s, 3) {
                steps.push(step(user()));
                steps.push(step(pass()));
            }
        }
        2 => steps.push(step(Command::Auth {
            mechanism: String::from("PLAIN"),
            initial_response: Some(Secret::from(account.plain_response())),
        })),
        _ => steps.push(step(command(s))),
    }
    let top = u64::from(account.messages) + 1;
    let number = |s: &mut _| between(s, 1, top) as u32;
    for _ in 0..s.choose(13) {
        let c = match weighted(s, &[2, 2, 2, 3, 2, 3, 1, 1, 1, 1, 1]) {
            0 => Command::Stat,
            1 => Command::List((!one_in(s, 2)).then(|| number(s))),
            2 => Command::Uidl((!one_in(s, 2)).then(|| number(s))),
            3 => Command::Retr(number(s)),
            4 => Command::Top {
                msg: number(s),
                lines: s.choose(5) as u32,
            },
            5 => Command::Dele(number(s)),
            6 => Command::Rset,
            7 => Command::Noop,
            8 => {
                steps.push(Pop3Step::Raw(invalid_line(s)));
                continue;
            }
            9 => {
                steps.push(Pop3Step::Pause(pause(s)));
                continue;
            }
            _ => match command(s) {
                Command::Quit => Command::Noop,
                other => other,
            },
        };
        steps.push(step(c));
    }
    if !one_in(s, 8) {
        steps.push(step(Command::Quit));
    }
    Pop3Script { steps }
}
