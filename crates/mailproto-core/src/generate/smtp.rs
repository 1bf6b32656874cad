//! Generators of SMTP values and sessions (RFC 5321, ESMTP).
//!
//! Every value encodes with its own `encode` and parses back, under [`parse_config`],
//! to an equal value. Non-ASCII (which needs SMTPUTF8, RFC 6531) appears in about one
//! command in eight; the sessions of [`script`] are ASCII apart from the odd random
//! command.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::script::{SmtpScript, SmtpStep};
use super::{
    ALNUM, Alphabet, PRINTABLE, Source, between, char_of, one_in, pick, some, text, weighted,
};
use crate::smtp::table::Verb;
use crate::smtp::{
    AddressLiteral, AuthParam, Body, Command, Domain, EnhancedCode, ForwardPath, Host,
    InitialResponse, MailParams, Mailbox, Notify, Orcpt, Param, ParseConfig, RcptParams, Reply,
    ReplyCode, Ret, ReversePath,
};
use crate::time::Duration;

const LABEL: Alphabet = &[('a', 'z'), ('0', '9'), ('-', '-')];
const LABEL_UTF8: Alphabet = &[('a', 'z'), ('0', '9'), ('-', '-'), ('ü', 'ü'), ('é', 'é')];
const PRINTABLE_UTF8: Alphabet = &[('a', 'z'), (' ', '~'), ('é', 'é'), ('中', '中')];
const UPPER_DIGIT: Alphabet = &[('A', 'Z'), ('0', '9')];
/// `esmtp-value`: `%d33-60 / %d62-126` (no `=`).
const VALUE: Alphabet = &[('a', 'z'), ('!', '<'), ('>', '~')];
const VALUE_UTF8: Alphabet = &[('a', 'z'), ('!', '<'), ('>', '~'), ('é', 'é')];
/// `dcontent` of an address literal: `%d33-90 / %d94-126`.
const DCONTENT: Alphabet = &[('a', 'z'), ('!', 'Z'), ('^', '~')];
const MECHANISM: Alphabet = &[('A', 'Z'), ('0', '9'), ('-', '-'), ('_', '_')];
const BASE64: Alphabet = &[('A', 'Z'), ('a', 'z'), ('0', '9'), ('+', '+'), ('/', '/')];
const BODY_TEXT: Alphabet = &[('a', 'z'), (' ', '~')];

/// The parser configuration the generated values parse back under: SMTPUTF8 on
/// (RFC 6531) and command lines of up to 4096 octets; everything else the default.
pub fn parse_config() -> ParseConfig {
    let mut cfg = ParseConfig::default().with_smtputf8(true);
    cfg.limits.command_line = 4096;
    cfg
}

/// A domain of 1 to 3 labels of 1 to 8 letters, digits and inner hyphens; U-labels
/// (`ü`, `é`) when `utf8`.
pub fn domain(s: &mut impl Source, utf8: bool) -> Domain {
    let alphabet = if utf8 { LABEL_UTF8 } else { LABEL };
    let labels: Vec<String> = (0..between(s, 1, 3))
        .map(|_| {
            let mut label: Vec<char> = text(s, alphabet, 1, 8).chars().collect();
            for at in [0, label.len() - 1] {
                if label[at] == '-' {
                    label[at] = 'a';
                }
            }
            label.into_iter().collect()
        })
        .collect();
    let name = labels.join(".");
    Domain::new(&name).unwrap_or_else(|_| Domain::from_validated("a"))
}

/// An address literal: IPv4, IPv6 or a General-address-literal (RFC 5321 §4.1.3).
pub fn address_literal(s: &mut impl Source) -> AddressLiteral {
    match weighted(s, &[2, 2, 1]) {
        0 => AddressLiteral::Ipv4(Ipv4Addr::from(core::array::from_fn::<u8, 4, _>(|_| {
            s.choose(256) as u8
        }))),
        1 => AddressLiteral::Ipv6(Ipv6Addr::from(core::array::from_fn::<u16, 8, _>(|_| {
            s.choose(1 << 16) as u16
        }))),
        _ => {
            let mut tag: Vec<char> = text(s, LABEL, 1, 6).chars().collect();
            let last = tag.len() - 1;
            if tag[last] == '-' {
                tag[last] = 'x';
            }
            let mut tag: String = tag.into_iter().collect();
            if tag.eq_ignore_ascii_case("ipv6") {
                tag.push('x');
            }
            AddressLiteral::General {
                tag,
                content: text(s, DCONTENT, 1, 10),
            }
        }
    }
}

/// A domain (three times in four) or an address literal.
pub fn host(s: &mut impl Source, utf8: bool) -> Host {
    if one_in(s, 4) {
        Host::Literal(address_literal(s))
    } else {
        Host::Domain(domain(s, utf8))
    }
}

/// A mailbox: mostly a plain local part, sometimes one that needs quoting (spaces,
/// quotes, backslashes, an empty one), with UTF-8 when `utf8`.
pub fn mailbox(s: &mut impl Source, utf8: bool) -> Mailbox {
    let local_part = if one_in(s, 4) {
        text(s, if utf8 { PRINTABLE_UTF8 } else { PRINTABLE }, 0, 12)
    } else {
        text(s, ALNUM, 1, 8)
    };
    Mailbox {
        local_part,
        domain: host(s, utf8),
    }
}

fn param(s: &mut impl Source, utf8: bool) -> Param {
    let mut keyword = String::from("X-");
    keyword.push_str(&text(s, UPPER_DIGIT, 1, 6));
    let value = one_in(s, 2).then(|| text(s, if utf8 { VALUE_UTF8 } else { VALUE }, 1, 8));
    Param { keyword, value }
}

/// Up to two unknown `X-` parameters, no keyword twice.
fn others(s: &mut impl Source, utf8: bool) -> Vec<Param> {
    let mut v = some(s, 2, |s| param(s, utf8));
    let mut seen: Vec<String> = Vec::new();
    v.retain(|p| {
        let k = p.keyword.to_ascii_uppercase();
        let fresh = !seen.contains(&k);
        seen.push(k);
        fresh
    });
    v
}

fn size(s: &mut impl Source) -> u64 {
    if one_in(s, 4) {
        s.any_u64()
    } else {
        s.choose(100_000)
    }
}

/// MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 4954 AUTH,
/// RFC 3461 RET and ENVID, RFC 8689 REQUIRETLS, and unknown ones), each present now
/// and then.
pub fn mail_params(s: &mut impl Source) -> MailParams {
    let utf8 = one_in(s, 8);
    let printable = if utf8 { PRINTABLE_UTF8 } else { PRINTABLE };
    MailParams {
        size: one_in(s, 3).then(|| size(s)),
        body: one_in(s, 4)
            .then(|| pick(s, &[Body::SevenBit, Body::EightBitMime, Body::BinaryMime])),
        smtputf8: one_in(s, 6),
        auth: one_in(s, 6).then(|| match weighted(s, &[1, 1, 3]) {
            0 => AuthParam::Null,
            1 => AuthParam::Mailbox(String::from("<>")),
            _ => AuthParam::Mailbox(text(s, printable, 1, 12)),
        }),
        ret: one_in(s, 6).then(|| pick(s, &[Ret::Full, Ret::Hdrs])),
        envid: one_in(s, 6).then(|| text(s, PRINTABLE, 1, 12)),
        requiretls: one_in(s, 8),
        other: others(s, utf8),
    }
}

/// RCPT parameters (RFC 3461 NOTIFY and ORCPT, and unknown ones).
pub fn rcpt_params(s: &mut impl Source) -> RcptParams {
    let utf8 = one_in(s, 8);
    let notify = one_in(s, 4).then(|| match s.choose(8) {
        0 => Notify::Never,
        bits => Notify::On {
            success: bits & 1 != 0,
            failure: bits & 2 != 0,
            delay: bits & 4 != 0,
        },
    });
    let orcpt = one_in(s, 5).then(|| Orcpt {
        addr_type: if one_in(s, 3) {
            text(s, LABEL, 1, 8)
        } else {
            String::from("rfc822")
        },
        address: text(s, if utf8 { PRINTABLE_UTF8 } else { PRINTABLE }, 0, 12),
    });
    RcptParams {
        notify,
        orcpt,
        other: others(s, utf8),
    }
}

fn reverse_path(s: &mut impl Source, utf8: bool) -> ReversePath {
    if one_in(s, 5) {
        ReversePath::Null
    } else {
        ReversePath::Mailbox(mailbox(s, utf8))
    }
}

fn forward_path(s: &mut impl Source, utf8: bool) -> ForwardPath {
    if one_in(s, 6) {
        ForwardPath::Postmaster
    } else {
        ForwardPath::Mailbox(mailbox(s, utf8))
    }
}

fn opt_text(s: &mut impl Source, alphabet: Alphabet) -> Option<String> {
    one_in(s, 2).then(|| text(s, alphabet, 0, 16))
}

/// Any command of [`Command`], known verbs and unknown ones, with their arguments
/// (the simplest is `NOOP`).
pub fn command(s: &mut impl Source) -> Command {
    let utf8 = one_in(s, 8);
    let printable = if utf8 { PRINTABLE_UTF8 } else { PRINTABLE };
    match weighted(s, &[1, 1, 2, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1]) {
        0 => Command::Noop(opt_text(s, printable)),
        1 => Command::Helo(domain(s, utf8)),
        2 => Command::Ehlo(host(s, utf8)),
        3 => Command::Lhlo(host(s, utf8)),
        4 => Command::Mail {
            from: reverse_path(s, utf8),
            params: mail_params(s),
        },
        5 => Command::Rcpt {
            to: forward_path(s, utf8),
            params: rcpt_params(s),
        },
        6 => Command::Data,
        7 => Command::Bdat {
            size: size(s),
            last: one_in(s, 2),
        },
        8 => Command::Rset,
        9 => Command::Quit,
        10 => Command::Vrfy(text(s, printable, 0, 16)),
        11 => Command::Expn(text(s, printable, 0, 16)),
        12 => Command::Help(opt_text(s, printable)),
        13 => Command::StartTls,
        14 => {
            let mechanism = if one_in(s, 4) {
                text(s, MECHANISM, 1, 20)
            } else {
                pick(s, &["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]).into()
            };
            let initial_response = match weighted(s, &[2, 1, 2]) {
                0 => None,
                1 => Some(InitialResponse::Empty),
                _ => {
                    let mut b64 = text(s, BASE64, 1, 24);
                    (0..s.choose(3)).for_each(|_| b64.push('='));
                    Some(InitialResponse::Base64(b64))
                }
            };
            Command::Auth {
                mechanism,
                initial_response,
            }
        }
        _ => {
            let mut verb = String::new();
            verb.push(char_of(s, &[('X', 'X'), ('A', 'Z'), ('a', 'z')]));
            verb.push_str(&text(s, &[('A', 'Z'), ('a', 'z'), ('0', '9')], 0, 7));
            while Verb::parse(verb.as_bytes()).is_some() {
                verb.insert(0, 'X');
            }
            Command::Unknown {
                verb,
                args: opt_text(s, printable),
            }
        }
    }
}

/// A reply: any code of the RFC 5321 §4.2 grammar, an enhanced status code (RFC 3463)
/// on most non-3xx replies, 1 to 5 lines of text (never starting with a digit, which
/// would read as an enhanced code).
pub fn reply(s: &mut impl Source) -> Reply {
    let class = 2 + s.choose(4) as u16;
    let code = class * 100 + 10 * s.choose(6) as u16 + s.choose(10) as u16;
    let code = ReplyCode::new(code).unwrap_or(ReplyCode::OK);
    let enhanced = (class != 3 && !one_in(s, 3))
        .then(|| EnhancedCode::new(class as u8, s.choose(1000) as u16, s.choose(1000) as u16));
    let utf8 = one_in(s, 8);
    let lines = (0..between(s, 1, 5))
        .map(|_| {
            if one_in(s, 6) {
                return String::new();
            }
            let mut line = String::new();
            line.push(char_of(s, &[('A', 'Z'), ('a', 'z'), (' ', ' ')]));
            line.push_str(&text(
                s,
                if utf8 { PRINTABLE_UTF8 } else { PRINTABLE },
                0,
                30,
            ));
            line
        })
        .collect();
    Reply {
        code,
        enhanced,
        lines,
    }
}

/// A message body: up to 8 lines, each ending with CRLF, among them lines that need
/// dot-stuffing (`.`, `..x`) and empty ones; one body in 32 has a line over the 1000
/// octets RFC 5321 §4.5.3.1.6 allows.
pub fn body(s: &mut impl Source) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..s.choose(9) {
        match weighted(s, &[6, 1, 1, 1, 1]) {
            0 => out.extend_from_slice(text(s, BODY_TEXT, 0, 40).as_bytes()),
            1 => out.push(b'.'),
            2 => {
                out.extend_from_slice(b"..");
                out.extend_from_slice(text(s, BODY_TEXT, 0, 10).as_bytes());
            }
            3 => out.extend_from_slice(b"From the start"),
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
    }
    if one_in(s, 32) {
        out.extend(core::iter::repeat_n(b'x', between(s, 1001, 1200) as usize));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A command line that the parser refuses (without its CRLF, never holding CR or
/// LF): a missing or malformed argument, a bad verb, a NUL, invalid UTF-8, a line over
/// 512 octets (RFC 5321 §4.5.3.1.4), an empty line.
pub fn invalid_line(s: &mut impl Source) -> Vec<u8> {
    let line: Vec<u8> = match s.choose(12) {
        0 => Vec::new(),
        1 => [
            b"MAIL FROM:".as_slice(),
            text(s, PRINTABLE, 0, 12).as_bytes(),
        ]
        .concat(),
        2 => [
            b"RCPT TO:<".as_slice(),
            text(s, PRINTABLE, 0, 12).as_bytes(),
        ]
        .concat(),
        3 => b"EHLO".to_vec(),
        4 => b"HELO [127.0.0.1]".to_vec(),
        5 => {
            let mut v = text(s, &[('A', 'Z'), ('!', '!'), ('#', '&')], 1, 8).into_bytes();
            v.push(b'!');
            v
        }
        6 => {
            let mut v = b"NOOP ".to_vec();
            v.extend(core::iter::repeat_n(b'x', between(s, 510, 700) as usize));
            v
        }
        7 => [b"BDAT ".as_slice(), text(s, &[('a', 'z')], 1, 6).as_bytes()].concat(),
        8 => [
            b"MAIL FROM:<a@example.org> SIZE=".as_slice(),
            text(s, PRINTABLE, 0, 12).as_bytes(),
        ]
        .concat(),
        9 => b"NOOP \x00".to_vec(),
        10 => b"NOOP \xff\xfe".to_vec(),
        _ => b"DATA now".to_vec(),
    };
    let refused = line.iter().all(|b| *b != b'\r' && *b != b'\n')
        && Command::parse(&line, &ParseConfig::default()).is_err();
    if refused {
        line
    } else {
        b"MAIL FROM:".to_vec()
    }
}

/// A pause between steps: mostly a few seconds, one in seven past the five-minute
/// idle deadline of RFC 5321 §4.5.3.2.7.
pub fn pause(s: &mut impl Source) -> Duration {
    if one_in(s, 7) {
        Duration::from_secs(between(s, 301, 900))
    } else {
        Duration::from_secs(between(s, 1, 30))
    }
}

/// Sometimes a step between the steps of a transaction: NOOP, RSET, a refused line, a
/// pause or any command but DATA, BDAT and QUIT.
fn noise(s: &mut impl Source, steps: &mut Vec<SmtpStep>) {
    if !one_in(s, 6) {
        return;
    }
    steps.push(match weighted(s, &[3, 2, 2, 1, 2]) {
        0 => SmtpStep::Command(Command::Noop(None)),
        1 => SmtpStep::Command(Command::Rset),
        2 => SmtpStep::Raw(invalid_line(s)),
        3 => SmtpStep::Pause(pause(s)),
        _ => SmtpStep::Command(match command(s) {
            Command::Data | Command::Bdat { .. } => Command::Noop(None),
            Command::Quit => Command::Rset,
            other => other,
        }),
    });
}

/// A client session: a greeting (EHLO, sometimes HELO, sometimes none), up to three
/// transactions of MAIL, one to three RCPT and a DATA body, BDAT chunks or RSET, with
/// the odd NOOP, RSET, refused line, pause or random command between steps, and QUIT
/// (seven times in eight; otherwise the connection just ends). Commands out of
/// sequence arise naturally (RCPT after a refused MAIL, MAIL before EHLO).
pub fn script(s: &mut impl Source) -> SmtpScript {
    let mut steps = Vec::new();
    match weighted(s, &[6, 1, 1]) {
        0 => steps.push(SmtpStep::Command(Command::Ehlo(host(s, false)))),
        1 => steps.push(SmtpStep::Command(Command::Helo(domain(s, false)))),
        _ => {}
    }
    for _ in 0..s.choose(4) {
        noise(s, &mut steps);
        let params = match weighted(s, &[12, 2, 1]) {
            0 => MailParams::default(),
            1 => MailParams {
                size: Some(s.choose(2000)),
                ..MailParams::default()
            },
            _ => mail_params(s),
        };
        steps.push(SmtpStep::Command(Command::Mail {
            from: reverse_path(s, false),
            params,
        }));
        for _ in 0..between(s, 1, 3) {
            noise(s, &mut steps);
            let params = if one_in(s, 10) {
                rcpt_params(s)
            } else {
                RcptParams::default()
            };
            steps.push(SmtpStep::Command(Command::Rcpt {
                to: forward_path(s, false),
                params,
            }));
        }
        noise(s, &mut steps);
        match weighted(s, &[6, 2, 1]) {
            0 => steps.push(SmtpStep::Data(body(s))),
            1 => {
                let n = between(s, 1, 3);
                for i in 0..n {
                    steps.push(SmtpStep::Bdat {
                        chunk: body(s),
                        last: i + 1 == n,
                    });
                }
            }
            _ => steps.push(SmtpStep::Command(Command::Rset)),
        }
    }
    noise(s, &mut steps);
    if !one_in(s, 8) {
        steps.push(SmtpStep::Command(Command::Quit));
    }
    SmtpScript { steps }
}

/// The steps of a one-message session from `from` to `to` with `body`: EHLO, MAIL,
/// RCPT, DATA, QUIT. A fixed script to start a test or a corpus from.
pub fn simple_script(from: Mailbox, to: Mailbox, body: &[u8]) -> SmtpScript {
    SmtpScript {
        steps: vec![
            SmtpStep::Command(Command::Ehlo(Host::Domain(Domain::from_validated(
                "client.example",
            )))),
            SmtpStep::Command(Command::Mail {
                from: ReversePath::Mailbox(from),
                params: MailParams::default(),
            }),
            SmtpStep::Command(Command::Rcpt {
                to: ForwardPath::Mailbox(to),
                params: RcptParams::default(),
            }),
            SmtpStep::Data(body.to_vec()),
            SmtpStep::Command(Command::Quit),
        ],
    }
}
