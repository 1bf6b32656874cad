//! `Message`: envelopes read from rendered headers, `Bcc:` never sent, line endings,
//! and no panic on any input.

use mailproto_engine::core::smtp::{Capabilities, Domain, ForwardPath, Host, Mailbox};
use mailproto_engine::message::{Message, MessageError};
use mailproto_engine::smtp_client::Envelope;
use proptest::prelude::*;

/// The default cases (`PROPTEST_CASES`, which CI caps); a failure is printed, not saved
/// to a file in the source tree.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// An address as a test generates it: the decoded mailbox and how to write it.
#[derive(Debug, Clone)]
struct Addr {
    local: String,
    /// Whether the local part is written as a quoted string.
    quoted: bool,
    domain: String,
    display: Option<String>,
    /// 0: bare addr-spec, 1: angle-addr, 2: angle-addr with a source route.
    form: u8,
}

impl Addr {
    fn mailbox(&self) -> Mailbox {
        Mailbox {
            local_part: self.local.clone(),
            domain: Host::Domain(Domain::new(&self.domain).unwrap()),
        }
    }

    fn render(&self, sep: &mut impl FnMut() -> String) -> String {
        let local = if self.quoted {
            let mut q = String::from("\"");
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        } else {
            self.local.clone()
        };
        let spec = format!("{local}{}@{}{}", sep(), sep(), self.domain);
        match (self.form, &self.display) {
            (0, _) => format!("{}{spec}{}", sep(), sep()),
            (1, None) => format!("{}<{spec}>{}", sep(), sep()),
            (1, Some(name)) => format!("{}{name}{}<{spec}>{}", sep(), sep(), sep()),
            (_, name) => format!(
                "{}{}<@relay.example,{}@other.example:{spec}>{}",
                sep(),
                name.as_deref().unwrap_or(""),
                sep(),
                sep()
            ),
        }
    }
}

fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

fn dot_atom() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,6}|[é日ü]{1,2}", 1..4)
        .prop_map(|a| a.join("."))
}

/// A display name: atoms, a quoted string with escapes, or an RFC 2047 encoded word.
fn display() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec("[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,6}", 1..4)
            .prop_map(|w| w.join(" ")),
        "[ -~]{0,12}".prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))),
        Just("=?utf-8?q?J=C3=B6rg_M=C3=BCller?=".to_string()),
        Just("John Q. Public".to_string()),
    ]
}

fn addr() -> impl Strategy<Value = Addr> {
    let local = prop_oneof![
        dot_atom().prop_map(|l| (l, false)),
        "[ -~]{1,10}".prop_map(|l| (l, true)),
    ];
    (local, domain(), prop::option::of(display()), 0u8..3).prop_map(
        |((local, quoted), domain, display, form)| Addr {
            local,
            quoted,
            domain,
            display,
            form,
        },
    )
}

/// An address-list element: an address, or a group of them (maybe empty).
fn item() -> impl Strategy<Value = (Option<String>, Vec<Addr>)> {
    prop_oneof![
        3 => addr().prop_map(|a| (None, vec![a])),
        1 => ("[A-Za-z][A-Za-z0-9-]{0,10}", prop::collection::vec(addr(), 0..4))
            .prop_map(|(name, members)| (Some(name), members)),
    ]
}

/// CFWS between tokens: nothing, spaces, folds, comments (nested, with quoted-pairs).
fn seps() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            Just(""),
            Just(" "),
            Just("\r\n "),
            Just("\r\n\t"),
            Just(" (a comment) "),
            Just("(nested (comment \\) here) ok)"),
            Just("\r\n (folded\r\n comment)\r\n "),
        ]
        .prop_map(String::from),
        64,
    )
}

/// The text of an address list.
fn render(items: &[(Option<String>, Vec<Addr>)], seps: &[String]) -> String {
    let mut n = 0;
    let mut sep = || {
        n += 1;
        seps[n % seps.len()].clone()
    };
    let mut parts = Vec::new();
    for (group, members) in items {
        let members: Vec<String> = members.iter().map(|a| a.render(&mut sep)).collect();
        parts.push(match group {
            Some(name) => format!("{name}{}:{};{}", sep(), members.join(","), sep()),
            None => members.join(","),
        });
    }
    let extra = sep();
    parts.join(&format!(",{extra}"))
}

/// Each mailbox once, the first kept, domains compared without case.
fn dedup(all: impl IntoIterator<Item = Mailbox>) -> Vec<Mailbox> {
    let mut out: Vec<Mailbox> = Vec::new();
    for m in all {
        let dup = out.iter().any(|o| {
            o.local_part == m.local_part
                && match (&o.domain, &m.domain) {
                    (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_case(b),
                    (a, b) => a == b,
                }
        });
        if !dup {
            out.push(m);
        }
    }
    out
}

fn recipients(m: &Message) -> Vec<Mailbox> {
    m.envelope()
        .recipients
        .iter()
        .map(|(p, _)| match p {
            ForwardPath::Mailbox(m) => m.clone(),
            ForwardPath::Postmaster => panic!("postmaster"),
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// (a) An address list written with display names, comments, groups, routes and
    /// folds reads back as the same addresses, in order.
    #[test]
    fn message_address_list_roundtrip(
        items in prop::collection::vec(item(), 1..6),
        seps in seps(),
    ) {
        let list = render(&items, &seps);
        let text = format!("From: sender@example.org\r\nTo: {list}\r\n\r\nbody\r\n");
        let want = dedup(items.iter().flat_map(|(_, a)| a).map(Addr::mailbox));
        match Message::from_bytes(text.clone()) {
            Ok(m) => {
                prop_assert_eq!(recipients(&m), want, "{}", text);
                let utf8 = m.envelope().recipients.iter().any(|(p, _)| match p {
                    ForwardPath::Mailbox(m) => !m.is_ascii(),
                    ForwardPath::Postmaster => false,
                });
                prop_assert_eq!(m.needs().smtputf8, utf8 || !text.is_ascii());
                prop_assert_eq!(m.bytes(), text.as_bytes());
            }
            Err(MessageError::NoRecipients { resent: false }) => prop_assert!(want.is_empty()),
            Err(e) => prop_assert!(false, "{}: {}", text, e),
        }
    }

    /// (c) Every address of every To, Cc and Bcc field is in the envelope, and nothing
    /// else; the Bcc fields are gone from the octets.
    #[test]
    fn message_every_to_cc_bcc_address_in_envelope(
        fields in prop::collection::vec((0usize..3, prop::collection::vec(item(), 0..4)), 1..6),
        seps in seps(),
    ) {
        let mut text = String::from("From: \"Sender\" <sender@example.org>\r\n");
        let mut all = Vec::new();
        for (kind, items) in &fields {
            let name = ["To", "Cc", "Bcc"][*kind];
            text.push_str(&format!("{name}: {}\r\n", render(items, &seps)));
            all.extend(items.iter().flat_map(|(_, a)| a).map(Addr::mailbox));
        }
        text.push_str("\r\nbody\r\n");
        let want = dedup(all);
        match Message::from_bytes(text.clone()) {
            Ok(m) => {
                prop_assert_eq!(recipients(&m), want);
                let sent = String::from_utf8(m.bytes().to_vec()).unwrap();
                prop_assert!(!sent.contains("\nBcc:") && !sent.starts_with("Bcc:"), "{}", sent);
            }
            Err(MessageError::NoRecipients { resent: false }) => prop_assert!(want.is_empty()),
            Err(e) => prop_assert!(false, "{}: {}", text, e),
        }
    }
}

/// A header field as the Bcc property lays it out: its name, then its lines, each
/// ended by LF or CRLF.
#[derive(Debug, Clone)]
struct Field {
    bcc: bool,
    name: String,
    lines: Vec<(String, bool)>,
}

impl Field {
    fn write(&self, out: &mut Vec<u8>, crlf_only: bool) {
        for (i, (line, crlf)) in self.lines.iter().enumerate() {
            if i == 0 {
                out.extend_from_slice(self.name.as_bytes());
                out.extend_from_slice(b":");
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(if *crlf || crlf_only { b"\r\n" } else { b"\n" });
        }
    }
}

fn field() -> impl Strategy<Value = Field> {
    let bcc_name = prop_oneof![
        Just("Bcc"),
        Just("BCC"),
        Just("bcc"),
        Just("bCc"),
        Just("Bcc "),
        Just("Resent-Bcc"),
        Just("RESENT-bcc\t"),
    ];
    let other_name = prop_oneof![
        Just("Subject"),
        Just("X-Bcc-Note"),
        Just("Comments"),
        Just("Message-ID"),
        Just("Bccx"),
        Just("Cc"),
        Just("Date"),
    ];
    // Bcc values are read for the envelope: address lists, folded over several lines.
    let bcc_value = (
        "( [a-z]{1,5}@example\\.org,)?",
        prop::collection::vec(
            (
                "[ \t]{1,2}[a-z]{1,5}@bcc\\.example,( \\(Bcc: x\\))?",
                any::<bool>(),
            ),
            0..4,
        ),
        any::<bool>(),
    );
    let other_value = (
        " [a-zA-Z0-9@.,<>()\" ]{0,30}",
        prop::collection::vec(("[ \t][ -~]{0,30}", any::<bool>()), 0..4),
        any::<bool>(),
    );
    (any::<bool>(), bcc_name, other_name, bcc_value, other_value).prop_map(|(bcc, b, o, bv, ov)| {
        let (name, (first, more, crlf)) = if bcc { (b, bv) } else { (o, ov) };
        let mut lines = vec![(first, crlf)];
        lines.extend(more);
        // A Cc field must hold addresses; keep its value simple.
        if name == "Cc" {
            lines = vec![(" cc@example.org".into(), crlf)];
        }
        Field {
            bcc,
            name: name.into(),
            lines,
        }
    })
}

proptest! {
    #![proptest_config(config())]

    /// (b) No Bcc field is sent, wherever it is and however it is written, and the rest
    /// of the message is byte-identical once line endings are CRLF.
    #[test]
    fn message_bcc_absent_rest_identical(
        mut fields in prop::collection::vec(field(), 0..10),
        from_at in any::<prop::sample::Index>(),
        to_at in any::<prop::sample::Index>(),
        body in prop::collection::vec(("[ -~\u{e9}]{0,40}", any::<bool>()), 0..5),
    ) {
        let n = fields.len();
        fields.insert(from_at.index(n + 1), Field {
            bcc: false,
            name: "From".into(),
            lines: vec![(" <from@example.org>".into(), false)],
        });
        fields.insert(to_at.index(n + 2), Field {
            bcc: false,
            name: "To".into(),
            lines: vec![(" to@example.org,".into(), true), ("  (folded) other@example.org".into(), false)],
        });
        let mut input = Vec::new();
        let mut want = Vec::new();
        for f in &fields {
            f.write(&mut input, false);
            if !f.bcc {
                f.write(&mut want, true);
            }
        }
        input.extend_from_slice(b"\n");
        want.extend_from_slice(b"\r\n");
        for (line, crlf) in &body {
            input.extend_from_slice(line.as_bytes());
            input.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            want.extend_from_slice(line.as_bytes());
            want.extend_from_slice(b"\r\n");
        }
        let explicit = Message::new(Envelope::new(mailproto_engine::core::smtp::ReversePath::Null, []), input.clone());
        prop_assert_eq!(explicit.bytes(), &want[..]);
        // A Resent-Bcc field makes a resent block, which names no sender here.
        if !fields.iter().any(|f| f.name.to_ascii_lowercase().starts_with("resent")) {
            let derived = Message::from_bytes(input).unwrap();
            prop_assert_eq!(derived.bytes(), &want[..]);
            prop_assert!(recipients(&derived).len() >= 2);
        }
    }

    /// (d) No input makes the header reader panic.
    #[test]
    fn message_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(bytes);
    }

    /// (d) Nor does a soup of the octets that matter to the grammar.
    #[test]
    fn message_token_soup_never_panics(parts in prop::collection::vec(prop_oneof![
        Just("From:"), Just("To:"), Just("Cc:"), Just("Bcc:"), Just("Sender:"),
        Just("Resent-From:"), Just("Resent-To:"), Just("Resent-Date:"), Just("Group:"),
        Just("<"), Just(">"), Just("\""), Just("\\"), Just("("), Just(")"), Just("["),
        Just("]"), Just(","), Just(";"), Just(":"), Just("@"), Just("."), Just(" "),
        Just("\r\n"), Just("\n"), Just("\r"), Just("\r\n "), Just("a"), Just("b.example"),
        Just("é"), Just("=?utf-8?q?x?="), Just("\0"), Just("\u{7f}"),
    ], 0..200)) {
        exercise(parts.concat().into_bytes());
    }
}

fn exercise(bytes: Vec<u8>) {
    let mut caps = Capabilities::default();
    caps.eight_bit_mime = true;
    caps.smtputf8 = true;
    caps.size = Some(100);
    if let Ok(mut m) = Message::from_bytes(bytes.clone()) {
        let _ = m.fit_to(&caps);
        let _ = m.fit_to(&Capabilities::default());
        assert!(!m.envelope().recipients.is_empty());
    }
    let mut m = Message::new(
        Envelope::new(mailproto_engine::core::smtp::ReversePath::Null, []),
        bytes,
    );
    let _ = m.fit_to(&caps);
    // Every line ends with CRLF.
    let b = m.bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\r' => assert_eq!(b.get(i + 1), Some(&b'\n')),
            b'\n' => assert!(i > 0 && b[i - 1] == b'\r'),
            _ => {}
        }
    }
}

#[cfg(feature = "mail-builder")]
mod builder {
    use super::*;
    use mail_builder::MessageBuilder;
    use mail_builder::headers::address::Address;
    use mailproto_engine::message::Needs;

    fn builder() -> MessageBuilder<'static> {
        MessageBuilder::new()
            .from(("Ålice Ünderwood", "alice@example.org"))
            .to(vec![
                ("Bob", "bob@example.net"),
                ("Carol, Esq.", "carol@example.com"),
            ])
            .cc(Address::new_group(
                Some("Team"),
                vec![
                    Address::from(("Dave \"the\" Dev", "dave@example.net")),
                    Address::from("erin@example.org"),
                ],
            ))
            .bcc(vec![
                ("Secret Sam", "sam@example.org"),
                ("", "tina@example.org"),
            ])
            .subject(
                "Grüße aus Köln: ünïcödé subject that is long enough to be folded by the builder",
            )
            .text_body("Hello,\nsee the attachment.\n")
            .attachment(
                "application/octet-stream",
                "data.bin",
                (0u8..=255).collect::<Vec<u8>>(),
            )
    }

    #[test]
    fn message_from_builder_with_bcc_utf8_subject_and_attachment() {
        let m = Message::from_builder(builder()).unwrap();
        let rcpts: Vec<String> = m
            .envelope()
            .recipients
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(
            rcpts,
            [
                "<bob@example.net>",
                "<carol@example.com>",
                "<dave@example.net>",
                "<erin@example.org>",
                "<sam@example.org>",
                "<tina@example.org>",
            ]
        );
        assert_eq!(m.envelope().from.to_string(), "<alice@example.org>");
        let text = String::from_utf8(m.bytes().to_vec()).unwrap();
        let header = text.split_once("\r\n\r\n").unwrap().0;
        assert!(!header.to_ascii_lowercase().contains("bcc"), "{text}");
        assert!(
            !text.contains("sam@example.org") && !text.contains("tina@"),
            "{text}"
        );
        assert!(text.contains("Subject: "), "{text}");
        // The builder encodes the subject (RFC 2047) and the attachment (base64).
        assert_eq!(m.needs(), Needs::default());
        let mut m = m;
        m.fit_to(&Capabilities::default()).unwrap();
        assert_eq!(m.envelope().params.body, None);
    }

    #[test]
    fn message_from_builder_bytes_are_the_rendering_without_bcc() {
        let rendered = builder().write_to_vec().unwrap();
        let m = Message::from_bytes(rendered.clone()).unwrap();
        let text = String::from_utf8(rendered).unwrap();
        // Remove the Bcc field (with its continuation lines) by hand.
        let mut want = String::new();
        let mut skipping = false;
        let (header, body) = text.split_once("\r\n\r\n").unwrap();
        for line in header.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if skipping {
                    continue;
                }
            } else {
                skipping = line.starts_with("Bcc:");
                if skipping {
                    continue;
                }
            }
            want.push_str(line);
            want.push_str("\r\n");
        }
        want.push_str("\r\n");
        want.push_str(body);
        assert_eq!(String::from_utf8(m.bytes().to_vec()).unwrap(), want);
    }

    #[test]
    fn message_from_builder_utf8_address_needs_smtputf8() {
        let b = MessageBuilder::new()
            .from("pelé@example.org")
            .to("bob@example.net")
            .subject("x")
            .text_body("hi");
        let mut m = Message::from_builder(b).unwrap();
        assert!(m.needs().smtputf8 && m.needs().eight_bit);
        let mut caps = Capabilities::default();
        caps.eight_bit_mime = true;
        let err = m.fit_to(&caps).unwrap_err();
        assert!(matches!(err, MessageError::NeedsSmtpUtf8 { .. }), "{err}");
        caps.smtputf8 = true;
        m.fit_to(&caps).unwrap();
        assert!(m.envelope().params.smtputf8);
    }
}
