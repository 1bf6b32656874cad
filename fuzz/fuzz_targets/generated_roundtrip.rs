//! Values from `mailproto_core::generate` (feature `arbitrary`) keep its promise: SMTP
//! commands, replies and MAIL/RCPT parameters, POP3 commands, status lines and
//! responses encode with the crate's encoders and parse back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::generate;
use mailproto_core::{pop3, smtp};

type Input = (
    smtp::Command,
    smtp::Reply,
    smtp::MailParams,
    smtp::RcptParams,
    pop3::Command,
    pop3::Response,
);

fn line(out: &[u8]) -> &[u8] {
    let line = out
        .strip_suffix(b"\r\n")
        .expect("encoders end lines with CRLF");
    assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
    line
}

fn smtp_roundtrip(cmd: smtp::Command) {
    let mut out = Vec::new();
    cmd.encode(&mut out).expect("generated commands encode");
    let parsed = smtp::Command::parse(line(&out), &generate::smtp::parse_config());
    assert_eq!(parsed, Ok(cmd), "{}", String::from_utf8_lossy(&out));
}

fuzz_target!(|input: Input| {
    let (cmd, reply, mail, rcpt, pop_cmd, response) = input;
    smtp_roundtrip(cmd);
    let mailbox: smtp::Mailbox = "a@example.org".parse().unwrap();
    smtp_roundtrip(smtp::Command::Mail {
        from: smtp::ReversePath::Mailbox(mailbox.clone()),
        params: mail,
    });
    smtp_roundtrip(smtp::Command::Rcpt {
        to: smtp::ForwardPath::Mailbox(mailbox),
        params: rcpt,
    });

    let mut out = Vec::new();
    reply.encode(&mut out).expect("generated replies encode");
    let text = String::from_utf8(out).expect("generated replies are UTF-8");
    let mut parser = smtp::ReplyParser::default();
    let mut parsed = None;
    for l in text.split_terminator("\r\n") {
        assert!(parsed.is_none(), "a reply ended early: {text}");
        parsed = parser
            .feed_line(l.as_bytes())
            .expect("a well-formed reply line");
    }
    assert_eq!(parsed, Some(reply));

    let limits = generate::pop3::limits();
    let mut out = Vec::new();
    pop_cmd
        .encode(&mut out)
        .expect("generated POP3 commands encode");
    assert_eq!(
        pop3::Command::parse(line(&out), &limits).as_ref(),
        Ok(&pop_cmd)
    );
    let mut out = Vec::new();
    response
        .encode(&mut out)
        .expect("generated responses encode");
    let parsed = pop3::Response::parse(line(&out), &limits).expect("encoded responses parse");
    assert_eq!(parsed, response);
});
