//! SMTP vocabulary: transcript-style tests of the command and reply codecs and EHLO
//! capabilities (RFC 5321 Appendix D and the extension RFCs).

use mailproto_core::smtp::*;

fn cfg() -> ParseConfig {
    ParseConfig::default()
}

fn utf8() -> ParseConfig {
    ParseConfig::default().with_smtputf8(true)
}

/// C: a command line, parsed with the default configuration.
fn c(line: &str) -> Command {
    Command::parse(line.as_bytes(), &cfg()).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// C: a command line that must fail; returns the error.
fn c_err(line: &str) -> ParseError {
    match Command::parse(line.as_bytes(), &cfg()) {
        Ok(cmd) => panic!("{line} parsed as {cmd:?}"),
        Err(e) => e,
    }
}

/// The bytes the encoder writes for a command.
fn enc(cmd: &Command) -> String {
    let mut out = Vec::new();
    cmd.encode(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// S: reply lines (without CRLF), fed one at a time; the complete reply.
fn s(lines: &[&str]) -> Reply {
    let mut p = ReplyParser::default();
    for (i, l) in lines.iter().enumerate() {
        let r = p.feed_line(l.as_bytes()).unwrap();
        if i + 1 == lines.len() {
            return r.expect("reply complete");
        }
        assert_eq!(r, None, "reply ended early at {l}");
    }
    unreachable!()
}

fn mb(local: &str, domain: &str) -> Mailbox {
    Mailbox {
        local_part: local.into(),
        domain: Host::Domain(Domain::new(domain).unwrap()),
    }
}

fn code(e: &ParseError) -> u16 {
    e.reply_code().get()
}

#[test]
fn appendix_d1_typical_transaction() {
    let greet = s(&["220 foo.com Simple Mail Transfer Service Ready"]);
    assert_eq!(greet.code, ReplyCode::SERVICE_READY);
    assert_eq!(greet.lines, ["foo.com Simple Mail Transfer Service Ready"]);

    assert_eq!(
        c("EHLO bar.com"),
        Command::Ehlo(Host::Domain(Domain::new("bar.com").unwrap()))
    );
    let ehlo = s(&[
        "250-foo.com greets bar.com",
        "250-8BITMIME",
        "250-SIZE",
        "250-DSN",
        "250 HELP",
    ]);
    let caps = Capabilities::from_ehlo_reply(&ehlo);
    assert!(caps.eight_bit_mime && caps.dsn && !caps.pipelining);
    assert_eq!(caps.size, Some(0));
    assert_eq!(caps.other("help"), Some(&[][..]));

    assert_eq!(
        c("MAIL FROM:<Smith@bar.com>"),
        Command::Mail {
            from: ReversePath::Mailbox(mb("Smith", "bar.com")),
            params: MailParams::default()
        }
    );
    assert_eq!(s(&["250 OK"]).lines, ["OK"]);
    for who in ["Jones", "Green", "Brown"] {
        let line = format!("RCPT TO:<{who}@foo.com>");
        let cmd = c(&line);
        assert_eq!(
            cmd,
            Command::Rcpt {
                to: ForwardPath::Mailbox(mb(who, "foo.com")),
                params: RcptParams::default()
            }
        );
        assert_eq!(enc(&cmd), format!("{line}\r\n"));
    }
    assert_eq!(s(&["550 No such user here"]).code.get(), 550);
    assert_eq!(c("DATA"), Command::Data);
    assert_eq!(
        s(&["354 Start mail input; end with <CRLF>.<CRLF>"]).code,
        ReplyCode::START_MAIL_INPUT
    );
    assert_eq!(c("QUIT"), Command::Quit);
    assert_eq!(
        s(&["221 foo.com Service closing transmission channel"]).code,
        ReplyCode::CLOSING
    );
}

#[test]
fn appendix_d3_source_routes_are_discarded() {
    // C: RCPT TO:<@foo.com:Jones@XYZ.COM>   (RFC 5321 D.3, Appendix C)
    let Command::Rcpt { to, .. } = c("RCPT TO:<@foo.com:Jones@XYZ.COM>") else {
        panic!()
    };
    assert_eq!(to, ForwardPath::Mailbox(mb("Jones", "XYZ.COM")));
    let Command::Mail { from, .. } = c("MAIL FROM:<@a.org,@b.net:user@c.com>") else {
        panic!()
    };
    assert_eq!(from, ReversePath::Mailbox(mb("user", "c.com")));
    // the encoder never writes a route back
    assert_eq!(
        enc(&c("RCPT TO:<@foo.com:Jones@XYZ.COM>")),
        "RCPT TO:<Jones@XYZ.COM>\r\n"
    );
    for bad in [
        "RCPT TO:<@foo.com Jones@x.y>",
        "RCPT TO:<@:a@b>",
        "RCPT TO:<@a,b:c@d>",
    ] {
        let e = c_err(bad);
        assert!(
            matches!(
                e,
                ParseError::Path {
                    kind: PathErrorKind::InvalidSourceRoute,
                    ..
                }
            ),
            "{bad}: {e:?}"
        );
        assert_eq!(code(&e), 501);
    }
}

#[test]
fn appendix_d4_verify_and_expand() {
    assert_eq!(c("VRFY Crispin"), Command::Vrfy("Crispin".into()));
    assert_eq!(
        c("EXPN Example-People"),
        Command::Expn("Example-People".into())
    );
    assert_eq!(
        c("VRFY \"Mark Crispin\""),
        Command::Vrfy("Mark Crispin".into())
    );
    let r = s(&["250 Mark Crispin <Admin.MRC@foo.com>"]);
    assert_eq!(r.lines, ["Mark Crispin <Admin.MRC@foo.com>"]);
    assert_eq!(
        enc(&Command::Vrfy("Mark Crispin".into())),
        "VRFY Mark Crispin\r\n"
    );
    assert_eq!(enc(&Command::Vrfy("".into())), "VRFY \"\"\r\n");
}

/// Regression (found by the `smtp_command_roundtrip` fuzz target): a verbatim argument
/// that starts with `"` and holds a control character parsed, but the encoder tried to
/// quote it and refused; it is written as it came, and reads back the same.
#[test]
fn verbatim_string_with_a_control_character_round_trips() {
    for line in ["EXPN \"\x05ELE IU- ", "VRFY \"a\tb\"", "VRFY \"ab\"\x7f"] {
        let cmd = c(line);
        let wire = enc(&cmd);
        assert_eq!(wire, format!("{line}\r\n"));
        assert_eq!(c(&wire[..wire.len() - 2]), cmd);
    }
    // Without a control character a leading quote is still quoted.
    assert_eq!(enc(&c("VRFY \"ab")), "VRFY \"\\\"ab\"\r\n");
}

#[test]
fn verbs_and_keywords_are_case_insensitive() {
    assert_eq!(c("mail from:<a@b.c>"), c("MAIL FROM:<a@b.c>"));
    assert_eq!(c("Rcpt To:<a@b.c>"), c("RCPT TO:<a@b.c>"));
    assert_eq!(
        c("bdat 10 last"),
        Command::Bdat {
            size: 10,
            last: true
        }
    );
    assert_eq!(c("StartTLS"), Command::StartTls);
    assert_eq!(c("rset"), Command::Rset);
    assert_eq!(c("noop"), Command::Noop(None));
    assert_eq!(c("HELP MAIL"), Command::Help(Some("MAIL".into())));
    assert_eq!(c("help"), Command::Help(None));
    assert_eq!(
        c("LHLO mx.example"),
        Command::Lhlo(Host::Domain(Domain::new("mx.example").unwrap()))
    );
}

#[test]
fn strict_path_syntax_and_its_one_tolerance() {
    // RFC 5321 §4.1.1.2: no space after the colon ...
    let e = c_err("MAIL FROM: <a@b.c>");
    assert!(
        matches!(
            e,
            ParseError::Path {
                kind: PathErrorKind::MissingBrackets,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(code(&e), 501);
    // ... unless configured.
    let mut lenient = cfg();
    lenient.allow_space_after_colon = true;
    assert_eq!(
        Command::parse(b"MAIL FROM: <a@b.c>", &lenient).unwrap(),
        c("MAIL FROM:<a@b.c>")
    );
    for bad in [
        "MAIL FROM:a@b.c",
        "MAIL FROM:<a@b.c",
        "MAIL FROM:<a@b.c> ",
        "MAIL FROM:<a@b.c>  SIZE=1",
        "MAIL FROM<a@b.c>",
        "MAIL  FROM:<a@b.c>",
        "MAIL",
        "RCPT TO:<>",
        "MAIL FROM:<Postmaster>",
        "MAIL FROM:<a..b@c.d>",
        "MAIL FROM:<.a@c.d>",
        "MAIL FROM:<a@-b.c>",
        "MAIL FROM:<a@b..c>",
        "MAIL FROM:<a@b.c.>",
        "MAIL FROM:<a@b_c.d>",
        "MAIL FROM:<a b@c.d>",
        "MAIL FROM:<\"a@c.d>",
        "QUIT ",
        "DATA x",
        "HELO",
        "HELO ",
        "EHLO a b",
        "BDAT",
        "BDAT x",
        "BDAT 10 FIRST",
        "BDAT -1",
    ] {
        let e = c_err(bad);
        assert_eq!(code(&e), 501, "{bad}: {e}");
    }
}

#[test]
fn null_path_and_postmaster() {
    let Command::Mail { from, .. } = c("MAIL FROM:<>") else {
        panic!()
    };
    assert_eq!(from, ReversePath::Null);
    assert_eq!(enc(&c("MAIL FROM:<>")), "MAIL FROM:<>\r\n");
    for pm in [
        "RCPT TO:<Postmaster>",
        "RCPT TO:<postmaster>",
        "RCPT TO:<POSTMASTER>",
    ] {
        let Command::Rcpt { to, .. } = c(pm) else {
            panic!()
        };
        assert_eq!(to, ForwardPath::Postmaster);
    }
    assert_eq!(enc(&c("rcpt to:<postmaster>")), "RCPT TO:<Postmaster>\r\n");
    let Command::Rcpt { to, .. } = c("RCPT TO:<Postmaster@example.org>") else {
        panic!()
    };
    assert_eq!(to, ForwardPath::Mailbox(mb("Postmaster", "example.org")));
}

#[test]
fn quoted_local_parts() {
    let Command::Rcpt {
        to: ForwardPath::Mailbox(m),
        ..
    } = c(r#"RCPT TO:<"john doe"@example.org>"#)
    else {
        panic!()
    };
    assert_eq!(m.local_part, "john doe");
    let Command::Mail {
        from: ReversePath::Mailbox(m),
        ..
    } = c(r#"MAIL FROM:<"a\"b\\c"@example.org>"#)
    else {
        panic!()
    };
    assert_eq!(m.local_part, r#"a"b\c"#);
    assert_eq!(
        enc(&c(r#"MAIL FROM:<"a\"b\\c"@example.org>"#)),
        "MAIL FROM:<\"a\\\"b\\\\c\"@example.org>\r\n"
    );
    // A quoted Dot-string is equivalent to the unquoted one and encodes unquoted.
    assert_eq!(c(r#"RCPT TO:<"abc"@x.y>"#), c("RCPT TO:<abc@x.y>"));
    assert_eq!(enc(&c(r#"RCPT TO:<"abc"@x.y>"#)), "RCPT TO:<abc@x.y>\r\n");
    // Empty quoted local part, and '>' / '@' inside quotes.
    let Command::Rcpt {
        to: ForwardPath::Mailbox(m),
        ..
    } = c(r#"RCPT TO:<">"@x.y>"#)
    else {
        panic!()
    };
    assert_eq!(m.local_part, ">");
    let Command::Rcpt {
        to: ForwardPath::Mailbox(m),
        ..
    } = c(r#"RCPT TO:<""@x.y>"#)
    else {
        panic!()
    };
    assert_eq!(m.local_part, "");
    assert_eq!(
        enc(&c(r#"RCPT TO:<"a@b"@x.y>"#)),
        "RCPT TO:<\"a@b\"@x.y>\r\n"
    );
    // A control character cannot be quoted.
    assert_eq!(code(&c_err("RCPT TO:<\"a\tb\"@x.y>")), 501);
}

#[test]
fn address_literals() {
    let lit = |l: &str| match c(&format!("EHLO {l}")) {
        Command::Ehlo(Host::Literal(a)) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        lit("[192.0.2.1]"),
        AddressLiteral::Ipv4([192, 0, 2, 1].into())
    );
    assert_eq!(
        lit("[001.002.003.004]"),
        AddressLiteral::Ipv4([1, 2, 3, 4].into())
    );
    assert_eq!(
        lit("[IPv6:2001:db8::1]"),
        AddressLiteral::Ipv6("2001:db8::1".parse().unwrap())
    );
    assert_eq!(
        lit("[ipv6:::ffff:192.0.2.1]"),
        AddressLiteral::Ipv6("::ffff:192.0.2.1".parse().unwrap())
    );
    assert!(
        matches!(lit("[x-tag:some-thing]"), AddressLiteral::General { tag, content } if tag == "x-tag" && content == "some-thing")
    );
    for bad in [
        "[256.1.1.1]",
        "[1.2.3]",
        "[IPv6:zz::1]",
        "[1.2.3.4",
        "[]",
        "[a b]",
        "[-:x]",
        "[1.2.3.4]x",
    ] {
        let e = c_err(&format!("EHLO {bad}"));
        assert!(matches!(e, ParseError::InvalidHost(_)), "{bad}: {e:?}");
        assert_eq!(code(&e), 501);
    }
    // In mailboxes.
    let Command::Rcpt {
        to: ForwardPath::Mailbox(m),
        ..
    } = c("RCPT TO:<x@[IPv6:::1]>")
    else {
        panic!()
    };
    assert_eq!(
        m.domain,
        Host::Literal(AddressLiteral::Ipv6("::1".parse().unwrap()))
    );
    assert_eq!(
        enc(&c("RCPT TO:<x@[10.0.0.1]>")),
        "RCPT TO:<x@[10.0.0.1]>\r\n"
    );
    assert_eq!(
        enc(&c("EHLO [IPv6:2001:DB8::1]")),
        "EHLO [IPv6:2001:db8::1]\r\n"
    );
    // HELO takes a domain only (RFC 5321 §4.1.1.1).
    assert!(matches!(
        c_err("HELO [192.0.2.1]"),
        ParseError::InvalidHost(_)
    ));
    assert_eq!(
        c("HELO relay.example"),
        Command::Helo(Domain::new("relay.example").unwrap())
    );
}

#[test]
fn smtputf8_on_and_off() {
    let line = "MAIL FROM:<jöhn@exämple.org> SMTPUTF8";
    let e = Command::parse(line.as_bytes(), &cfg()).unwrap_err();
    assert!(
        matches!(
            e,
            ParseError::Path {
                kind: PathErrorKind::NonAsciiWithoutSmtpUtf8,
                role: PathRole::Sender,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(code(&e), 553);
    assert_eq!(e.enhanced_code().to_string(), "5.6.7");
    let Command::Mail {
        from: ReversePath::Mailbox(m),
        params,
    } = Command::parse(line.as_bytes(), &utf8()).unwrap()
    else {
        panic!()
    };
    assert_eq!(m.local_part, "jöhn");
    assert_eq!(m.domain, Host::Domain(Domain::new("exämple.org").unwrap()));
    assert!(params.smtputf8 && !m.is_ascii());
    // Quoted UTF-8 local part, UTF-8 EHLO name and param value.
    assert!(Command::parse("RCPT TO:<\"ö ö\"@x.y>".as_bytes(), &utf8()).is_ok());
    assert!(Command::parse("RCPT TO:<\"ö ö\"@x.y>".as_bytes(), &cfg()).is_err());
    assert!(Command::parse("EHLO exämple.org".as_bytes(), &utf8()).is_ok());
    assert!(matches!(
        Command::parse("EHLO exämple.org".as_bytes(), &cfg()),
        Err(ParseError::NonAsciiWithoutSmtpUtf8(_))
    ));
    assert!(matches!(
        Command::parse("MAIL FROM:<a@b.c> X-Y=ü".as_bytes(), &cfg()),
        Err(ParseError::NonAsciiWithoutSmtpUtf8(_))
    ));
    assert!(Command::parse("MAIL FROM:<a@b.c> X-Y=ü".as_bytes(), &utf8()).is_ok());
    assert!(Command::parse("VRFY jöhn".as_bytes(), &cfg()).is_err());
    // Invalid UTF-8 is rejected whatever the setting.
    let e = Command::parse(b"MAIL FROM:<j\xf6hn@x.y>", &utf8()).unwrap_err();
    assert_eq!(e, ParseError::InvalidUtf8 { offset: 12 });
    assert_eq!(code(&e), 500);
}

#[test]
fn mail_parameters() {
    let Command::Mail { params: p, .. } = c(
        "MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME SMTPUTF8 AUTH=e+2Bmail+3D@x.y RET=HDRS \
         ENVID=QQ314159+20x REQUIRETLS X-FOO=bar XYZ",
    ) else {
        panic!()
    };
    assert_eq!(p.size, Some(1000));
    assert_eq!(p.body, Some(Body::EightBitMime));
    assert!(p.smtputf8 && p.requiretls);
    assert_eq!(p.auth, Some(AuthParam::Mailbox("e+mail=@x.y".into())));
    assert_eq!(p.ret, Some(Ret::Hdrs));
    assert_eq!(p.envid.as_deref(), Some("QQ314159 x"));
    assert_eq!(
        p.other,
        [
            Param {
                keyword: "X-FOO".into(),
                value: Some("bar".into())
            },
            Param {
                keyword: "XYZ".into(),
                value: None
            }
        ]
    );
    let enc_line = enc(&c("mail from:<a@b.c> body=7bit auth=<> ret=full size=0"));
    assert_eq!(
        enc_line,
        "MAIL FROM:<a@b.c> SIZE=0 BODY=7BIT AUTH=<> RET=FULL\r\n"
    );
    let Command::Mail { params: p, .. } = c("MAIL FROM:<a@b.c> BODY=BINARYMIME") else {
        panic!()
    };
    assert_eq!(p.body, Some(Body::BinaryMime));

    // RFC 5321 §4.1.1.11, RFC 1870 §6: the reply each bad parameter earns.
    for (line, want) in [
        ("MAIL FROM:<a@b.c> SIZE=99999999999999999999", 552),
        ("MAIL FROM:<a@b.c> SIZE=18446744073709551616", 552),
        ("MAIL FROM:<a@b.c> SIZE=", 501),
        ("MAIL FROM:<a@b.c> SIZE", 501),
        ("MAIL FROM:<a@b.c> SIZE=1k", 501),
        ("MAIL FROM:<a@b.c> SIZE=1 SIZE=2", 501),
        ("MAIL FROM:<a@b.c> SIZE=1 size=1", 501),
        ("MAIL FROM:<a@b.c> X=1 x", 501),
        ("MAIL FROM:<a@b.c> BODY=9BIT", 504),
        ("MAIL FROM:<a@b.c> SMTPUTF8=yes", 501),
        ("MAIL FROM:<a@b.c> REQUIRETLS=1", 501),
        ("MAIL FROM:<a@b.c> RET=NONE", 501),
        ("MAIL FROM:<a@b.c> ENVID=a+2", 501),
        ("MAIL FROM:<a@b.c> AUTH=", 501),
        ("MAIL FROM:<a@b.c> -X=1", 501),
        ("MAIL FROM:<a@b.c> X==1", 501),
    ] {
        assert_eq!(code(&c_err(line)), want, "{line}");
    }
    let e = c_err("MAIL FROM:<a@b.c> SIZE=99999999999999999999");
    assert_eq!(
        e,
        ParseError::SizeOverflow(Snippet::new("99999999999999999999"))
    );
    let Command::Mail { params: p, .. } = c("MAIL FROM:<a@b.c> SIZE=18446744073709551615") else {
        panic!()
    };
    assert_eq!(p.size, Some(u64::MAX));

    let mut strict = cfg();
    strict.reject_unknown_params = true;
    let e = Command::parse(b"MAIL FROM:<a@b.c> X-FOO=1", &strict).unwrap_err();
    assert_eq!(
        e,
        ParseError::UnknownParameter {
            keyword: "X-FOO".into()
        }
    );
    assert_eq!(code(&e), 555);
    // NOTIFY is a RCPT parameter: unknown on MAIL.
    let e = Command::parse(b"MAIL FROM:<a@b.c> NOTIFY=NEVER", &strict).unwrap_err();
    assert_eq!(code(&e), 555);
}

#[test]
fn rcpt_parameters() {
    let Command::Rcpt { params: p, .. } =
        c("RCPT TO:<a@b.c> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+40b.c X-Z")
    else {
        panic!()
    };
    assert_eq!(
        p.notify,
        Some(Notify::On {
            success: true,
            failure: false,
            delay: true
        })
    );
    assert_eq!(
        p.orcpt,
        Some(Orcpt {
            addr_type: "rfc822".into(),
            address: "Bob@b.c".into()
        })
    );
    assert_eq!(p.other.len(), 1);
    assert_eq!(
        enc(&c("rcpt to:<a@b.c> orcpt=rfc822;a+20b notify=failure")),
        "RCPT TO:<a@b.c> NOTIFY=FAILURE ORCPT=rfc822;a+20b\r\n"
    );
    let Command::Rcpt { params: p, .. } = c("RCPT TO:<a@b.c> NOTIFY=never") else {
        panic!()
    };
    assert_eq!(p.notify, Some(Notify::Never));
    for bad in [
        "RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS",
        "RCPT TO:<a@b.c> NOTIFY=SUCCESS,SUCCESS",
        "RCPT TO:<a@b.c> NOTIFY=",
        "RCPT TO:<a@b.c> NOTIFY=SOMETIMES",
        "RCPT TO:<a@b.c> ORCPT=rfc822",
        "RCPT TO:<a@b.c> ORCPT=;a@b",
        "RCPT TO:<a@b.c> ORCPT=rfc822;a+zz",
        "RCPT TO:<a@b.c> NOTIFY=NEVER NOTIFY=NEVER",
    ] {
        assert_eq!(code(&c_err(bad)), 501, "{bad}");
    }
}

#[test]
fn limits() {
    let local = "a".repeat(64);
    assert!(matches!(
        c(&format!("RCPT TO:<{local}@x.y>")),
        Command::Rcpt { .. }
    ));
    let e = c_err(&format!("RCPT TO:<{local}a@x.y>"));
    assert!(
        matches!(
            e,
            ParseError::Path {
                kind: PathErrorKind::LocalPartTooLong {
                    length: 65,
                    max: 64
                },
                role: PathRole::Recipient,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(code(&e), 501);
    assert_eq!(e.enhanced_code().to_string(), "5.1.3");
    // 255-octet domain: four 63-octet labels.
    let l63 = "d".repeat(63);
    let domain = format!("{l63}.{l63}.{l63}.{l63}");
    assert_eq!(domain.len(), 255);
    let e = c_err(&format!("MAIL FROM:<a@{domain}>"));
    assert!(
        matches!(
            e,
            ParseError::Path {
                kind: PathErrorKind::PathTooLong { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let e = c_err(&format!("MAIL FROM:<a@{domain}x>"));
    assert!(
        matches!(
            e,
            ParseError::Path {
                kind: PathErrorKind::InvalidDomain,
                ..
            }
        ),
        "{e:?}"
    );
    let mut big = cfg();
    big.limits.path = 1000;
    assert!(Command::parse(format!("MAIL FROM:<a@{domain}>").as_bytes(), &big).is_ok());
    let e = c_err(&format!("MAIL FROM:<a@{domain}.x>"));
    assert!(
        matches!(
            e,
            ParseError::Path {
                kind: PathErrorKind::DomainTooLong { length: 257, .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.enhanced_code().to_string(), "5.1.7");
    let long_label = "e".repeat(64);
    assert!(matches!(
        c_err(&format!("EHLO {long_label}.org")),
        ParseError::InvalidHost(_)
    ));

    // Command line: 512 with CRLF; MAIL/RCPT get the parameter allowance.
    let ok = format!("NOOP {}", "x".repeat(505));
    assert_eq!(ok.len() + 2, 512);
    assert!(Command::parse(ok.as_bytes(), &cfg()).is_ok());
    let e = c_err(&format!("{ok}x"));
    assert_eq!(
        e,
        ParseError::LineTooLong {
            length: 513,
            max: 512
        }
    );
    assert_eq!(code(&e), 500);
    let params = (0..50)
        .map(|i| format!(" X-P{i}=val{i}"))
        .collect::<String>();
    assert!(params.len() > 512);
    assert!(matches!(
        c(&format!("MAIL FROM:<a@b.c>{params}")),
        Command::Mail { .. }
    ));
    let e = c_err(&format!("MAIL FROM:<a@b.c> X={}", "v".repeat(1500)));
    assert!(matches!(e, ParseError::LineTooLong { max: 1512, .. }));
    let ir = "A".repeat(4000);
    assert!(matches!(
        c(&format!("AUTH XOAUTH2 {ir}")),
        Command::Auth { .. }
    ));
    let mut small = cfg();
    small.limits.local_part = 3;
    assert!(Command::parse(b"RCPT TO:<abcd@x.y>", &small).is_err());
}

#[test]
fn forbidden_bytes_and_garbage() {
    for (line, byte) in [
        (&b"NOOP a\0b"[..], 0u8),
        (b"RSET\r", b'\r'),
        (b"VRFY a\nb", b'\n'),
    ] {
        let e = Command::parse(line, &cfg()).unwrap_err();
        assert!(
            matches!(e, ParseError::ForbiddenByte { byte: b, .. } if b == byte),
            "{e:?}"
        );
        assert_eq!(code(&e), 500);
    }
    assert_eq!(Command::parse(b"", &cfg()), Err(ParseError::Empty));
    assert!(matches!(c_err(" MAIL"), ParseError::InvalidVerb(_)));
    assert!(matches!(
        c_err("MA:L FROM:<a@b>"),
        ParseError::InvalidVerb(_)
    ));
    assert_eq!(code(&c_err("MA:L")), 500);
    // Display names the offending input, bounded.
    let e = c_err(&format!("{}:", "X".repeat(400)));
    let shown = e.to_string();
    assert!(shown.len() < 100, "{shown}");
    assert!(shown.contains("XXXX") && shown.ends_with("..."), "{shown}");
    let e = c_err("MAIL FROM:<a..b@example.org>");
    assert_eq!(
        e.to_string(),
        "sender path: invalid local part: \"<a..b@example.org>\""
    );
}

#[test]
fn unknown_commands() {
    assert_eq!(
        c("XCLIENT ADDR=1.2.3.4"),
        Command::Unknown {
            verb: "XCLIENT".into(),
            args: Some("ADDR=1.2.3.4".into())
        }
    );
    assert_eq!(
        c("TURN"),
        Command::Unknown {
            verb: "TURN".into(),
            args: None
        }
    );
    assert_eq!(enc(&c("xclient a b")), "xclient a b\r\n");
    let mut out = Vec::new();
    let known = Command::Unknown {
        verb: "data".into(),
        args: None,
    };
    assert!(known.encode(&mut out).is_err());
}

#[test]
fn auth_command() {
    assert_eq!(
        c("AUTH PLAIN"),
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: None
        }
    );
    assert_eq!(
        c("auth plain ="),
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: Some(InitialResponse::Empty)
        }
    );
    assert_eq!(
        c("AUTH PLAIN AHRlc3QAdGVzdA=="),
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: Some(InitialResponse::Base64("AHRlc3QAdGVzdA==".into()))
        }
    );
    assert_eq!(enc(&c("auth cram-md5")), "AUTH CRAM-MD5\r\n");
    assert_eq!(enc(&c("AUTH PLAIN =")), "AUTH PLAIN =\r\n");
    for bad in [
        "AUTH",
        "AUTH PLAIN a=b",
        "AUTH PL@IN",
        "AUTH ABCDEFGHIJKLMNOPQRSTU",
        "AUTH PLAIN ===",
        "AUTH PLAIN  x",
        "AUTH PLAIN x y",
    ] {
        assert_eq!(code(&c_err(bad)), 501, "{bad}");
    }
}

#[test]
fn encoder_refuses_line_breaks_and_nul() {
    let evil: [Command; 6] = [
        Command::Vrfy("a\r\nRSET".into()),
        Command::Noop(Some("x\n".into())),
        Command::Help(Some("\0".into())),
        Command::Unknown {
            verb: "X".into(),
            args: Some("\r\nDATA".into()),
        },
        Command::Rcpt {
            to: ForwardPath::Mailbox(mb("a\r\nRSET\r\n", "x.y")),
            params: RcptParams::default(),
        },
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: Some(InitialResponse::Base64("AA\r\n".into())),
        },
    ];
    for cmd in evil {
        let mut out = b"before".to_vec();
        let e = cmd.encode(&mut out).unwrap_err();
        assert!(
            matches!(e, EncodeError::ForbiddenByte { .. }),
            "{cmd:?}: {e:?}"
        );
        assert_eq!(out, b"before", "nothing appended on error");
    }
    let mut p = MailParams::default();
    p.other.push(Param {
        keyword: "X".into(),
        value: Some("a\rb".into()),
    });
    let cmd = Command::Mail {
        from: ReversePath::Null,
        params: p,
    };
    assert!(cmd.encode(&mut Vec::new()).is_err());
    let mut p = MailParams::default();
    p.envid = Some("a\r\nb".into());
    // xtext encodes CR LF as +0D+0A: harmless on the wire.
    let cmd = Command::Mail {
        from: ReversePath::Null,
        params: p,
    };
    assert_eq!(enc(&cmd), "MAIL FROM:<> ENVID=a+0D+0Ab\r\n");
    let mut p = MailParams::default();
    p.other.push(Param {
        keyword: "SIZE".into(),
        value: Some("1".into()),
    });
    assert!(
        Command::Mail {
            from: ReversePath::Null,
            params: p
        }
        .encode(&mut Vec::new())
        .is_err()
    );
}

#[test]
fn replies() {
    let r = s(&["250-2.0.0 first", "250-2.0.0 second", "250 2.0.0"]);
    assert_eq!(r.code, ReplyCode::OK);
    assert_eq!(
        r.enhanced,
        Some(EnhancedCode {
            class: 2,
            subject: 0,
            detail: 0
        })
    );
    assert_eq!(r.lines, ["first", "second", ""]);
    let mut out = Vec::new();
    r.encode(&mut out).unwrap();
    assert_eq!(out, b"250-2.0.0 first\r\n250-2.0.0 second\r\n250 2.0.0\r\n");

    // An enhanced code of another class is text (RFC 2034 §4).
    let r = s(&["550 2.1.0 odd"]);
    assert_eq!((r.enhanced, r.lines[0].as_str()), (None, "2.1.0 odd"));
    let r = s(&["550 5.1.1 <x@y>: Recipient address rejected"]);
    assert_eq!(r.enhanced.unwrap().to_string(), "5.1.1");
    assert_eq!(r.lines, ["<x@y>: Recipient address rejected"]);
    assert_eq!(s(&["554 5.7.1234 x"]).enhanced, None);
    assert_eq!(s(&["354 Go ahead"]).enhanced, None);

    // RFC 4954 §4: an empty challenge is "334 ".
    let r = s(&["334 "]);
    assert_eq!(r.lines, [""]);
    out.clear();
    r.encode(&mut out).unwrap();
    assert_eq!(out, b"334 \r\n");
    assert_eq!(s(&["250"]).lines, [""]);

    let mut p = ReplyParser::default();
    assert_eq!(p.feed_line(b"250-a").unwrap(), None);
    assert!(p.is_partial());
    assert_eq!(
        p.feed_line(b"251 b"),
        Err(ReplyError::InconsistentCode {
            expected: ReplyCode::OK,
            found: ReplyCode::new(251).unwrap()
        })
    );
    assert!(!p.is_partial());
    for bad in [
        &b"600 x"[..],
        b"25 x",
        b"2500",
        b"250x",
        b"abc",
        b"",
        b"260 x",
        b"199 x",
    ] {
        assert!(p.feed_line(bad).is_err(), "{bad:?}");
    }
    assert!(matches!(
        p.feed_line(b"250 a\0"),
        Err(ReplyError::ForbiddenByte { byte: 0, offset: 5 })
    ));
    let mut limits = ReplyLimits::default();
    limits.max_lines = 3;
    let mut p = ReplyParser::new(limits);
    for _ in 0..3 {
        assert_eq!(p.feed_line(b"250-x").unwrap(), None);
    }
    assert_eq!(
        p.feed_line(b"250 x"),
        Err(ReplyError::TooManyLines { max: 3 })
    );
    let long = format!("250 {}", "x".repeat(507));
    assert!(matches!(
        ReplyParser::default().feed_line(long.as_bytes()),
        Err(ReplyError::LineTooLong {
            length: 513,
            max: 512
        })
    ));
    // Latin-1 text from old servers is kept, lossily.
    assert_eq!(s(&["250 gr\u{fc}\u{df}e"]).lines[0], "grüße");
    assert_eq!(
        ReplyLine::parse(b"250 caf\xe9").unwrap().text,
        "caf\u{fffd}"
    );

    let bad = Reply {
        code: ReplyCode::OK,
        enhanced: Some(EnhancedCode {
            class: 5,
            subject: 0,
            detail: 0,
        }),
        lines: vec![],
    };
    assert!(bad.encode(&mut Vec::new()).is_err());
    let bad = Reply::new(ReplyCode::OK, None, "a\r\n250 injected");
    assert!(matches!(
        bad.encode(&mut Vec::new()),
        Err(EncodeError::ForbiddenByte { byte: b'\r', .. })
    ));
}

#[test]
fn ehlo_capabilities() {
    let r = s(&[
        "250-mx.example.org Hello [192.0.2.1]",
        "250-PIPELINING",
        "250-SIZE 35882577",
        "250-8bitmime",
        "250-SMTPUTF8",
        "250-CHUNKING",
        "250-BINARYMIME",
        "250-DSN",
        "250-ENHANCEDSTATUSCODES",
        "250-STARTTLS",
        "250-AUTH=LOGIN PLAIN",
        "250-AUTH PLAIN LOGIN cram-md5 XOAUTH2",
        "250-REQUIRETLS",
        "250-X-EXPS GSSAPI NTLM",
        "250-??? ignored",
        "250 XXFORWARD NAME ADDR",
    ]);
    let caps = Capabilities::from_ehlo_reply(&r);
    assert!(caps.pipelining && caps.eight_bit_mime && caps.smtputf8 && caps.chunking);
    assert!(caps.binary_mime && caps.dsn && caps.enhanced_status_codes && caps.starttls);
    assert!(caps.requiretls && caps.auth_legacy);
    assert_eq!(caps.size, Some(35882577));
    assert_eq!(caps.auth, ["LOGIN", "PLAIN", "CRAM-MD5", "XOAUTH2"]);
    assert!(caps.supports_auth("cram-md5"));
    assert_eq!(
        caps.other("x-exps"),
        Some(&["GSSAPI".to_string(), "NTLM".to_string()][..])
    );
    assert_eq!(caps.other.len(), 2);

    let mut out = Vec::new();
    caps.ehlo_reply("mx.example.org").encode(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("250-mx.example.org\r\n250-SIZE 35882577\r\n250-PIPELINING\r\n"));
    assert!(text.contains(
        "250-AUTH=LOGIN PLAIN CRAM-MD5 XOAUTH2\r\n250-AUTH LOGIN PLAIN CRAM-MD5 XOAUTH2\r\n"
    ));
    assert!(text.ends_with("250 XXFORWARD NAME ADDR\r\n"));

    let mut caps = Capabilities::default();
    caps.size = Some(0);
    assert_eq!(caps.to_lines(), ["SIZE"]);
    let mut c2 = Capabilities::default();
    c2.add_line("SIZE 0");
    assert_eq!(c2, caps);
    let only = Capabilities::from_ehlo_reply(&s(&["250 mx.example.org"]));
    assert_eq!(only, Capabilities::default());
}

#[test]
fn parse_error_reply_mapping() {
    for (line, want, enh) in [
        ("FOO:", 500, "5.5.1"),
        ("HELO -bad", 501, "5.5.2"),
        ("MAIL FROM:<a@b.c> BODY=X", 504, "5.5.4"),
        ("MAIL FROM:<a..b@c.d>", 501, "5.1.7"),
        ("RCPT TO:<a..b@c.d>", 501, "5.1.3"),
        ("BDAT 99999999999999999999", 552, "5.3.4"),
    ] {
        let e = c_err(line);
        assert_eq!(
            (code(&e), e.enhanced_code().to_string().as_str()),
            (want, enh),
            "{line}"
        );
    }
}
