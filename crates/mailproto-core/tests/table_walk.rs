//! The protocol tables walked row by row against the machines: the server refuses exactly
//! what a table forbids in each state and without each extension, and the client sends
//! nothing the table forbids.

use mailproto_core::pop3;
use mailproto_core::sasl::Mechanism;
use mailproto_core::smtp::client::{BodyMode, Client, ClientConfig, ClientError};
use mailproto_core::smtp::server::{Event, Server, ServerConfig};
use mailproto_core::smtp::table::{self, Param, State, Verb};
use mailproto_core::smtp::{
    self, Capabilities, Domain, ForwardPath, Host, MailParams, Mailbox, RcptParams, Reply,
    ReplyParser, ReversePath,
};
use mailproto_core::{Instant, Machine};
use proptest::prelude::*;

const T0: Instant = Instant::ZERO;

/// Every reply the server hands out now, answering each event with acceptance.
fn exchange(server: &mut Server, line: &[u8]) -> Vec<Reply> {
    server.feed(T0, line);
    while let Some(event) = server.poll_event() {
        match event {
            Event::Mail { .. } | Event::Rcpt { .. } | Event::MessageEnd { .. } => {
                server.accept(T0).unwrap();
            }
            Event::Auth { .. } => server.auth_accept(T0).unwrap(),
            _ => {}
        }
    }
    let mut out = Vec::new();
    while server.poll_transmit(&mut out) > 0 {}
    server.transmitted(T0, out.len());
    let mut parser = ReplyParser::new(smtp::ReplyLimits::default());
    out.split_inclusive(|b| *b == b'\n')
        .filter_map(|l| {
            parser
                .feed_line(l.strip_suffix(b"\r\n").unwrap_or(l))
                .unwrap()
        })
        .collect()
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::new("mx.example.org");
    config.extensions.starttls = true;
    config.extensions.auth = vec![Mechanism::Plain];
    config.auth_requires_tls = false;
    config
}

/// A server brought to `state`, with the replies so far taken.
fn server_in(state: State) -> Server {
    let mut s = Server::new(T0, server_config());
    exchange(&mut s, b"");
    let script: &[&[u8]] = match state {
        State::Connected => &[],
        State::Greeted => &[b"EHLO client.example.net\r\n"],
        State::Mail => &[b"EHLO c.example\r\n", b"MAIL FROM:<a@example.net>\r\n"],
        State::Rcpt => &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@example.net>\r\n",
            b"RCPT TO:<b@example.org>\r\n",
        ],
        State::Chunking => &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@example.net>\r\n",
            b"RCPT TO:<b@example.org>\r\n",
            b"BDAT 3\r\nabc",
        ],
        _ => unreachable!(),
    };
    for line in script {
        exchange(&mut s, line);
    }
    s
}

/// A command line for `verb`.
fn line_of(verb: Verb) -> &'static [u8] {
    match verb {
        Verb::Helo => b"HELO client.example.net\r\n",
        Verb::Ehlo => b"EHLO client.example.net\r\n",
        Verb::Lhlo => b"LHLO client.example.net\r\n",
        Verb::Mail => b"MAIL FROM:<x@example.net>\r\n",
        Verb::Rcpt => b"RCPT TO:<y@example.org>\r\n",
        Verb::Data => b"DATA\r\n",
        Verb::Bdat => b"BDAT 1\r\nz",
        Verb::Rset => b"RSET\r\n",
        Verb::Noop => b"NOOP\r\n",
        Verb::Quit => b"QUIT\r\n",
        Verb::Vrfy => b"VRFY postmaster\r\n",
        Verb::Expn => b"EXPN list\r\n",
        Verb::Help => b"HELP\r\n",
        Verb::StartTls => b"STARTTLS\r\n",
        Verb::Auth => b"AUTH PLAIN\r\n",
        _ => unreachable!(),
    }
}

/// The SMTP server answers every verb in every state out of sequence (503, or 554 for a
/// DATA or BDAT without recipients, RFC 5321 §3.3) exactly where the table forbids it.
/// LHLO is LMTP's: an SMTP server does not recognise it (500), whatever the table.
#[test]
fn smtp_server_refuses_exactly_what_the_table_forbids() {
    for rule in table::VERBS {
        if rule.verb == Verb::Lhlo {
            continue;
        }
        for state in State::ALL {
            let mut s = server_in(state);
            let replies = exchange(&mut s, line_of(rule.verb));
            let code = replies.first().map(|r| r.code.get()).unwrap_or(0);
            // 502 for a command of an extension not advertised in this session (none is
            // before EHLO).
            let refused = code == 503
                || (code == 554 && state == State::Mail)
                || (code == 502 && rule.extension.is_some());
            assert_eq!(
                refused,
                !table::valid(rule.verb, state),
                "{} in {state:?}: {replies:?}",
                rule.keyword
            );
            if !refused {
                assert!(
                    code / 100 == 2 || code / 100 == 3,
                    "{} in {state:?}: {code}",
                    rule.keyword
                );
            }
        }
    }
}

/// The parameters of the table, as a server configuration and as command text.
fn param_text(param: Param) -> &'static str {
    match param {
        Param::Size => "SIZE=100",
        Param::Body7Bit => "BODY=7BIT",
        Param::Body8BitMime => "BODY=8BITMIME",
        Param::BodyBinaryMime => "BODY=BINARYMIME",
        Param::SmtpUtf8 => "SMTPUTF8",
        Param::Auth => "AUTH=<>",
        Param::Ret => "RET=HDRS",
        Param::Envid => "ENVID=abc",
        Param::RequireTls => "REQUIRETLS",
        Param::Notify => "NOTIFY=NEVER",
        Param::Orcpt => "ORCPT=rfc822;b@example.org",
        _ => unreachable!(),
    }
}

fn configured(bits: u16, tls: bool) -> ServerConfig {
    let mut config = ServerConfig::new("mx.example.org");
    config.tls_active = tls;
    config.auth_requires_tls = false;
    let e = &mut config.extensions;
    e.size = bits & 1 != 0;
    e.eight_bit_mime = bits & 2 != 0;
    e.smtputf8 = bits & 4 != 0;
    e.chunking = bits & 8 != 0;
    e.binary_mime = bits & 16 != 0;
    e.dsn = bits & 32 != 0;
    e.auth = if bits & 64 != 0 {
        vec![Mechanism::Plain]
    } else {
        Vec::new()
    };
    e.requiretls = bits & 128 != 0;
    config
}

proptest! {
    /// A MAIL or RCPT parameter is refused with 555 exactly when the table, read against
    /// the server's own EHLO reply (what a client sees), says its extension is missing;
    /// the client refuses to send it in exactly the same sessions.
    #[test]
    fn parameters_follow_the_table_on_both_sides(
        bits in 0u16..256,
        tls in any::<bool>(),
        index in 0usize..table::PARAMS.len(),
        helo in any::<bool>(),
    ) {
        let rule = &table::PARAMS[index];
        let mut s = Server::new(T0, configured(bits, tls));
        exchange(&mut s, b"");
        let hello = if helo { &b"HELO c.example\r\n"[..] } else { b"EHLO c.example\r\n" };
        let ehlo = exchange(&mut s, hello);
        let caps = (!helo).then(|| Capabilities::from_ehlo_reply(&ehlo[0]));
        let allowed = table::param_allowed(rule.param, caps.as_ref(), tls);
        let text = param_text(rule.param);
        let reply = if rule.verb == Verb::Mail {
            exchange(&mut s, format!("MAIL FROM:<a@example.net> {text}\r\n").as_bytes())
        } else {
            exchange(&mut s, b"MAIL FROM:<a@example.net>\r\n");
            exchange(&mut s, format!("RCPT TO:<b@example.org> {text}\r\n").as_bytes())
        };
        prop_assert_eq!(reply[0].code.get() == 555, !allowed, "{} {:?}", text, reply);

        // The client, told the same EHLO reply (or HELO's), sends it only if allowed.
        let mut c = Client::new(T0, {
            let mut config = ClientConfig::new(Host::Domain(Domain::new("c.example").unwrap()));
            config.tls_active = tls;
            config
        });
        c.feed(T0, b"220 mx.example.org\r\n");
        while c.poll_event().is_some() {}
        c.ehlo(T0).unwrap();
        let mut wire = Vec::new();
        while c.poll_transmit(&mut wire) > 0 {}
        c.transmitted(T0, wire.len());
        if helo {
            c.feed(T0, b"502 5.5.1 no EHLO\r\n250 mx.example.org\r\n");
        } else {
            let mut reply = Vec::new();
            ehlo[0].encode(&mut reply).unwrap();
            c.feed(T0, &reply);
        }
        while c.poll_event().is_some() {}
        let mut params = MailParams::default();
        let mut rcpt = RcptParams::default();
        let mut line = format!("MAIL FROM:<a@example.net> {text}");
        if rule.verb == Verb::Rcpt {
            line = format!("RCPT TO:<b@example.org> {text}");
            let parsed = smtp::Command::parse(line.as_bytes(), &smtp::ParseConfig::default()).unwrap();
            let smtp::Command::Rcpt { params: p, .. } = parsed else { unreachable!() };
            rcpt = p;
        } else {
            let parsed = smtp::Command::parse(line.as_bytes(), &smtp::ParseConfig::default()).unwrap();
            let smtp::Command::Mail { params: p, .. } = parsed else { unreachable!() };
            params = p;
        }
        let mode = if rule.param == Param::BodyBinaryMime { BodyMode::Bdat } else { BodyMode::Data };
        let bdat_ok = mode == BodyMode::Data || caps.as_ref().is_some_and(|c| c.chunking);
        let mailbox = |l: &str, d: &str| Mailbox {
            local_part: l.into(),
            domain: Host::Domain(Domain::new(d).unwrap()),
        };
        let sent = c.send_envelope(
            T0,
            ReversePath::Mailbox(mailbox("a", "example.net")),
            params,
            vec![(ForwardPath::Mailbox(mailbox("b", "example.org")), rcpt)],
            mode,
        );
        wire.clear();
        while c.poll_transmit(&mut wire) > 0 {}
        let written = String::from_utf8_lossy(&wire).contains(&line);
        match sent {
            Ok(()) => {
                prop_assert!(allowed && bdat_ok, "client sent {} though the table forbids it", text);
                prop_assert!(written || rule.verb == Verb::Rcpt && !caps.as_ref().is_some_and(|c| c.pipelining));
            }
            Err(e) => {
                prop_assert!(!written);
                prop_assert!(
                    matches!(e.kind(), ClientError::NotAdvertised { .. } | ClientError::NeedsSmtpUtf8),
                    "{:?}", e.kind()
                );
                prop_assert!(!(allowed && bdat_ok), "client refused {} though the table allows it", text);
            }
        }
    }
}

/// POP3: every command in both states is refused as out of state (`-ERR`, a
/// `WrongState` protocol error) exactly where the table forbids it, by the server; the
/// client refuses to issue it in the same places.
#[test]
fn pop3_both_roles_follow_the_table() {
    use pop3::client::CommandKind;
    use pop3::table::{self as t, State as P};
    let lines: &[(t::Verb, &[u8], Option<CommandKind>)] = &[
        (t::Verb::User, b"USER mrose\r\n", Some(CommandKind::User)),
        (
            t::Verb::Apop,
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
            Some(CommandKind::Apop),
        ),
        (t::Verb::Stls, b"STLS\r\n", Some(CommandKind::Stls)),
        (t::Verb::Capa, b"CAPA\r\n", Some(CommandKind::Capa)),
        (t::Verb::Utf8, b"UTF8\r\n", Some(CommandKind::Utf8)),
        (t::Verb::Stat, b"STAT\r\n", Some(CommandKind::Stat)),
        (t::Verb::List, b"LIST\r\n", Some(CommandKind::List(None))),
        (t::Verb::Retr, b"RETR 1\r\n", Some(CommandKind::Retr(1))),
        (t::Verb::Dele, b"DELE 1\r\n", Some(CommandKind::Dele(1))),
        (t::Verb::Noop, b"NOOP\r\n", Some(CommandKind::Noop)),
        (t::Verb::Rset, b"RSET\r\n", Some(CommandKind::Rset)),
        (
            t::Verb::Top,
            b"TOP 1 0\r\n",
            Some(CommandKind::Top { msg: 1, lines: 0 }),
        ),
        (t::Verb::Uidl, b"UIDL\r\n", Some(CommandKind::Uidl(None))),
        (t::Verb::Quit, b"QUIT\r\n", Some(CommandKind::Quit)),
    ];
    for &(verb, line, kind) in lines {
        for state in [P::Authorization, P::Transaction] {
            // The server.
            let config = pop3::server::ServerConfig::default()
                .with_plaintext_login(true)
                .with_stls_offered(true)
                .with_utf8(true)
                .with_apop_timestamp("<1.2@example.org>");
            let mut s = pop3::server::Server::new(T0, config);
            if state == P::Transaction {
                s.feed(T0, b"USER mrose\r\nPASS secret\r\n");
                while s.poll_event().is_some() {}
                s.login_ok(T0, pop3::server::Maildrop::new(vec![])).unwrap();
            }
            s.feed(T0, line);
            let wrong_state = std::iter::from_fn(|| s.poll_event()).any(|e| {
                matches!(
                    e,
                    pop3::server::Event::ProtocolError {
                        error: pop3::server::ProtocolError::WrongState { .. }
                    }
                )
            });
            assert_eq!(
                wrong_state,
                !t::valid(verb, state),
                "server: {verb:?} in {state:?}"
            );

            // The client, with no login outstanding.
            let Some(kind) = kind else { continue };
            let mut c = pop3::client::Client::new(T0, pop3::client::ClientConfig::default());
            c.feed(T0, b"+OK POP3 ready <1.2@example.org>\r\n");
            if state == P::Transaction {
                c.user(T0, "mrose").unwrap();
                c.pass(T0, &pop3::Secret::from("secret")).unwrap();
                c.feed(T0, b"+OK\r\n+OK logged in\r\n");
            }
            while c.poll_event().is_some() {}
            let issued = match kind {
                CommandKind::User => c.user(T0, "mrose"),
                CommandKind::Apop => c.apop(T0, "mrose", &pop3::Secret::from("x")),
                CommandKind::Stls => c.stls(T0),
                CommandKind::Capa => c.capa(T0),
                CommandKind::Utf8 => c.utf8(T0),
                CommandKind::Stat => c.stat(T0),
                CommandKind::List(m) => c.list(T0, m),
                CommandKind::Retr(m) => c.retr(T0, m),
                CommandKind::Dele(m) => c.dele(T0, m),
                CommandKind::Noop => c.noop(T0),
                CommandKind::Rset => c.rset(T0),
                CommandKind::Top { msg, lines } => c.top(T0, msg, lines),
                CommandKind::Uidl(m) => c.uidl(T0, m),
                CommandKind::Quit => c.quit(T0),
                _ => unreachable!(),
            };
            let refused = matches!(
                issued.as_ref().map_err(|e| e.kind()),
                Err(pop3::client::ClientError::WrongState { .. })
            );
            assert_eq!(
                refused,
                !t::valid(verb, state),
                "client: {verb:?} in {state:?}: {issued:?}"
            );
        }
    }
}
