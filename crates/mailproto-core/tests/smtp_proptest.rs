//! Property tests of the SMTP vocabulary: encode -> parse roundtrips for commands,
//! replies and EHLO capabilities, and "the parsers never panic".

use mailproto_core::smtp::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

const KNOWN: &[&str] = &[
    "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN",
    "HELP", "STARTTLS", "AUTH",
];

fn domain() -> impl Strategy<Value = Domain> {
    vec("[a-z0-9ü]([a-z0-9ü-]{0,6}[a-z0-9ü])?", 1..4)
        .prop_map(|labels| Domain::new(&labels.join(".")).unwrap())
}

fn literal() -> impl Strategy<Value = AddressLiteral> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| AddressLiteral::Ipv4(a.into())),
        any::<[u16; 8]>().prop_map(|a| AddressLiteral::Ipv6(a.into())),
        ("[a-zA-Z][a-zA-Z0-9-]{0,5}[a-zA-Z0-9]", "[!-Z^-~]{1,10}")
            .prop_filter("IPv6 tag", |(t, _)| !t.eq_ignore_ascii_case("ipv6"))
            .prop_map(|(tag, content)| AddressLiteral::General { tag, content }),
    ]
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        3 => domain().prop_map(Host::Domain),
        1 => literal().prop_map(Host::Literal),
    ]
}

fn mailbox() -> impl Strategy<Value = Mailbox> {
    ("[ -~é中]{0,12}", host()).prop_map(|(local_part, domain)| Mailbox { local_part, domain })
}

/// Printable text, possibly with UTF-8, possibly starting with a quote or space.
fn text() -> impl Strategy<Value = String> {
    "[ -~é]{0,16}"
}

fn param() -> impl Strategy<Value = Param> {
    ("X-[A-Z0-9]{1,6}", option::of("[!-<>-~é]{1,8}"))
        .prop_map(|(keyword, value)| Param { keyword, value })
}

fn unique(mut v: Vec<Param>) -> Vec<Param> {
    let mut seen: Vec<String> = Vec::new();
    v.retain(|p| {
        let k = p.keyword.to_ascii_uppercase();
        let fresh = !seen.contains(&k);
        seen.push(k);
        fresh
    });
    v
}

fn mail_params() -> impl Strategy<Value = MailParams> {
    (
        option::of(any::<u64>()),
        option::of(prop_oneof![
            Just(Body::SevenBit),
            Just(Body::EightBitMime),
            Just(Body::BinaryMime)
        ]),
        any::<bool>(),
        option::of(prop_oneof![
            Just(AuthParam::Null),
            Just(AuthParam::Mailbox("<>".into())),
            "[ -~é]{1,12}".prop_map(AuthParam::Mailbox),
        ]),
        option::of(prop_oneof![Just(Ret::Full), Just(Ret::Hdrs)]),
        option::of("[ -~]{1,12}"),
        any::<bool>(),
        vec(param(), 0..3),
    )
        .prop_map(
            |(size, body, smtputf8, auth, ret, envid, requiretls, other)| {
                let mut p = MailParams::default();
                p.size = size;
                p.body = body;
                p.smtputf8 = smtputf8;
                p.auth = auth;
                p.ret = ret;
                p.envid = envid;
                p.requiretls = requiretls;
                p.other = unique(other);
                p
            },
        )
}

fn rcpt_params() -> impl Strategy<Value = RcptParams> {
    let notify = prop_oneof![
        Just(Notify::Never),
        (any::<bool>(), any::<bool>(), any::<bool>())
            .prop_filter("one event", |(s, f, d)| *s || *f || *d)
            .prop_map(|(success, failure, delay)| Notify::On {
                success,
                failure,
                delay
            }),
    ];
    let orcpt = ("[a-zA-Z0-9-]{1,8}", "[ -~é]{0,12}")
        .prop_map(|(addr_type, address)| Orcpt { addr_type, address });
    (option::of(notify), option::of(orcpt), vec(param(), 0..3)).prop_map(
        |(notify, orcpt, other)| {
            let mut p = RcptParams::default();
            p.notify = notify;
            p.orcpt = orcpt;
            p.other = unique(other);
            p
        },
    )
}

fn command() -> impl Strategy<Value = Command> {
    let auth = (
        "[A-Z0-9_-]{1,20}",
        option::of(prop_oneof![
            Just(InitialResponse::Empty),
            "[A-Za-z0-9+/]{1,24}={0,2}".prop_map(InitialResponse::Base64),
        ]),
    )
        .prop_map(|(mechanism, initial_response)| Command::Auth {
            mechanism,
            initial_response,
        });
    let unknown = ("[A-Za-z][A-Za-z0-9]{0,7}", option::of(text()))
        .prop_filter("known verb", |(v, _)| {
            !KNOWN.iter().any(|k| k.eq_ignore_ascii_case(v))
        })
        .prop_map(|(verb, args)| Command::Unknown { verb, args });
    prop_oneof![
        domain().prop_map(Command::Helo),
        host().prop_map(Command::Ehlo),
        host().prop_map(Command::Lhlo),
        (
            prop_oneof![1 => Just(ReversePath::Null), 4 => mailbox().prop_map(ReversePath::Mailbox)],
            mail_params()
        )
            .prop_map(|(from, params)| Command::Mail { from, params }),
        (
            prop_oneof![1 => Just(ForwardPath::Postmaster), 4 => mailbox().prop_map(ForwardPath::Mailbox)],
            rcpt_params()
        )
            .prop_map(|(to, params)| Command::Rcpt { to, params }),
        Just(Command::Data),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        Just(Command::Rset),
        option::of(text()).prop_map(Command::Noop),
        Just(Command::Quit),
        text().prop_map(Command::Vrfy),
        text().prop_map(Command::Expn),
        option::of(text()).prop_map(Command::Help),
        Just(Command::StartTls),
        auth,
        unknown,
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    (2u16..=5, 0u16..=5, 0u16..=9)
        .prop_flat_map(|(a, b, c)| {
            let code = ReplyCode::new(a * 100 + b * 10 + c).unwrap();
            let enhanced = if a == 3 {
                Just(None).boxed()
            } else {
                option::of((0u16..1000, 0u16..1000).prop_map(move |(subject, detail)| {
                    EnhancedCode {
                        class: a as u8,
                        subject,
                        detail,
                    }
                }))
                .boxed()
            };
            // Text never starts with a digit, so it cannot pass for an enhanced code.
            (Just(code), enhanced, vec("([A-Za-z ][ -~é]{0,30})?", 1..6))
        })
        .prop_map(|(code, enhanced, lines)| Reply {
            code,
            enhanced,
            lines,
        })
}

fn capabilities() -> impl Strategy<Value = Capabilities> {
    (
        any::<[bool; 10]>(),
        option::of(any::<u64>()),
        vec("[A-Z0-9_-]{1,20}", 0..4),
        vec(("X[A-Z0-9-]{0,8}", vec("[!-~]{1,8}", 0..3)), 0..3),
    )
        .prop_map(|(f, size, mut auth, other)| {
            auth.dedup();
            auth.sort();
            auth.dedup();
            let mut c = Capabilities::default();
            c.pipelining = f[0];
            c.eight_bit_mime = f[1];
            c.smtputf8 = f[2];
            c.chunking = f[3];
            c.binary_mime = f[4];
            c.dsn = f[5];
            c.enhanced_status_codes = f[6];
            c.starttls = f[7];
            c.requiretls = f[8];
            c.auth_legacy = f[9] && !auth.is_empty();
            c.auth = auth;
            c.size = size;
            c.other = other
                .into_iter()
                .map(|(keyword, params)| Extension { keyword, params })
                .collect();
            c
        })
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let text = std::str::from_utf8(bytes).unwrap();
    let body = text.strip_suffix("\r\n").expect("ends with CRLF");
    let lines: Vec<&str> = body.split("\r\n").collect();
    let mut p = ReplyParser::default();
    for (i, l) in lines.iter().enumerate() {
        let r = p.feed_line(l.as_bytes()).unwrap();
        if i + 1 == lines.len() {
            return r.unwrap();
        }
        assert!(r.is_none());
    }
    unreachable!()
}

/// Bytes that steer the parsers into their deeper branches.
fn smtpish() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        Just("MAIL FROM:<"),
        Just("RCPT TO:<"),
        Just("EHLO "),
        Just("HELO "),
        Just("AUTH "),
        Just("BDAT "),
        Just("VRFY "),
        Just("NOOP "),
        Just("RCPT TO:<@"),
        Just("MAIL FROM:<a@b> "),
        Just("RCPT TO:<a@b> "),
        Just(""),
    ];
    let tail = vec(
        prop_oneof![
            Just(b'<'),
            Just(b'>'),
            Just(b'@'),
            Just(b'"'),
            Just(b'\\'),
            Just(b'.'),
            Just(b'['),
            Just(b']'),
            Just(b':'),
            Just(b','),
            Just(b'='),
            Just(b' '),
            Just(b'+'),
            Just(b'-'),
            Just(b';'),
            Just(0xc3),
            Just(0xa9),
            Just(0xff),
            Just(b'a'),
            Just(b'Z'),
            Just(b'1'),
            Just(b'0'),
            any::<u8>(),
        ],
        0..80,
    );
    (head, tail).prop_map(|(h, t)| {
        let mut v = h.as_bytes().to_vec();
        v.extend(t);
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn command_roundtrip(cmd in command()) {
        let mut out = Vec::new();
        cmd.encode(&mut out).unwrap();
        prop_assert!(out.ends_with(b"\r\n"));
        let line = &out[..out.len() - 2];
        prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
        let mut cfg = ParseConfig::default().with_smtputf8(true);
        cfg.limits.command_line = 4096;
        let parsed = Command::parse(line, &cfg)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", String::from_utf8_lossy(line))))?;
        prop_assert_eq!(parsed, cmd);
    }

    #[test]
    fn reply_roundtrip(r in reply()) {
        let mut out = Vec::new();
        r.encode(&mut out).unwrap();
        prop_assert_eq!(parse_reply(&out), r);
    }

    #[test]
    fn capabilities_roundtrip(c in capabilities()) {
        let mut out = Vec::new();
        c.ehlo_reply("mx.example.org Hello client").encode(&mut out).unwrap();
        let reply = parse_reply(&out);
        prop_assert_eq!(Capabilities::from_ehlo_reply(&reply), c);
    }

    #[test]
    fn xtext_roundtrip(s in "\\PC{0,20}") {
        prop_assert_eq!(xtext_decode(&xtext_encode(&s)), Some(s));
    }

    #[test]
    fn parsers_never_panic(bytes in prop_oneof![vec(any::<u8>(), 0..600), smtpish()]) {
        for cfg in [ParseConfig::default(), ParseConfig::default().with_smtputf8(true)] {
            match Command::parse(&bytes, &cfg) {
                Ok(cmd) => {
                    // Whatever parses re-encodes (or is refused cleanly) and parses the same.
                    let mut out = Vec::new();
                    if cmd.encode(&mut out).is_ok() {
                        let mut big = cfg.clone();
                        big.limits.command_line = 4096;
                        let again = Command::parse(&out[..out.len() - 2], &big);
                        prop_assert_eq!(again, Ok(cmd));
                    }
                }
                Err(e) => {
                    prop_assert!(e.to_string().len() < 400);
                    let _ = (e.reply_code(), e.enhanced_code());
                }
            }
        }
        let mut p = ReplyParser::default();
        for line in bytes.split(|b| *b == b'\n') {
            if let Err(e) = p.feed_line(line) {
                prop_assert!(e.to_string().len() < 400);
            }
        }
        let mut caps = Capabilities::default();
        caps.add_line(&String::from_utf8_lossy(&bytes));
        let _ = xtext_decode(&String::from_utf8_lossy(&bytes));
        let _ = Snippet::from_bytes(&bytes).to_string();
    }
}
