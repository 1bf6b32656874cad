//! POP3 vocabulary: parsers and encoders against the RFC examples, plus property tests.

use mailproto_core::pop3::{
    Capabilities, Capability, Command, DropListing, EncodeError, Expiry, Greeting, Limits,
    NumberError, ParseError, Response, ResponseCode, ScanListing, Secret, Status, StatusIndicator,
    UniqueId, UniqueIdListing, apop_digest,
};

fn limits() -> Limits {
    Limits::default()
}

/// `C:` a command line, as the framing layer hands it over (no CRLF).
fn c(line: &str) -> Command {
    Command::parse(line.as_bytes(), &limits())
        .unwrap_or_else(|e| panic!("C: {line} did not parse: {e}"))
}

fn c_err(line: &str) -> ParseError {
    match Command::parse(line.as_bytes(), &limits()) {
        Ok(cmd) => panic!("C: {line} parsed as {cmd:?}"),
        Err(e) => e,
    }
}

/// `S:` a status line.
fn s(line: &str) -> Status {
    Status::parse(line.as_bytes(), &limits())
        .unwrap_or_else(|e| panic!("S: {line} did not parse: {e}"))
}

fn encode(cmd: &Command) -> String {
    let mut out = Vec::new();
    cmd.encode(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn encode_status(status: &Status) -> String {
    let mut out = Vec::new();
    status.encode(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

// ------------------------------------------------------------------------------------
// RFC 1939 examples

#[test]
fn rfc1939_section5_transaction_commands() {
    // C: STAT / S: +OK 2 320
    assert_eq!(c("STAT"), Command::Stat);
    let stat = DropListing::from_status(&s("+OK 2 320")).unwrap();
    assert_eq!(
        stat,
        DropListing {
            count: 2,
            size: 320
        }
    );

    // C: LIST / S: +OK 2 messages (320 octets) / S: 1 120 / S: 2 200 / S: .
    assert_eq!(c("LIST"), Command::List(None));
    assert_eq!(
        s("+OK 2 messages (320 octets)").text,
        "2 messages (320 octets)"
    );
    assert_eq!(
        ScanListing::parse(b"1 120").unwrap(),
        ScanListing { msg: 1, size: 120 }
    );
    assert_eq!(
        ScanListing::parse(b"2 200").unwrap(),
        ScanListing { msg: 2, size: 200 }
    );
    // C: LIST 2 / S: +OK 2 200
    assert_eq!(c("LIST 2"), Command::List(Some(2)));
    assert_eq!(
        ScanListing::from_status(&s("+OK 2 200")).unwrap(),
        ScanListing { msg: 2, size: 200 }
    );
    // C: LIST 3 / S: -ERR no such message, only 2 messages in maildrop
    assert_eq!(c("LIST 3"), Command::List(Some(3)));
    let err = s("-ERR no such message, only 2 messages in maildrop");
    assert_eq!(err.indicator, StatusIndicator::Err);
    assert!(matches!(
        ScanListing::from_status(&err),
        Err(ParseError::NegativeResponse { .. })
    ));

    // C: RETR 1 / S: +OK 120 octets
    assert_eq!(c("RETR 1"), Command::Retr(1));
    assert_eq!(s("+OK 120 octets"), Status::ok("120 octets"));
    // C: DELE 1 / S: +OK message 1 deleted ; C: DELE 2 / S: -ERR message 2 already deleted
    assert_eq!(c("DELE 1"), Command::Dele(1));
    assert_eq!(c("DELE 2"), Command::Dele(2));
    assert_eq!(
        s("-ERR message 2 already deleted"),
        Status::err("message 2 already deleted")
    );
    // C: NOOP / S: +OK
    assert_eq!(c("NOOP"), Command::Noop);
    assert_eq!(s("+OK"), Status::ok(""));
    // C: RSET / S: +OK maildrop has 2 messages (320 octets)
    assert_eq!(c("RSET"), Command::Rset);
    assert!(s("+OK maildrop has 2 messages (320 octets)").is_ok());
}

#[test]
fn rfc1939_section6_and_7_commands() {
    // C: QUIT / S: +OK dewey POP3 server signing off (maildrop empty)
    assert_eq!(c("QUIT"), Command::Quit);
    assert_eq!(
        s("+OK dewey POP3 server signing off (2 messages left)").text,
        "dewey POP3 server signing off (2 messages left)"
    );
    // C: TOP 1 10 / S: +OK ; C: TOP 100 3 / S: -ERR no such message
    assert_eq!(c("TOP 1 10"), Command::Top { msg: 1, lines: 10 });
    assert_eq!(c("TOP 100 3"), Command::Top { msg: 100, lines: 3 });
    assert_eq!(c("TOP 1 0"), Command::Top { msg: 1, lines: 0 });
    assert_eq!(s("-ERR no such message"), Status::err("no such message"));
    // C: UIDL / S: +OK / S: 1 whqtswO00WBw418f9t5JxYwZ / S: 2 QhdPYR:00WBw1Ph7x7 / S: .
    assert_eq!(c("UIDL"), Command::Uidl(None));
    let l1 = UniqueIdListing::parse(b"1 whqtswO00WBw418f9t5JxYwZ").unwrap();
    assert_eq!(l1.msg, 1);
    assert_eq!(l1.uid.as_str(), "whqtswO00WBw418f9t5JxYwZ");
    let l2 = UniqueIdListing::parse(b"2 QhdPYR:00WBw1Ph7x7").unwrap();
    assert_eq!(l2.uid, UniqueId::new("QhdPYR:00WBw1Ph7x7").unwrap());
    // C: UIDL 2 / S: +OK 2 QhdPYR:00WBw1Ph7x7
    assert_eq!(c("UIDL 2"), Command::Uidl(Some(2)));
    assert_eq!(
        UniqueIdListing::from_status(&s("+OK 2 QhdPYR:00WBw1Ph7x7")).unwrap(),
        l2
    );
    // C: USER frated / S: -ERR sorry, no mailbox for frated here
    assert_eq!(c("USER frated"), Command::User("frated".into()));
    assert_eq!(c("USER mrose"), Command::User("mrose".into()));
    // C: PASS secret / S: -ERR maildrop already locked
    assert_eq!(c("PASS secret"), Command::Pass(Secret::from("secret")));
    // C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
    assert_eq!(
        c("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
        Command::Apop {
            name: "mrose".into(),
            digest: "c4c9334bac560ecc979e58001b3e22fb".into()
        }
    );
}

#[test]
fn rfc1939_section10_session() {
    let transcript = "\
S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
S: +OK mrose's maildrop has 2 messages (320 octets)
C: STAT
S: +OK 2 320
C: LIST
S: +OK 2 messages (320 octets)
S: 1 120
S: 2 200
S: .
C: RETR 1
S: +OK 120 octets
C: DELE 1
S: +OK message 1 deleted
C: RETR 2
S: +OK 200 octets
C: DELE 2
S: +OK message 2 deleted
C: QUIT
S: +OK dewey POP3 server signing off (maildrop empty)";
    let expected = [
        Command::Apop {
            name: "mrose".into(),
            digest: "c4c9334bac560ecc979e58001b3e22fb".into(),
        },
        Command::Stat,
        Command::List(None),
        Command::Retr(1),
        Command::Dele(1),
        Command::Retr(2),
        Command::Dele(2),
        Command::Quit,
    ];
    let mut commands = Vec::new();
    for line in transcript.lines() {
        let (who, text) = line.split_at(3);
        if who == "C: " {
            let cmd = c(text);
            // Every client line is also what the encoder writes.
            assert_eq!(encode(&cmd), format!("{text}\r\n"));
            commands.push(cmd);
        } else if text.starts_with(['+', '-']) {
            let status = s(text);
            assert!(status.is_ok());
            assert_eq!(encode_status(&status), format!("{text}\r\n"));
        } else if text != "." {
            ScanListing::parse(text.as_bytes()).unwrap();
        }
    }
    assert_eq!(commands, expected);

    let greeting = Greeting::parse(
        b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
        &limits(),
    )
    .unwrap();
    let timestamp = greeting.apop_timestamp().unwrap();
    assert_eq!(timestamp, "<1896.697170952@dbc.mtview.ca.us>");
    assert_eq!(
        apop_digest(timestamp, b"tanstaaf"),
        "c4c9334bac560ecc979e58001b3e22fb"
    );
    assert_eq!(Command::apop("mrose", timestamp, b"tanstaaf"), expected[0]);
}

// ------------------------------------------------------------------------------------
// Commands: case, arguments, numbers, limits

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(c("stat"), Command::Stat);
    assert_eq!(c("StAt"), Command::Stat);
    assert_eq!(c("top 1 2"), Command::Top { msg: 1, lines: 2 });
    assert_eq!(c("capa"), Command::Capa);
    assert_eq!(c("stls"), Command::Stls);
    assert_eq!(c("utf8"), Command::Utf8);
    assert_eq!(encode(&c("retr 7")), "RETR 7\r\n");
}

#[test]
fn lenient_spaces_in_commands() {
    assert_eq!(c("STAT "), Command::Stat);
    assert_eq!(c("RETR   3  "), Command::Retr(3));
    assert_eq!(c("USER  bob"), Command::User("bob".into()));
    assert_eq!(c("RETR 007"), Command::Retr(7));
    // PASS keeps everything after one space (RFC 1939 §7).
    assert_eq!(
        c("PASS  two words "),
        Command::Pass(Secret::from(" two words "))
    );
    assert_eq!(c("PASS "), Command::Pass(Secret::from("")));
}

#[test]
fn argument_counts() {
    assert!(matches!(
        c_err("STAT 1"),
        ParseError::TooManyArguments {
            command: "STAT",
            ..
        }
    ));
    assert!(matches!(
        c_err("QUIT now"),
        ParseError::TooManyArguments { .. }
    ));
    assert!(matches!(
        c_err("USER"),
        ParseError::MissingArgument {
            command: "USER",
            ..
        }
    ));
    assert!(matches!(
        c_err("USER a b"),
        ParseError::TooManyArguments { .. }
    ));
    assert!(matches!(
        c_err("PASS"),
        ParseError::MissingArgument {
            command: "PASS",
            ..
        }
    ));
    assert!(matches!(
        c_err("APOP mrose"),
        ParseError::MissingArgument { .. }
    ));
    assert!(matches!(c_err("RETR"), ParseError::MissingArgument { .. }));
    assert!(matches!(c_err("TOP 1"), ParseError::MissingArgument { .. }));
    assert!(matches!(
        c_err("TOP 1 2 3"),
        ParseError::TooManyArguments { .. }
    ));
    assert!(matches!(
        c_err("LIST 1 2"),
        ParseError::TooManyArguments { .. }
    ));
    assert!(matches!(
        c_err("APOP mrose c4c9"),
        ParseError::InvalidArgument { .. }
    ));
}

#[test]
fn bad_numbers() {
    let zero = c_err("RETR 0");
    assert!(matches!(
        zero,
        ParseError::InvalidNumber {
            reason: NumberError::Zero,
            ..
        }
    ));
    assert_eq!(zero.reply_text(), "No such message");
    assert_eq!(
        zero.to_string(),
        "invalid message number \"0\": message numbers start at 1"
    );
    assert!(matches!(
        c_err("DELE 4294967296"),
        ParseError::InvalidNumber {
            reason: NumberError::Overflow,
            ..
        }
    ));
    assert_eq!(c("DELE 4294967295"), Command::Dele(u32::MAX));
    assert!(matches!(
        c_err("LIST 99999999999999999999999999"),
        ParseError::InvalidNumber {
            reason: NumberError::Overflow,
            ..
        }
    ));
    for bad in [
        "RETR -1",
        "RETR +1",
        "RETR 1a",
        "LIST x",
        "TOP 1 -1",
        "UIDL 0x10",
    ] {
        assert!(
            matches!(c_err(bad), ParseError::InvalidNumber { .. }),
            "{bad}"
        );
    }
    assert!(matches!(
        c_err("LIST 0"),
        ParseError::InvalidNumber {
            reason: NumberError::Zero,
            ..
        }
    ));
}

#[test]
fn keywords_and_unknown_commands() {
    assert_eq!(
        c("XTND XMIT  foo"),
        Command::Unknown {
            keyword: "XTND".into(),
            args: vec!["XMIT".into(), "foo".into()]
        }
    );
    assert_eq!(
        c("xyz"),
        Command::Unknown {
            keyword: "xyz".into(),
            args: vec![]
        }
    );
    assert!(matches!(c_err("ST"), ParseError::InvalidKeyword { .. }));
    assert!(matches!(c_err("STATS"), ParseError::InvalidKeyword { .. }));
    assert!(matches!(c_err(" STAT"), ParseError::InvalidKeyword { .. }));
    assert_eq!(c_err(""), ParseError::Empty);
    assert!(matches!(
        Command::parse(b"STAT\x00", &limits()),
        Err(ParseError::InvalidByte { byte: 0, offset: 4 })
    ));
    assert!(matches!(
        Command::parse(b"USER a\tb", &limits()),
        Err(ParseError::InvalidByte { byte: b'\t', .. })
    ));
    assert!(matches!(
        Command::parse(b"USER \xff", &limits()),
        Err(ParseError::NotUtf8 { .. })
    ));
    assert_eq!(c("USER j\u{f6}rg"), Command::User("j\u{f6}rg".into()));
}

#[test]
fn auth_forms() {
    assert_eq!(c("AUTH"), Command::AuthList);
    assert_eq!(
        c("AUTH plain"),
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: None
        }
    );
    assert_eq!(
        c("AUTH PLAIN ="),
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: Some(Secret::default())
        }
    );
    assert_eq!(
        c("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q="),
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: Some(Secret::from("dGVzdAB0ZXN0AHRlc3Q="))
        }
    );
    assert_eq!(encode(&c("AUTH PLAIN =")), "AUTH PLAIN =\r\n");
    assert_eq!(encode(&Command::AuthList), "AUTH\r\n");
    let bad = c_err("AUTH PLAIN hunter2!");
    assert!(matches!(bad, ParseError::InvalidArgument { .. }));
    assert!(!bad.to_string().contains("hunter2"));
    let extra = c_err("AUTH PLAIN abc hunter2");
    assert!(!extra.to_string().contains("hunter2"));
    assert!(matches!(
        c_err("AUTH PL@IN"),
        ParseError::InvalidArgument { .. }
    ));
}

#[test]
fn secrets_are_masked() {
    let pass = c("PASS tanstaaf");
    assert!(!format!("{pass:?}").contains("tanstaaf"));
    let auth = c("AUTH PLAIN dGFuc3RhYWY=");
    assert!(!format!("{auth:?}").contains("dGFuc3RhYWY"));
    let Command::Pass(secret) = pass else {
        panic!()
    };
    assert_eq!(secret.expose(), "tanstaaf");
    let mut out = Vec::new();
    let err = Command::Pass(Secret::from("tan\x01staaf"))
        .encode(&mut out)
        .unwrap_err();
    assert!(!err.to_string().contains("staaf"));
    // NotUtf8 in a password does not echo it either.
    let err = Command::parse(b"PASS hunter\xff2", &limits()).unwrap_err();
    assert!(!err.to_string().contains("hunter"), "{err}");
}

#[test]
fn utf8_and_lang() {
    assert_eq!(c("UTF8"), Command::Utf8);
    assert_eq!(c("LANG"), Command::Lang(None));
    assert_eq!(c("LANG es"), Command::Lang(Some("es".into())));
    assert_eq!(c("LANG *"), Command::Lang(Some("*".into())));
    assert_eq!(encode(&Command::Lang(Some("sv".into()))), "LANG sv\r\n");
}

#[test]
fn over_long_lines() {
    // 253 octets + CRLF = 255: allowed (RFC 2449 §4).
    let ok = format!("USER {}", "a".repeat(248));
    assert_eq!(ok.len(), 253);
    assert!(Command::parse(ok.as_bytes(), &limits()).is_ok());
    let long = format!("USER {}", "a".repeat(249));
    let err = c_err(&long);
    assert_eq!(
        err,
        ParseError::LineTooLong {
            len: 256,
            limit: 255
        }
    );
    assert_eq!(err.reply_text(), "Command line too long");
    // PASS and AUTH get the credential allowance; strict limits refuse them.
    let pass = format!("PASS {}", "p".repeat(1000));
    assert!(Command::parse(pass.as_bytes(), &limits()).is_ok());
    assert!(matches!(
        Command::parse(pass.as_bytes(), &Limits::STRICT),
        Err(ParseError::LineTooLong { .. })
    ));
    let auth = format!("AUTH XOAUTH2 {}", "A".repeat(2000));
    assert!(Command::parse(auth.as_bytes(), &limits()).is_ok());
    // A huge line is refused without looking further, and the error stays short.
    let huge = vec![b'x'; 1 << 20];
    let err = Command::parse(&huge, &limits()).unwrap_err();
    assert!(err.to_string().len() < 100);
    // Status lines: 512 octets with CRLF.
    let status = format!("+OK {}", "t".repeat(506));
    assert!(Status::parse(status.as_bytes(), &limits()).is_ok());
    let status = format!("+OK {}", "t".repeat(507));
    assert!(matches!(
        Status::parse(status.as_bytes(), &limits()),
        Err(ParseError::LineTooLong {
            len: 513,
            limit: 512
        })
    ));
    let capa = format!("IMPLEMENTATION {}", "t".repeat(600));
    assert!(matches!(
        Capability::parse(capa.as_bytes(), &limits()),
        Err(ParseError::LineTooLong { .. })
    ));
    let mut custom = Limits::default();
    custom.command_line = 1000;
    assert!(Command::parse(long.as_bytes(), &custom).is_ok());
}

#[test]
fn error_display_is_bounded() {
    let line = format!("RETR {}", "9".repeat(200));
    let err = c_err(&line);
    let text = err.to_string();
    assert!(text.contains("999"), "{text}");
    assert!(text.contains("..."), "{text}");
    assert!(text.len() < 120, "{text}");
    let err = Status::parse(b"*OK \x01\x02", &limits()).unwrap_err();
    assert!(err.to_string().contains("\\x01"), "{err}");
}

#[test]
fn encoders_refuse_line_breaks_and_nul() {
    let mut out = b"keep".to_vec();
    for cmd in [
        Command::User("a\r\nDELE 1".into()),
        Command::User("a b".into()),
        Command::User(String::new()),
        Command::Pass(Secret::from("x\nQUIT")),
        Command::Pass(Secret::from("x\0")),
        Command::Lang(Some("e\rs".into())),
        Command::Apop {
            name: "m".into(),
            digest: "xyz".into(),
        },
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: Some(Secret::from("=")),
        },
        Command::Auth {
            mechanism: "PL AIN".into(),
            initial_response: None,
        },
        Command::Retr(0),
        Command::Top { msg: 0, lines: 1 },
        Command::Unknown {
            keyword: "STAT".into(),
            args: vec![],
        },
        Command::Unknown {
            keyword: "XTNDX".into(),
            args: vec![],
        },
        Command::Unknown {
            keyword: "\u{e9}1".into(),
            args: vec![],
        },
        Command::Unknown {
            keyword: "XTND".into(),
            args: vec!["a\r\n".into()],
        },
    ] {
        assert!(cmd.encode(&mut out).is_err(), "{cmd:?}");
        assert_eq!(out, b"keep", "{cmd:?} left partial output");
    }
    assert_eq!(
        Command::User("a\r\nDELE 1".into()).encode(&mut out),
        Err(EncodeError::ForbiddenByte {
            field: "user name",
            byte: b'\r'
        })
    );
    assert!(Status::ok("fine\r\n+OK injected").encode(&mut out).is_err());
    assert!(
        Response::Continuation("a\nb".into())
            .encode(&mut out)
            .is_err()
    );
    assert!(
        Status::err("x")
            .with_code(ResponseCode::Other("A]B".into()))
            .encode(&mut out)
            .is_err()
    );
    assert!(
        ScanListing { msg: 0, size: 1 }
            .encode_line(&mut out)
            .is_err()
    );
    assert_eq!(out, b"keep");
}

// ------------------------------------------------------------------------------------
// Responses

#[test]
fn response_codes() {
    let st = s("-ERR [IN-USE] Do you have another POP session running?");
    assert_eq!(st.code, Some(ResponseCode::InUse));
    assert_eq!(st.text, "Do you have another POP session running?");
    assert_eq!(
        encode_status(&st),
        "-ERR [IN-USE] Do you have another POP session running?\r\n"
    );
    assert_eq!(
        s("-ERR [LOGIN-DELAY] wait").code,
        Some(ResponseCode::LoginDelay)
    );
    assert_eq!(s("-ERR [SYS/TEMP] later").code, Some(ResponseCode::SysTemp));
    assert_eq!(s("-ERR [sys/perm] call").code, Some(ResponseCode::SysPerm));
    assert_eq!(s("-ERR [AUTH] bad").code, Some(ResponseCode::Auth));
    assert_eq!(s("-ERR [UTF8] needs UTF8").code, Some(ResponseCode::Utf8));
    // Unknown detail of a known code is ignored (RFC 2449 §8).
    assert_eq!(s("-ERR [IN-USE/EXTRA] x").code, Some(ResponseCode::InUse));
    assert_eq!(
        s("-ERR [SYS/TEMP/DISK] x").code,
        Some(ResponseCode::SysTemp)
    );
    // Unknown codes are kept whole.
    let st = s("-ERR [FOO/BAR] x");
    assert_eq!(st.code, Some(ResponseCode::Other("FOO/BAR".into())));
    assert_eq!(encode_status(&st), "-ERR [FOO/BAR] x\r\n");
    assert_eq!(
        s("-ERR [SYS] x").code,
        Some(ResponseCode::Other("SYS".into()))
    );
    // Not a code: stays text.
    assert_eq!(s("-ERR [oops no close"), Status::err("[oops no close"));
    assert_eq!(s("-ERR [] empty"), Status::err("[] empty"));
    assert_eq!(s("+OK [A//B] x").code, None);
    // Code without text.
    let st = s("-ERR [AUTH]");
    assert_eq!((st.code, st.text.as_str()), (Some(ResponseCode::Auth), ""));
    assert_eq!(ResponseCode::SysTemp.as_str(), "SYS/TEMP");
}

#[test]
fn lenient_status_lines() {
    assert_eq!(s("+OK"), Status::ok(""));
    assert_eq!(s("+OK "), Status::ok(""));
    assert_eq!(s("+ok  hello"), Status::ok("hello"));
    assert_eq!(s("-err"), Status::err(""));
    assert_eq!(
        s("+OK text with trailing  "),
        Status::ok("text with trailing  ")
    );
    assert_eq!(s("+OK caf\u{e9}").text, "caf\u{e9}");
    assert_eq!(
        Status::parse(b"+OK caf\xe9", &limits()).unwrap().text,
        "caf\u{fffd}"
    );
    for bad in ["+OKAY", "OK", "", "+", "-ER", "* OK"] {
        assert!(
            matches!(
                Status::parse(bad.as_bytes(), &limits()),
                Err(ParseError::InvalidStatus { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        Status::parse(b"+OK a\0b", &limits()),
        Err(ParseError::InvalidByte { byte: 0, offset: 5 })
    ));
    assert_eq!(encode_status(&Status::ok("")), "+OK\r\n");
}

#[test]
fn lenient_stat_and_list() {
    let stat = |t: &str| DropListing::from_status(&s(t));
    assert_eq!(
        stat("+OK 2 320").unwrap(),
        DropListing {
            count: 2,
            size: 320
        }
    );
    assert_eq!(
        stat("+OK   2   320  ").unwrap(),
        DropListing {
            count: 2,
            size: 320
        }
    );
    assert_eq!(
        stat("+OK 2 320 messages follow").unwrap(),
        DropListing {
            count: 2,
            size: 320
        }
    );
    assert_eq!(stat("+OK 0 0").unwrap(), DropListing { count: 0, size: 0 });
    assert_eq!(
        stat("+OK 1 8589934592").unwrap(),
        DropListing {
            count: 1,
            size: 8_589_934_592
        }
    );
    assert!(stat("+OK").is_err());
    assert!(stat("+OK 2").is_err());
    assert!(stat("+OK 2 320octets").is_err());
    assert!(stat("+OK two 320").is_err());
    assert!(matches!(
        stat("+OK 4294967296 1"),
        Err(ParseError::InvalidNumber {
            reason: NumberError::Overflow,
            ..
        })
    ));
    assert!(matches!(
        stat("-ERR locked"),
        Err(ParseError::NegativeResponse { .. })
    ));

    assert_eq!(
        ScanListing::parse(b"1  120 extra info").unwrap(),
        ScanListing { msg: 1, size: 120 }
    );
    assert!(matches!(
        ScanListing::parse(b"0 120"),
        Err(ParseError::InvalidNumber {
            reason: NumberError::Zero,
            ..
        })
    ));
    assert!(ScanListing::parse(b"1").is_err());
    assert!(ScanListing::parse(b"1 -5").is_err());

    let mut out = Vec::new();
    DropListing {
        count: 2,
        size: 320,
    }
    .encode(&mut out)
    .unwrap();
    ScanListing { msg: 1, size: 120 }
        .encode_line(&mut out)
        .unwrap();
    ScanListing { msg: 2, size: 200 }
        .encode_status(&mut out)
        .unwrap();
    assert_eq!(out, b"+OK 2 320\r\n1 120\r\n+OK 2 200\r\n");
}

#[test]
fn unique_ids() {
    assert!(UniqueId::new("a".repeat(70)).is_ok());
    assert!(UniqueId::new("a".repeat(71)).is_err());
    assert!(UniqueId::new("").is_err());
    assert!(UniqueId::new("has space").is_err());
    assert!(UniqueId::new("tab\there").is_err());
    assert!(UniqueId::new("caf\u{e9}").is_err());
    assert!(matches!(
        UniqueIdListing::parse(format!("1 {}", "x".repeat(71)).as_bytes()),
        Err(ParseError::InvalidUniqueId { .. })
    ));
    let l = UniqueIdListing::parse(b"3  abc  trailing").unwrap();
    assert_eq!((l.msg, l.uid.as_str()), (3, "abc"));
    assert!(UniqueIdListing::parse(b"3").is_err());
    let mut out = Vec::new();
    l.encode_line(&mut out).unwrap();
    l.encode_status(&mut out).unwrap();
    assert_eq!(out, b"3 abc\r\n+OK 3 abc\r\n");
}

#[test]
fn sasl_continuations() {
    let r = |l: &[u8]| Response::parse(l, &limits()).unwrap();
    assert_eq!(r(b"+ "), Response::Continuation(String::new()));
    assert_eq!(r(b"+"), Response::Continuation(String::new()));
    assert_eq!(
        r(b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+"),
        Response::Continuation("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+".into())
    );
    assert_eq!(r(b"+OK done"), Response::Status(Status::ok("done")));
    assert_eq!(
        r(b"-ERR [AUTH] no"),
        Response::Status(Status::err("no").with_code(ResponseCode::Auth))
    );
    let mut out = Vec::new();
    Response::Continuation(String::new())
        .encode(&mut out)
        .unwrap();
    assert_eq!(out, b"+ \r\n");
}

#[test]
fn greeting_timestamps() {
    let g = |l: &str| Greeting::parse(l.as_bytes(), &limits()).unwrap();
    assert_eq!(g("+OK ready").apop_timestamp(), None);
    assert_eq!(g("+OK ready <no-at-sign>").apop_timestamp(), None);
    assert_eq!(g("+OK ready <a b@c>").apop_timestamp(), None);
    assert_eq!(g("+OK ready <@c>").apop_timestamp(), None);
    assert_eq!(g("+OK ready <a@>").apop_timestamp(), None);
    assert_eq!(g("+OK ready <1.2@h").apop_timestamp(), None);
    assert_eq!(g("-ERR [SYS/TEMP] busy <1.2@h>").apop_timestamp(), None);
    assert_eq!(g("+OK <<1.2@h>").apop_timestamp(), Some("<1.2@h>"));
    assert_eq!(g("+OK <1.2@h> ready").apop_timestamp(), Some("<1.2@h>"));
    assert_eq!(
        g("+OK [SYS/TEMP] <1.2@h>").apop_timestamp(),
        Some("<1.2@h>")
    );
    let long = format!("+OK <{}@h>", "1".repeat(300));
    assert_eq!(g(&long).apop_timestamp(), None);
    let built = Greeting::with_timestamp("POP3 server ready", "<1896.697170952@dbc.mtview.ca.us>");
    let mut out = Vec::new();
    built.encode(&mut out).unwrap();
    assert_eq!(
        out,
        b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
    );
}

#[test]
fn apop_digest_rfc1939_example() {
    assert_eq!(
        apop_digest("<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"),
        "c4c9334bac560ecc979e58001b3e22fb"
    );
    // Upper-case digests are accepted and lowered.
    assert_eq!(
        c("APOP mrose C4C9334BAC560ECC979E58001B3E22FB"),
        c("APOP mrose c4c9334bac560ecc979e58001b3e22fb")
    );
}

// ------------------------------------------------------------------------------------
// CAPA

const RFC2449_CAPA: &str = "TOP\r\nUSER\r\nSASL CRAM-MD5 KERBEROS_V4\r\nRESP-CODES\r\n\
LOGIN-DELAY 900\r\nPIPELINING\r\nEXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n";

#[test]
fn capa_rfc2449_example() {
    let mut caps = Capabilities::new();
    for line in RFC2449_CAPA.split_terminator("\r\n") {
        caps.parse_line(line.as_bytes(), &limits()).unwrap();
    }
    let expected: Capabilities = [
        Capability::Top,
        Capability::User,
        Capability::Sasl(vec!["CRAM-MD5".into(), "KERBEROS_V4".into()]),
        Capability::RespCodes,
        Capability::LoginDelay {
            seconds: 900,
            per_user: false,
        },
        Capability::Pipelining,
        Capability::Expire {
            expiry: Expiry::Days(60),
            per_user: false,
        },
        Capability::Uidl,
        Capability::Implementation("Shlemazle-Plotz-v302".into()),
    ]
    .into_iter()
    .collect();
    assert_eq!(caps, expected);
    assert!(caps.contains("top") && caps.contains("PIPELINING") && !caps.contains("STLS"));
    assert_eq!(caps.sasl_mechanisms(), ["CRAM-MD5", "KERBEROS_V4"]);
    let mut out = Vec::new();
    caps.encode(&mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), RFC2449_CAPA);
}

#[test]
fn capa_other_tags() {
    let p = |l: &str| Capability::parse(l.as_bytes(), &limits());
    assert_eq!(p("stls").unwrap(), Capability::Stls);
    assert_eq!(p("AUTH-RESP-CODE").unwrap(), Capability::AuthRespCode);
    assert_eq!(p("UTF8").unwrap(), Capability::Utf8 { user: false });
    assert_eq!(p("UTF8 USER").unwrap(), Capability::Utf8 { user: true });
    assert_eq!(p("LANG").unwrap(), Capability::Lang);
    assert_eq!(
        p("LOGIN-DELAY 900 USER").unwrap(),
        Capability::LoginDelay {
            seconds: 900,
            per_user: true
        }
    );
    assert_eq!(
        p("EXPIRE never").unwrap(),
        Capability::Expire {
            expiry: Expiry::Never,
            per_user: false
        }
    );
    assert_eq!(
        p("EXPIRE 0 USER").unwrap(),
        Capability::Expire {
            expiry: Expiry::Days(0),
            per_user: true
        }
    );
    assert_eq!(p("SASL").unwrap(), Capability::Sasl(vec![]));
    assert_eq!(
        p("sasl plain  login").unwrap(),
        Capability::Sasl(vec!["PLAIN".into(), "LOGIN".into()])
    );
    assert_eq!(
        p("IMPLEMENTATION  My Server 1.0").unwrap(),
        Capability::Implementation("My Server 1.0".into())
    );
    assert_eq!(
        p("X-FOO a b").unwrap(),
        Capability::Other {
            tag: "X-FOO".into(),
            args: vec!["a".into(), "b".into()]
        }
    );
    assert!(matches!(
        p("LOGIN-DELAY soon"),
        Err(ParseError::InvalidCapability { .. })
    ));
    assert!(matches!(
        p("LOGIN-DELAY"),
        Err(ParseError::InvalidCapability { .. })
    ));
    assert!(matches!(
        p("LOGIN-DELAY 10 ADMIN"),
        Err(ParseError::InvalidCapability { .. })
    ));
    assert!(matches!(
        p("EXPIRE +5"),
        Err(ParseError::InvalidCapability { .. })
    ));
    assert!(matches!(p(""), Err(ParseError::InvalidCapability { .. })));
    assert!(matches!(p(".X"), Err(ParseError::InvalidCapability { .. })));
    assert!(matches!(p("TOP\tX"), Err(ParseError::InvalidByte { .. })));
    let mut out = Vec::new();
    assert!(
        Capability::Other {
            tag: "TOP".into(),
            args: vec![]
        }
        .encode(&mut out)
        .is_err()
    );
    assert!(
        Capability::Implementation("a\r\nSTLS".into())
            .encode(&mut out)
            .is_err()
    );
    assert!(out.is_empty());
    // A later line with the same tag replaces the earlier one.
    let mut caps = Capabilities::new();
    caps.parse_line(b"SASL PLAIN", &limits()).unwrap();
    caps.parse_line(b"sasl LOGIN", &limits()).unwrap();
    assert_eq!(caps.len(), 1);
    assert_eq!(caps.sasl_mechanisms(), ["LOGIN"]);
}

// ------------------------------------------------------------------------------------
// Properties

mod props {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const KNOWN: [&str; 17] = [
        "USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "UTF8", "STAT", "LIST", "RETR", "DELE",
        "NOOP", "RSET", "QUIT", "TOP", "UIDL", "LANG",
    ];
    const KNOWN_TAGS: [&str; 13] = [
        "TOP",
        "USER",
        "SASL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "LOGIN-DELAY",
        "PIPELINING",
        "EXPIRE",
        "UIDL",
        "IMPLEMENTATION",
        "STLS",
        "UTF8",
        "LANG",
    ];

    fn big() -> Limits {
        let mut l = Limits::default();
        l.command_line = usize::MAX;
        l.credential_line = usize::MAX;
        l.status_line = usize::MAX;
        l.capability_line = usize::MAX;
        l.continuation_line = usize::MAX;
        l
    }

    fn token() -> impl Strategy<Value = String> {
        "[!-~\u{a0}-\u{17f}]{1,20}"
    }

    fn msg() -> impl Strategy<Value = u32> {
        1..=u32::MAX
    }

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            token().prop_map(Command::User),
            "[ -~\u{e0}-\u{ff}]{0,40}".prop_map(|p| Command::Pass(Secret::from(p))),
            (token(), "[0-9a-f]{32}").prop_map(|(name, digest)| Command::Apop { name, digest }),
            (
                "[A-Z0-9_-]{1,20}",
                prop_oneof![
                    Just(None),
                    Just(Some(String::new())),
                    "[A-Za-z0-9+/]{1,60}={0,2}".prop_map(Some),
                ]
            )
                .prop_map(|(mechanism, ir)| Command::Auth {
                    mechanism,
                    initial_response: ir.map(Secret::new)
                }),
            Just(Command::AuthList),
            Just(Command::Stls),
            Just(Command::Capa),
            Just(Command::Utf8),
            Just(Command::Stat),
            proptest::option::of(msg()).prop_map(Command::List),
            msg().prop_map(Command::Retr),
            msg().prop_map(Command::Dele),
            Just(Command::Noop),
            Just(Command::Rset),
            Just(Command::Quit),
            (msg(), any::<u32>()).prop_map(|(msg, lines)| Command::Top { msg, lines }),
            proptest::option::of(msg()).prop_map(Command::Uidl),
            proptest::option::of(token()).prop_map(Command::Lang),
            (
                "[!-~]{3,4}".prop_filter("known keyword", |k| {
                    !KNOWN.iter().any(|known| known.eq_ignore_ascii_case(k))
                }),
                vec(token(), 0..4)
            )
                .prop_map(|(keyword, args)| Command::Unknown { keyword, args }),
        ]
    }

    fn response_code() -> impl Strategy<Value = ResponseCode> {
        prop_oneof![
            Just(ResponseCode::InUse),
            Just(ResponseCode::LoginDelay),
            Just(ResponseCode::SysTemp),
            Just(ResponseCode::SysPerm),
            Just(ResponseCode::Auth),
            Just(ResponseCode::Utf8),
            "[A-Z0-9-]{1,8}(/[!-.0-\\\\^-~]{1,8}){0,2}"
                .prop_filter("known code", |c| {
                    let first = c.split('/').next().unwrap_or_default();
                    !["IN-USE", "LOGIN-DELAY", "AUTH", "UTF8"].contains(&first)
                        && !c.starts_with("SYS/TEMP")
                        && !c.starts_with("SYS/PERM")
                })
                .prop_map(ResponseCode::Other),
        ]
    }

    fn status() -> impl Strategy<Value = Status> {
        (
            prop_oneof![Just(StatusIndicator::Ok), Just(StatusIndicator::Err)],
            proptest::option::of(response_code()),
            // No leading space or '[' (those read back differently, as documented).
            "([!-Z\\\\-~\u{e0}-\u{ff}][ -~\u{e0}-\u{ff}]{0,60})?",
        )
            .prop_map(|(indicator, code, text)| Status {
                indicator,
                code,
                text,
            })
    }

    fn capability() -> impl Strategy<Value = Capability> {
        prop_oneof![
            Just(Capability::Top),
            Just(Capability::User),
            vec("[A-Z0-9_-]{1,20}", 0..5).prop_map(Capability::Sasl),
            Just(Capability::RespCodes),
            Just(Capability::AuthRespCode),
            (any::<u32>(), any::<bool>())
                .prop_map(|(seconds, per_user)| Capability::LoginDelay { seconds, per_user }),
            Just(Capability::Pipelining),
            (
                prop_oneof![any::<u32>().prop_map(Expiry::Days), Just(Expiry::Never)],
                any::<bool>()
            )
                .prop_map(|(expiry, per_user)| Capability::Expire { expiry, per_user }),
            Just(Capability::Uidl),
            "([!-~][ -~]{0,40})?".prop_map(Capability::Implementation),
            Just(Capability::Stls),
            any::<bool>().prop_map(|user| Capability::Utf8 { user }),
            Just(Capability::Lang),
            (
                "[!-\\-/-~][!-~]{0,15}".prop_filter("known tag", |t| {
                    !KNOWN_TAGS.iter().any(|k| k.eq_ignore_ascii_case(t))
                }),
                vec("[!-~]{1,10}", 0..4)
            )
                .prop_map(|(tag, args)| Capability::Other { tag, args }),
        ]
    }

    fn strip_crlf(out: &[u8]) -> &[u8] {
        out.strip_suffix(b"\r\n")
            .expect("encoders end lines with CRLF")
    }

    proptest! {
        #[test]
        fn command_roundtrip(cmd in command()) {
            let mut out = Vec::new();
            cmd.encode(&mut out).unwrap();
            let line = strip_crlf(&out);
            prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
            prop_assert_eq!(Command::parse(line, &big()).unwrap(), cmd);
        }

        #[test]
        fn status_roundtrip(status in status()) {
            let mut out = Vec::new();
            status.encode(&mut out).unwrap();
            prop_assert_eq!(Status::parse(strip_crlf(&out), &big()).unwrap(), status.clone());
            let response = Response::Status(status);
            prop_assert_eq!(Response::parse(strip_crlf(&out), &big()).unwrap(), response);
        }

        #[test]
        fn continuation_roundtrip(challenge in "[ -~]{0,80}") {
            let response = Response::Continuation(challenge);
            let mut out = Vec::new();
            response.encode(&mut out).unwrap();
            prop_assert_eq!(Response::parse(strip_crlf(&out), &big()).unwrap(), response);
        }

        #[test]
        fn listing_roundtrip(msg in msg(), size in any::<u64>(), count in any::<u32>(),
                             uid in "[!-~]{1,70}") {
            let mut out = Vec::new();
            ScanListing { msg, size }.encode_line(&mut out).unwrap();
            prop_assert_eq!(ScanListing::parse(strip_crlf(&out)).unwrap(), ScanListing { msg, size });
            let listing = UniqueIdListing { msg, uid: UniqueId::new(uid).unwrap() };
            out.clear();
            listing.encode_line(&mut out).unwrap();
            prop_assert_eq!(UniqueIdListing::parse(strip_crlf(&out)).unwrap(), listing);
            let drop = DropListing { count, size };
            out.clear();
            drop.encode(&mut out).unwrap();
            let status = Status::parse(strip_crlf(&out), &big()).unwrap();
            prop_assert_eq!(DropListing::from_status(&status).unwrap(), drop);
        }

        #[test]
        fn capa_roundtrip(caps in vec(capability(), 0..12)) {
            let caps: Capabilities = caps.into_iter().collect();
            let mut out = Vec::new();
            caps.encode(&mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            let mut back = Capabilities::new();
            for line in text.split_terminator("\r\n") {
                back.parse_line(line.as_bytes(), &big()).unwrap();
            }
            prop_assert_eq!(back, caps);
        }

        /// Whatever the encoder accepts, the parser reads back (up to the documented
        /// normalisations: digest in lower case, mechanism in upper case).
        #[test]
        fn encoder_and_parser_agree(
            kind in 0..6u8,
            a in "[ -~\u{80}-\u{ff}\t\r\n\x00\x7f]{0,8}",
            b in "[ -~\u{80}-\u{ff}\t\r\n\x00\x7f]{0,34}",
        ) {
            let cmd = match kind {
                0 => Command::User(a.clone()),
                1 => Command::Pass(Secret::from(b.clone())),
                2 => Command::Apop { name: a.clone(), digest: b.clone() },
                3 => Command::Auth {
                    mechanism: a.clone(),
                    initial_response: Some(Secret::from(b.clone())),
                },
                4 => Command::Lang(Some(a.clone())),
                _ => Command::Unknown { keyword: a.clone(), args: vec![b.clone()] },
            };
            let mut out = Vec::new();
            if cmd.encode(&mut out).is_ok() {
                let back = Command::parse(strip_crlf(&out), &big()).unwrap();
                let expected = match cmd {
                    Command::Apop { name, digest } => Command::Apop {
                        name,
                        digest: digest.to_ascii_lowercase(),
                    },
                    Command::Auth { mechanism, initial_response } => Command::Auth {
                        mechanism: mechanism.to_ascii_uppercase(),
                        initial_response,
                    },
                    other => other,
                };
                prop_assert_eq!(back, expected);
            } else {
                prop_assert!(out.is_empty());
            }
        }

        /// Whatever parses, encodes; and reads back the same.
        #[test]
        fn parse_never_panics_and_is_stable(line in vec(any::<u8>(), 0..300)) {
            let l = limits();
            if let Ok(cmd) = Command::parse(&line, &l) {
                let mut out = Vec::new();
                cmd.encode(&mut out).unwrap();
                prop_assert_eq!(Command::parse(strip_crlf(&out), &big()).unwrap(), cmd);
            }
            if let Ok(response) = Response::parse(&line, &l) {
                let mut out = Vec::new();
                response.encode(&mut out).unwrap();
                prop_assert_eq!(Response::parse(strip_crlf(&out), &big()).unwrap(), response);
            }
            if let Ok(status) = Status::parse(&line, &l) {
                let _ = DropListing::from_status(&status);
                let _ = ScanListing::from_status(&status);
                let _ = UniqueIdListing::from_status(&status);
                let _ = Greeting { status }.apop_timestamp();
            }
            if let Ok(cap) = Capability::parse(&line, &l) {
                let mut out = Vec::new();
                cap.encode(&mut out).unwrap();
                prop_assert_eq!(Capability::parse(strip_crlf(&out), &big()).unwrap(), cap);
            }
            let _ = ScanListing::parse(&line);
            let _ = UniqueIdListing::parse(&line);
            let _ = DropListing::parse(&String::from_utf8_lossy(&line));
        }

        /// Arbitrary input shaped like POP3 (keywords, digits, spaces, brackets).
        #[test]
        fn parse_never_panics_on_pop3_like_input(
            line in "(USER|PASS|APOP|AUTH|TOP|LIST|UIDL|LANG|\\+OK|-ERR|\\+|SASL|EXPIRE|LOGIN-DELAY)?[ 0-9a-zA-Z\\[\\]/<>@=*.-]{0,60}"
        ) {
            let l = limits();
            let _ = Command::parse(line.as_bytes(), &l);
            let _ = Response::parse(line.as_bytes(), &l);
            let _ = Capability::parse(line.as_bytes(), &l);
            let _ = ScanListing::parse(line.as_bytes());
            let _ = UniqueIdListing::parse(line.as_bytes());
            if let Ok(g) = Greeting::parse(line.as_bytes(), &l)
                && let Some(ts) = g.apop_timestamp()
            {
                prop_assert!(ts.starts_with('<') && ts.ends_with('>') && ts.contains('@'));
            }
        }
    }
}

#[test]
fn continuation_limit_is_separate() {
    let long = format!("+ {}", "A".repeat(1000));
    assert!(Response::parse(long.as_bytes(), &limits()).is_ok());
    assert!(matches!(
        Response::parse(long.as_bytes(), &Limits::STRICT),
        Err(ParseError::LineTooLong { .. })
    ));
    let status = format!("+OK {}", "A".repeat(1000));
    assert!(Response::parse(status.as_bytes(), &limits()).is_err());
}
