//! A message with its envelope: the octets a client sends after DATA or BDAT, and the
//! `MAIL FROM` / `RCPT TO` that carry them (RFC 5321 §2.3.1, §3.3).
//!
//! [`Message::from_bytes`] and [`Message::from_builder`] read the envelope from the header
//! section as a submission client does (RFC 5322 §3.6.2, §3.6.3, §3.6.6);
//! [`Message::new`] takes an explicit one. Every form sends CRLF line endings only and
//! never sends a `Bcc:` field. [`Message::fit_to`] then sets the MAIL parameters a
//! given server needs to see (`SIZE`, `BODY`, `SMTPUTF8`), or says why the message
//! cannot go to that server as it is.
//!
//! The message is held in memory: this is the form users build; a large message from
//! a file can be streamed with [`Envelope`] and a reader instead.
//!
//! ```
//! use mailproto_engine::core::smtp::Capabilities;
//! use mailproto_engine::message::Message;
//!
//! let mut message = Message::from_bytes(
//!     "From: Alice <alice@example.org>\n\
//!      To: bob@example.net\n\
//!      Bcc: carol@example.com\n\
//!      Subject: hello\n\
//!      \n\
//!      Hi Bob\n",
//! )?;
//! assert_eq!(message.envelope().recipients.len(), 2);
//! assert!(message.bytes().starts_with(b"From: Alice <alice@example.org>\r\nTo: "));
//! assert!(!message.bytes().windows(4).any(|w| w == b"Bcc:"));
//!
//! // What the server said to EHLO (`client.capabilities()` in an adapter).
//! let mut caps = Capabilities::default();
//! caps.size = Some(10_000_000);
//! message.fit_to(&caps)?;
//! assert_eq!(message.envelope().params.size, Some(message.bytes().len() as u64));
//! let (envelope, bytes) = message.into_parts();
//! // client.send(envelope, &mut bytes.as_slice())?;
//! # let _ = (envelope, bytes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::ops::Range;
use std::{fmt, io};

use mailproto_core::smtp::{
    Body, Capabilities, Domain, ForwardPath, Host, Mailbox, ReversePath, Snippet,
};

use crate::smtp_client::Envelope;

/// The longest line of 7bit and 8bit data, CRLF excluded (RFC 5321 §4.5.3.1.6,
/// RFC 2045 §2.8).
const LINE_MAX: usize = 998;

/// A message ready to send: its envelope and its octets.
///
/// Whichever constructor made it, the octets
/// - end every line with CRLF: a bare LF and a bare CR each become CRLF, since SMTP
///   allows no other line ending (RFC 5321 §2.3.8) and servers that guard against
///   smuggling refuse them;
/// - have no `Bcc:` or `Resent-Bcc:` field: blind recipients are in the envelope only
///   (RFC 5322 §3.6.3, the first of its three ways), even when the envelope was given.
///
/// Nothing else is changed: the remaining octets are the input's, in order.
#[derive(Clone)]
pub struct Message {
    envelope: Envelope,
    bytes: Vec<u8>,
    /// What the octets (not the envelope) need, found once.
    content: Needs,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("envelope", &self.envelope)
            .field("len", &self.bytes.len())
            .field("needs", &self.needs())
            .finish()
    }
}

/// What a message needs of a server beyond plain SMTP, from [`Message::needs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Needs {
    /// An octet above 127 anywhere in the message: `BODY=8BITMIME` (RFC 6152).
    pub eight_bit: bool,
    /// A NUL octet or a line longer than 998 octets, which is not 8bit data
    /// (RFC 2045 §2.8, RFC 5321 §4.5.3.1.6): `BODY=BINARYMIME`, sent with BDAT
    /// (RFC 3030 §3).
    pub binary: bool,
    /// A non-ASCII envelope address (RFC 6531 §3.3) or non-ASCII header text
    /// (RFC 6532 §3): the `SMTPUTF8` MAIL parameter (RFC 6531 §3.4).
    pub smtputf8: bool,
}

/// Why a [`Message`] could not be made, or cannot go to a server as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The header section names no sender: no `Sender:` or `From:` mailbox
    /// (RFC 5322 §3.6.2), or, when `resent`, no `Resent-Sender:` or `Resent-From:`
    /// mailbox in the topmost resent block (§3.6.6).
    NoSender {
        /// The envelope came from a resent block.
        resent: bool,
    },
    /// The header section names no recipient: no address in `To:`, `Cc:` or `Bcc:`
    /// (RFC 5322 §3.6.3), or, when `resent`, in the topmost resent block's
    /// `Resent-To:`, `Resent-Cc:` or `Resent-Bcc:` (§3.6.6).
    NoRecipients {
        /// The envelope came from a resent block.
        resent: bool,
    },
    /// A header field the envelope comes from is not an address list (RFC 5322 §3.4),
    /// or holds an address SMTP cannot carry (RFC 5321 §4.1.2, §4.5.3.1).
    BadAddress {
        /// The field's name, e.g. `"To"`.
        field: &'static str,
        /// The field's text from the point of failure.
        found: Snippet,
        /// What is wrong there.
        reason: String,
    },
    /// The message has 8-bit content and the server does not offer 8BITMIME (RFC 6152).
    Needs8BitMime,
    /// The message has a NUL octet or an over-long line and the server does not offer
    /// BINARYMIME with CHUNKING (RFC 3030 §3).
    NeedsBinaryMime,
    /// The message has a non-ASCII address or header field and the server does not
    /// offer SMTPUTF8 (RFC 6531 §3.4, RFC 6532).
    NeedsSmtpUtf8 {
        /// The first non-ASCII address, or the name of the first non-ASCII header field.
        found: Snippet,
    },
    /// The message is larger than the server's SIZE maximum (RFC 1870 §6).
    TooLarge {
        /// The message's size in octets.
        size: u64,
        /// The server's maximum.
        limit: u64,
    },
    /// mail-builder could not render the message.
    Builder(String),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::NoSender { resent: false } => f.write_str(
                "no sender: the header section has no Sender: or From: mailbox \
                 (RFC 5322 §3.6.2)",
            ),
            MessageError::NoSender { resent: true } => f.write_str(
                "no sender: the topmost resent block has no Resent-Sender: or Resent-From: \
                 mailbox (RFC 5322 §3.6.6)",
            ),
            MessageError::NoRecipients { resent: false } => f.write_str(
                "no recipient: the header section has no address in To:, Cc: or Bcc: \
                 (RFC 5322 §3.6.3)",
            ),
            MessageError::NoRecipients { resent: true } => f.write_str(
                "no recipient: the topmost resent block has no address in Resent-To:, \
                 Resent-Cc: or Resent-Bcc: (RFC 5322 §3.6.6)",
            ),
            MessageError::BadAddress {
                field,
                found,
                reason,
            } => write!(f, "bad address in {field}: {reason}, at {found}"),
            MessageError::Needs8BitMime => f.write_str(
                "the message has 8-bit content (octets above 127) but the server does not \
                 offer 8BITMIME (RFC 6152): encode the body as quoted-printable or base64 \
                 (mail-builder does this for text parts)",
            ),
            MessageError::NeedsBinaryMime => f.write_str(
                "the message has a NUL octet or a line longer than 998 octets, which only \
                 BODY=BINARYMIME carries (RFC 5321 §4.5.3.1.6, RFC 3030 §3), but the server \
                 does not offer BINARYMIME with CHUNKING: encode such parts as base64 or \
                 quoted-printable",
            ),
            MessageError::NeedsSmtpUtf8 { found } => write!(
                f,
                "{found} is not ASCII, so the message needs SMTPUTF8 (RFC 6531), but the \
                 server does not offer it: use ASCII addresses, and RFC 2047 encoded words \
                 for non-ASCII header text (mail-builder writes them)"
            ),
            MessageError::TooLarge { size, limit } => write!(
                f,
                "the message is {size} octets, more than the server's SIZE maximum of \
                 {limit} (RFC 1870 §6)"
            ),
            MessageError::Builder(e) => write!(f, "mail-builder could not render the message: {e}"),
        }
    }
}

impl std::error::Error for MessageError {}

impl From<MessageError> for io::Error {
    fn from(e: MessageError) -> Self {
        let kind = match &e {
            MessageError::Needs8BitMime
            | MessageError::NeedsBinaryMime
            | MessageError::NeedsSmtpUtf8 { .. }
            | MessageError::TooLarge { .. } => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

impl Message {
    /// A message with an explicit envelope; the octets are sent as given, apart from
    /// CRLF line endings and the removal of `Bcc:` and `Resent-Bcc:` fields (see
    /// [`Message`]).
    pub fn new(envelope: Envelope, bytes: impl Into<Vec<u8>>) -> Message {
        let bytes = to_crlf(bytes.into());
        let fields = header_fields(&bytes);
        Message::assemble(envelope, bytes, &fields)
    }

    /// A message whose envelope comes from its header section (RFC 5322 §3.6):
    ///
    /// - the reverse-path is the `Sender:` mailbox if there is one, else the first
    ///   `From:` mailbox (§3.6.2);
    /// - the recipients are every address of every `To:`, `Cc:` and `Bcc:` field
    ///   (§3.6.3), group members included, in order, each once (local parts compared
    ///   exactly, domains without regard to ASCII case; RFC 5321 §2.4);
    /// - when the message has `Resent-` fields it is being re-sent and the topmost
    ///   resent block alone names the envelope (§3.6.6): `Resent-Sender:` or
    ///   `Resent-From:`, and `Resent-To:`, `Resent-Cc:`, `Resent-Bcc:`. The block is the
    ///   first run of adjacent `Resent-` fields; a second `Resent-Date:`, `Resent-From:`,
    ///   `Resent-Sender:` or `Resent-Message-ID:` starts the next one.
    ///
    /// Address lists are read with the full RFC 5322 §3.4 grammar and its obsolete
    /// forms (§4.4): display names, quoted strings, comments, groups, folded lines,
    /// empty list elements and source routes (whose final address is taken). Display
    /// names, RFC 2047 encoded words included, are skipped. UTF-8 addresses are
    /// accepted (RFC 6532 §3.2) and make the message need SMTPUTF8. Each address must
    /// also be one SMTP can carry (RFC 5321 §4.1.2, with its §4.5.3.1 length limits).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Message, MessageError> {
        let bytes = to_crlf(bytes.into());
        let fields = header_fields(&bytes);
        let envelope = derive_envelope(&bytes, &fields)?;
        Ok(Message::assemble(envelope, bytes, &fields))
    }

    /// Renders `builder` and reads the envelope from the result, as
    /// [`Message::from_bytes`] does; the rendered `Bcc:` field is removed.
    #[cfg(feature = "mail-builder")]
    pub fn from_builder(
        builder: mail_builder::MessageBuilder<'_>,
    ) -> Result<Message, MessageError> {
        let bytes = builder
            .write_to_vec()
            .map_err(|e| MessageError::Builder(e.to_string()))?;
        Message::from_bytes(bytes)
    }

    fn assemble(envelope: Envelope, bytes: Vec<u8>, fields: &[Field]) -> Message {
        let bytes = strip_blind(bytes, fields);
        let content = content_needs(&bytes);
        Message {
            envelope,
            bytes,
            content,
        }
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The envelope, to change: e.g. to add DSN parameters (RFC 3461) to recipients.
    pub fn envelope_mut(&mut self) -> &mut Envelope {
        &mut self.envelope
    }

    /// The octets to send: CRLF line endings, no `Bcc:` field, not dot-stuffed (the
    /// client machine stuffs them for DATA).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The envelope and the octets, e.g. for an adapter's `send(envelope, reader)`.
    pub fn into_parts(self) -> (Envelope, Vec<u8>) {
        (self.envelope, self.bytes)
    }

    /// What the message needs of the server: its content and its envelope as it is now.
    pub fn needs(&self) -> Needs {
        let mut needs = self.content;
        needs.smtputf8 |= self.non_ascii_address().is_some();
        needs
    }

    /// Sets the MAIL parameters this message needs at a server with capabilities `caps`
    /// (its EHLO reply), or says why the server cannot take it as it is. It owns three
    /// parameters and leaves the others alone:
    ///
    /// - `SMTPUTF8` when [`Needs::smtputf8`] (RFC 6531 §3.4); refused with
    ///   [`MessageError::NeedsSmtpUtf8`] when the server does not offer it;
    /// - `BODY=BINARYMIME` when [`Needs::binary`] and the server offers BINARYMIME and
    ///   CHUNKING (RFC 3030 §3; send it with BDAT, e.g. the adapters' `prefer_bdat`),
    ///   else `BODY=8BITMIME` when [`Needs::eight_bit`] and the server offers 8BITMIME
    ///   (RFC 6152), else no `BODY`; refused with [`MessageError::NeedsBinaryMime`] or
    ///   [`MessageError::Needs8BitMime`] when the server lacks what is needed. UTF-8
    ///   header text is 8-bit content too: it takes `BODY=8BITMIME` with `SMTPUTF8`
    ///   (a server that offers SMTPUTF8 offers 8BITMIME as well, RFC 6531);
    /// - `SIZE=` the message's size when the server offers SIZE (RFC 1870); refused
    ///   with [`MessageError::TooLarge`] before anything is sent when the server
    ///   advertised a maximum the message exceeds (§6).
    ///
    /// On an error the envelope is unchanged.
    pub fn fit_to(&mut self, caps: &Capabilities) -> Result<(), MessageError> {
        self.envelope = self.envelope_for(caps)?;
        Ok(())
    }

    /// The envelope [`Message::fit_to`] would set, leaving the message as it is (a
    /// shared message sent to several servers).
    pub fn envelope_for(&self, caps: &Capabilities) -> Result<Envelope, MessageError> {
        let needs = self.needs();
        if needs.smtputf8 && !caps.smtputf8 {
            let found = self
                .non_ascii_address()
                .or_else(|| non_ascii_field(&self.bytes))
                .unwrap_or_default();
            return Err(MessageError::NeedsSmtpUtf8 { found });
        }
        let body = if needs.binary {
            if !(caps.binary_mime && caps.chunking) {
                return Err(MessageError::NeedsBinaryMime);
            }
            Some(Body::BinaryMime)
        } else if needs.eight_bit {
            if !caps.eight_bit_mime {
                return Err(MessageError::Needs8BitMime);
            }
            Some(Body::EightBitMime)
        } else {
            None
        };
        let size = u64::try_from(self.bytes.len()).unwrap_or(u64::MAX);
        if let Some(limit) = caps.size
            && limit > 0
            && size > limit
        {
            return Err(MessageError::TooLarge { size, limit });
        }
        let mut envelope = self.envelope.clone();
        let params = &mut envelope.params;
        params.size = caps.size.map(|_| size);
        params.body = body;
        params.smtputf8 = needs.smtputf8;
        Ok(envelope)
    }

    /// The first envelope address that is not ASCII.
    fn non_ascii_address(&self) -> Option<Snippet> {
        let from = match &self.envelope.from {
            ReversePath::Mailbox(m) => Some(m),
            ReversePath::Null => None,
        };
        let to = self
            .envelope
            .recipients
            .iter()
            .filter_map(|(p, _)| match p {
                ForwardPath::Mailbox(m) => Some(m),
                ForwardPath::Postmaster => None,
            });
        from.into_iter()
            .chain(to)
            .find(|m| !m.is_ascii())
            .map(|m| Snippet::new(&m.to_string()))
    }
}

/// `bytes` with every bare LF and bare CR made CRLF (RFC 5321 §2.3.8); returned as it is
/// when it has none.
fn to_crlf(bytes: Vec<u8>) -> Vec<u8> {
    let clean = bytes.iter().enumerate().all(|(i, &c)| match c {
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && bytes[i - 1] == b'\r',
        _ => true,
    });
    if clean {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 2);
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The length of the header section of CRLF-only `b`: up to the empty line that ends it
/// (RFC 5322 §2.1), or all of `b` when there is none.
fn header_len(b: &[u8]) -> usize {
    if b.starts_with(b"\r\n") {
        return 0;
    }
    b.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(b.len(), |p| p + 2)
}

/// Where the line that starts at `from` ends, after its CRLF.
fn line_end(b: &[u8], from: usize) -> usize {
    b.get(from..)
        .and_then(|rest| rest.windows(2).position(|w| w == b"\r\n"))
        .map_or(b.len(), |p| from + p + 2)
}

/// A header field that matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    From,
    Sender,
    To,
    Cc,
    Bcc,
    ResentFrom,
    ResentSender,
    ResentTo,
    ResentCc,
    ResentBcc,
    ResentDate,
    ResentMessageId,
    /// Another `Resent-` field.
    ResentOther,
    /// Any other field, or a line that is not a field.
    Other,
}

/// The fields read here, by name (RFC 5322 §3.6).
const KINDS: [(&str, Kind); 12] = [
    ("From", Kind::From),
    ("Sender", Kind::Sender),
    ("To", Kind::To),
    ("Cc", Kind::Cc),
    ("Bcc", Kind::Bcc),
    ("Resent-From", Kind::ResentFrom),
    ("Resent-Sender", Kind::ResentSender),
    ("Resent-To", Kind::ResentTo),
    ("Resent-Cc", Kind::ResentCc),
    ("Resent-Bcc", Kind::ResentBcc),
    ("Resent-Date", Kind::ResentDate),
    ("Resent-Message-ID", Kind::ResentMessageId),
];

impl Kind {
    /// Field names are case-insensitive (RFC 5322 §1.2.2).
    fn of(name: &[u8]) -> Kind {
        if let Some((_, kind)) = KINDS
            .iter()
            .find(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
        {
            *kind
        } else if name.len() > 7 && name[..7].eq_ignore_ascii_case(b"Resent-") {
            Kind::ResentOther
        } else {
            Kind::Other
        }
    }

    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("a header field", |(n, _)| n)
    }

    fn is_resent(self) -> bool {
        matches!(
            self,
            Kind::ResentFrom
                | Kind::ResentSender
                | Kind::ResentTo
                | Kind::ResentCc
                | Kind::ResentBcc
                | Kind::ResentDate
                | Kind::ResentMessageId
                | Kind::ResentOther
        )
    }

    /// A field that appears once per resent block (RFC 5322 §3.6).
    fn once_per_block(self) -> bool {
        matches!(
            self,
            Kind::ResentFrom | Kind::ResentSender | Kind::ResentDate | Kind::ResentMessageId
        )
    }

    /// A field never transmitted.
    fn is_blind(self) -> bool {
        matches!(self, Kind::Bcc | Kind::ResentBcc)
    }
}

/// One field of the header section, with its continuation lines, or a line that is not a
/// field (kept, never read).
#[derive(Debug)]
struct Field {
    /// Its octets, to the CRLF of its last line.
    span: Range<usize>,
    kind: Kind,
    /// Where its value starts, after the colon.
    value: usize,
}

/// The fields of CRLF-only `b`'s header section. A field is a line and the lines after it
/// that start with WSP (RFC 5322 §2.2.3); its name is what precedes the first colon of its
/// first line, WSP before the colon allowed (§4.5).
fn header_fields(b: &[u8]) -> Vec<Field> {
    let end = header_len(b);
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < end {
        let start = pos;
        let first = line_end(b, pos);
        pos = first;
        while pos < end && matches!(b[pos], b' ' | b'\t') {
            pos = line_end(b, pos);
        }
        let line = &b[start..first];
        let (kind, value) = match line.iter().position(|&c| c == b':') {
            Some(colon) => {
                let name = line[..colon].trim_ascii_end();
                let ok = !name.is_empty() && name.iter().all(|c| (33..=126).contains(c));
                (
                    if ok { Kind::of(name) } else { Kind::Other },
                    start + colon + 1,
                )
            }
            None => (Kind::Other, pos),
        };
        fields.push(Field {
            span: start..pos,
            kind,
            value,
        });
    }
    fields
}

/// `bytes` without its `Bcc:` and `Resent-Bcc:` fields.
fn strip_blind(bytes: Vec<u8>, fields: &[Field]) -> Vec<u8> {
    if !fields.iter().any(|f| f.kind.is_blind()) {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut kept = 0;
    for f in fields.iter().filter(|f| f.kind.is_blind()) {
        out.extend_from_slice(&bytes[kept..f.span.start]);
        kept = f.span.end;
    }
    out.extend_from_slice(&bytes[kept..]);
    out
}

/// What CRLF-only `b` needs, its envelope aside.
fn content_needs(b: &[u8]) -> Needs {
    let long_line = b
        .split(|&c| c == b'\n')
        .any(|line| line.strip_suffix(b"\r").unwrap_or(line).len() > LINE_MAX);
    Needs {
        eight_bit: !b.is_ascii(),
        binary: long_line || b.contains(&0),
        smtputf8: !b[..header_len(b)].is_ascii(),
    }
}

/// The name of the first header field of CRLF-only `b` (or the start of the first line)
/// that is not ASCII.
fn non_ascii_field(b: &[u8]) -> Option<Snippet> {
    let f = header_fields(b)
        .into_iter()
        .find(|f| !b[f.span.clone()].is_ascii())?;
    let shown = if f.value > f.span.start && f.value <= f.span.end {
        f.value
    } else {
        f.span.end
    };
    Some(Snippet::from_bytes(&b[f.span.start..shown]))
}

/// The fields the envelope comes from: the topmost resent block when there is one (and
/// `true`), else all.
fn envelope_fields(fields: &[Field]) -> (&[Field], bool) {
    let Some(start) = fields.iter().position(|f| f.kind.is_resent()) else {
        return (fields, false);
    };
    let mut once = Vec::new();
    let mut end = start;
    for f in &fields[start..] {
        if !f.kind.is_resent() || once.contains(&f.kind) {
            break;
        }
        if f.kind.once_per_block() {
            once.push(f.kind);
        }
        end += 1;
    }
    (&fields[start..end], true)
}

/// The envelope named by the header fields (see [`Message::from_bytes`]).
fn derive_envelope(b: &[u8], fields: &[Field]) -> Result<Envelope, MessageError> {
    let (scope, resent) = envelope_fields(fields);
    let (sender, from, to) = if resent {
        (
            Kind::ResentSender,
            Kind::ResentFrom,
            [Kind::ResentTo, Kind::ResentCc, Kind::ResentBcc],
        )
    } else {
        (Kind::Sender, Kind::From, [Kind::To, Kind::Cc, Kind::Bcc])
    };
    let first_mailbox = |kind: Kind| -> Result<Option<Mailbox>, MessageError> {
        match scope.iter().find(|f| f.kind == kind) {
            Some(f) => Ok(addresses(b, f)?.into_iter().next()),
            None => Ok(None),
        }
    };
    let reverse = match first_mailbox(sender)? {
        Some(m) => m,
        None => first_mailbox(from)?.ok_or(MessageError::NoSender { resent })?,
    };
    let mut seen = HashSet::new();
    let mut recipients = Vec::new();
    for f in scope.iter().filter(|f| to.contains(&f.kind)) {
        for m in addresses(b, f)? {
            if seen.insert(dedup_key(&m)) {
                recipients.push(ForwardPath::Mailbox(m));
            }
        }
    }
    if recipients.is_empty() {
        return Err(MessageError::NoRecipients { resent });
    }
    Ok(Envelope::new(ReversePath::Mailbox(reverse), recipients))
}

/// A mailbox as compared for duplicates: the local part exactly, the domain in ASCII
/// lower case (RFC 5321 §2.4).
fn dedup_key(m: &Mailbox) -> (String, Host) {
    let host = match &m.domain {
        Host::Domain(d) => Domain::new(&d.as_str().to_ascii_lowercase())
            .map_or_else(|_| m.domain.clone(), Host::Domain),
        literal => literal.clone(),
    };
    (m.local_part.clone(), host)
}

/// The mailboxes of field `f`'s value.
fn addresses(b: &[u8], f: &Field) -> Result<Vec<Mailbox>, MessageError> {
    let value = &b[f.value..f.span.end];
    parse_address_list(value).map_err(|fail| MessageError::BadAddress {
        field: f.kind.name(),
        found: Snippet::from_bytes(value.get(fail.at..).unwrap_or_default().trim_ascii()),
        reason: fail.reason,
    })
}

/// A failure to read an address list: where, and why.
#[derive(Debug)]
struct Fail {
    at: usize,
    reason: String,
}

/// A lexical token of a structured field (RFC 5322 §3.2), comments and white space
/// dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// `1*atext`, UTF-8 allowed (RFC 5322 §3.2.3, RFC 6532 §3.2).
    Atom(&'a [u8]),
    /// A quoted string's content, quoted-pairs and folds still in (§3.2.4).
    Quoted(&'a [u8]),
    /// A domain literal, brackets included (§3.4.1).
    Literal(&'a [u8]),
    /// One of `< > : ; @ , .`.
    Special(u8),
}

/// `atext` (RFC 5322 §3.2.3) or a UTF-8 octet (RFC 6532 §3.2).
fn is_atext(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&c) || c >= 0x80
}

/// Where the quoted string, comment or domain literal opened at `start` closes:
/// the index of the closing octet. Quoted-pairs are skipped; comments nest (§3.2.2).
fn closing(v: &[u8], start: usize, open: u8, close: u8) -> Result<usize, Fail> {
    let mut depth = 0usize;
    let mut i = start;
    while let Some(&c) = v.get(i) {
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == close && i > start {
            depth -= 1;
            if depth == 0 {
                return Ok(i);
            }
        } else if c == open {
            if open != b'(' && i > start {
                return Err(Fail {
                    at: i,
                    reason: format!("'{}' inside '{}'", open as char, open as char),
                });
            }
            depth += 1;
        }
        i += 1;
    }
    let what = match open {
        b'(' => "an unclosed comment",
        b'"' => "an unclosed quoted string",
        _ => "an unclosed domain literal",
    };
    Err(Fail {
        at: start,
        reason: what.into(),
    })
}

/// The tokens of `v`, with their offsets.
fn tokens(v: &[u8]) -> Result<Vec<(usize, Tok<'_>)>, Fail> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        let at = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => i = closing(v, i, b'(', b')')? + 1,
            b'"' => {
                let end = closing(v, i, b'"', b'"')?;
                out.push((at, Tok::Quoted(&v[i + 1..end])));
                i = end + 1;
            }
            b'[' => {
                let end = closing(v, i, b'[', b']')?;
                out.push((at, Tok::Literal(&v[i..=end])));
                i = end + 1;
            }
            b'<' | b'>' | b':' | b';' | b'@' | b',' | b'.' => {
                out.push((at, Tok::Special(c)));
                i += 1;
            }
            c if is_atext(c) => {
                let n = v[i..].iter().take_while(|&&c| is_atext(c)).count();
                out.push((at, Tok::Atom(&v[i..i + n])));
                i += n;
            }
            c => {
                let reason = match c {
                    b')' | b']' | b'\\' => format!("a stray '{}'", c as char),
                    _ => format!("the control character 0x{c:02x}"),
                };
                return Err(Fail { at, reason });
            }
        }
    }
    Ok(out)
}

/// Reads `address-list` (RFC 5322 §3.4, with §4.4's obsolete forms).
fn parse_address_list(v: &[u8]) -> Result<Vec<Mailbox>, Fail> {
    let mut p = Parser {
        toks: tokens(v)?,
        pos: 0,
        len: v.len(),
    };
    let mut out = Vec::new();
    p.address_list(&mut out)?;
    Ok(out)
}

/// A recursive-descent reader over the tokens of one field; never recurses deeper than
/// a group.
struct Parser<'a> {
    toks: Vec<(usize, Tok<'a>)>,
    pos: usize,
    /// The value's length, the offset of a failure at its end.
    len: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).map(|&(_, t)| t)
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |&(at, _)| at)
    }

    fn fail(&self, reason: &str) -> Fail {
        Fail {
            at: self.at(),
            reason: reason.into(),
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(Tok::Special(c));
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, c: u8, reason: &str) -> Result<(), Fail> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    /// The first of `< : @ , ;` from here, which tells what the next address is.
    fn lookahead(&self) -> Option<u8> {
        self.toks
            .get(self.pos..)?
            .iter()
            .find_map(|&(_, t)| match t {
                Tok::Special(c @ (b'<' | b':' | b'@' | b',' | b';')) => Some(c),
                _ => None,
            })
    }

    /// `address-list`, empty elements allowed (`obs-addr-list`).
    fn address_list(&mut self, out: &mut Vec<Mailbox>) -> Result<(), Fail> {
        loop {
            while self.eat(b',') {}
            if self.peek().is_none() {
                return Ok(());
            }
            if self.lookahead() == Some(b':') {
                self.group(out)?;
            } else {
                out.push(self.mailbox()?);
            }
            match self.peek() {
                None | Some(Tok::Special(b',')) => {}
                _ => return Err(self.fail("expected ',' between addresses")),
            }
        }
    }

    /// `group = display-name ":" [group-list] ";"`; a missing final `;` is forgiven.
    fn group(&mut self, out: &mut Vec<Mailbox>) -> Result<(), Fail> {
        self.phrase();
        self.expect(b':', "expected ':' after the group name")?;
        loop {
            while self.eat(b',') {}
            if self.eat(b';') || self.peek().is_none() {
                return Ok(());
            }
            out.push(self.mailbox()?);
            if !matches!(self.peek(), None | Some(Tok::Special(b',' | b';'))) {
                return Err(self.fail("expected ',' or ';' after a group member"));
            }
        }
    }

    /// `mailbox = name-addr / addr-spec`.
    fn mailbox(&mut self) -> Result<Mailbox, Fail> {
        match self.lookahead() {
            Some(b'<') => {
                self.phrase();
                self.expect(b'<', "expected '<' after the display name")?;
                if matches!(self.peek(), Some(Tok::Special(b'@' | b','))) {
                    self.route()?;
                }
                let m = self.addr_spec()?;
                self.expect(b'>', "expected '>' after the address")?;
                Ok(m)
            }
            Some(b'@') => self.addr_spec(),
            _ => Err(self.fail("expected an address local@domain")),
        }
    }

    /// A display name: `phrase`, with `obs-phrase`'s dots; encoded words are atoms.
    fn phrase(&mut self) {
        while matches!(
            self.peek(),
            Some(Tok::Atom(_) | Tok::Quoted(_) | Tok::Special(b'.'))
        ) {
            self.pos += 1;
        }
    }

    /// `obs-route = obs-domain-list ":"`, skipped (RFC 5322 §4.4; RFC 5321 §4.1.1.3).
    fn route(&mut self) -> Result<(), Fail> {
        loop {
            while self.eat(b',') {}
            self.expect(b'@', "expected '@' in the route")?;
            self.domain()?;
            if self.eat(b':') {
                return Ok(());
            }
            if self.peek() != Some(Tok::Special(b',')) {
                return Err(self.fail("expected ',' or ':' in the route"));
            }
        }
    }

    /// `addr-spec = local-part "@" domain`, the local part as `obs-local-part`
    /// (words joined by dots), checked as an SMTP mailbox.
    fn addr_spec(&mut self) -> Result<Mailbox, Fail> {
        let start = self.at();
        let mut local = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Atom(a)) => local.extend_from_slice(a),
                Some(Tok::Quoted(q)) => unquote_into(q, &mut local),
                _ => {
                    self.pos -= 1;
                    return Err(self.fail("expected a local part"));
                }
            }
            if !self.eat(b'.') {
                break;
            }
            local.push(b'.');
        }
        self.expect(b'@', "expected '@' after the local part")?;
        let domain = self.domain()?;
        to_mailbox(local, domain).map_err(|reason| Fail { at: start, reason })
    }

    /// `domain = dot-atom / domain-literal / obs-domain`, as text.
    fn domain(&mut self) -> Result<Vec<u8>, Fail> {
        match self.peek() {
            Some(Tok::Literal(l)) => {
                self.pos += 1;
                Ok(l.iter()
                    .copied()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect())
            }
            Some(Tok::Atom(a)) => {
                self.pos += 1;
                let mut d = a.to_vec();
                while self.eat(b'.') {
                    match self.peek() {
                        Some(Tok::Atom(a)) => {
                            self.pos += 1;
                            d.push(b'.');
                            d.extend_from_slice(a);
                        }
                        _ => return Err(self.fail("expected a domain label after '.'")),
                    }
                }
                Ok(d)
            }
            _ => Err(self.fail("expected a domain after '@'")),
        }
    }
}

/// Appends quoted-string content `q` decoded: quoted-pairs resolved, folds unfolded
/// (RFC 5322 §3.2.4, §2.2.3).
fn unquote_into(q: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = q.get(i) {
        match c {
            b'\\' => {
                if let Some(&e) = q.get(i + 1) {
                    out.push(e);
                }
                i += 2;
                continue;
            }
            b'\r' | b'\n' => {}
            c => out.push(c),
        }
        i += 1;
    }
}

/// Whether `s` is a `dot-atom-text` (RFC 5322 §3.2.3, RFC 6532 §3.2).
fn is_dot_atom(s: &str) -> bool {
    s.split('.')
        .all(|a| !a.is_empty() && a.bytes().all(is_atext))
}

/// The SMTP mailbox of a decoded local part and domain, checked by the core's path
/// parser (RFC 5321 §4.1.2, §4.5.3.1), UTF-8 allowed (RFC 6531 §3.3).
fn to_mailbox(local: Vec<u8>, domain: Vec<u8>) -> Result<Mailbox, String> {
    let (Ok(local), Ok(domain)) = (String::from_utf8(local), String::from_utf8(domain)) else {
        return Err("an address that is not UTF-8".into());
    };
    let text = if is_dot_atom(&local) {
        format!("{local}@{domain}")
    } else {
        let mut q = String::with_capacity(local.len() + 2);
        q.push('"');
        for c in local.chars() {
            if matches!(c, '"' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        format!("{q}@{domain}")
    };
    Mailbox::parse(&text, true).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpts(m: &Message) -> Vec<String> {
        m.envelope()
            .recipients
            .iter()
            .map(|(p, _)| p.to_string())
            .collect()
    }

    fn read(text: &str) -> Result<Vec<String>, Fail> {
        Ok(parse_address_list(text.as_bytes())?
            .iter()
            .map(|m| m.to_string())
            .collect())
    }

    #[test]
    fn message_envelope_from_from_to_cc_bcc() {
        let m = Message::from_bytes(
            "From: Alice <alice@example.org>\r\nTo: bob@example.net, Carol <carol@example.com>\r\n\
             Cc: dave@example.net\r\nBcc: eve@example.org\r\nSubject: hi\r\n\r\nbody\r\n",
        )
        .unwrap();
        assert_eq!(m.envelope().from.to_string(), "<alice@example.org>");
        assert_eq!(
            rcpts(&m),
            [
                "<bob@example.net>",
                "<carol@example.com>",
                "<dave@example.net>",
                "<eve@example.org>"
            ]
        );
        assert_eq!(
            m.bytes(),
            &b"From: Alice <alice@example.org>\r\nTo: bob@example.net, Carol <carol@example.com>\r\n\
               Cc: dave@example.net\r\nSubject: hi\r\n\r\nbody\r\n"[..]
        );
        assert_eq!(m.needs(), Needs::default());
    }

    #[test]
    fn message_sender_wins_over_from() {
        let m = Message::from_bytes(
            "From: a@example.org, b@example.org\nSender: secretary@example.org\nTo: c@x.example\n\n",
        )
        .unwrap();
        assert_eq!(m.envelope().from.to_string(), "<secretary@example.org>");
        let m =
            Message::from_bytes("From: a@example.org, b@example.org\nTo: c@x.example\n\n").unwrap();
        assert_eq!(m.envelope().from.to_string(), "<a@example.org>");
    }

    #[test]
    fn message_address_forms() {
        let cases: &[(&str, &[&str])] = &[
            ("\"Doe, John\" <john@example.org>", &["john@example.org"]),
            ("\"a \\\"q\\\" b\" <q@example.org>", &["q@example.org"]),
            (
                "John (the (nested) man) Q. Public <jqp@example.org> (home)",
                &["jqp@example.org"],
            ),
            ("undisclosed-recipients:;", &[]),
            (
                "Team: a@x.example, B <b@y.example>;, c@z.example",
                &["a@x.example", "b@y.example", "c@z.example"],
            ),
            (
                "<@relay1.example,@relay2.example:user@c.example>",
                &["user@c.example"],
            ),
            (
                "=?utf-8?q?J=C3=B6rg?= <joerg@example.de>",
                &["joerg@example.de"],
            ),
            ("\"john doe\"@example.org", &["\"john doe\"@example.org"]),
            (
                "a@b.example,\r\n , ,\r\n\t c@d.example",
                &["a@b.example", "c@d.example"],
            ),
            ("john . doe @ example . org", &["john.doe@example.org"]),
            ("x@[192.0.2.1]", &["x@[192.0.2.1]"]),
            ("Empty: (nobody) ;", &[]),
            ("undisclosed-recipients:", &[]),
        ];
        for (text, want) in cases {
            let got = read(text).unwrap_or_else(|f| panic!("{text}: {f:?}"));
            assert_eq!(got, *want, "{text}");
        }
        for bad in [
            "alice",
            "a@b c@d",
            "<a@b",
            "\"unclosed <a@b>",
            "(unclosed a@b",
            "a@",
            "a@b.",
            "G1: G2: a@b;;",
            "a@b)",
            "a@exa_mple.org",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    /// The oddities of RFC 5322 Appendix A.5 and the obsolete forms of A.6.1 and A.6.3.
    #[test]
    fn message_rfc5322_appendix_a_examples() {
        let a5 = "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n\
                  To:A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n\
                  \x20        joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)\r\n\
                  Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\r\n\r\n";
        let m = Message::from_bytes(a5).unwrap();
        assert_eq!(m.envelope().from.to_string(), "<pete@silly.test>");
        assert_eq!(
            rcpts(&m),
            ["<c@public.example>", "<joe@example.org>", "<jdoe@one.test>"]
        );
        let a6 = "From: Joe Q. Public <john.q.public@example.com>\r\n\
                  To: Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example\r\n\
                  Cc: John Doe <jdoe@machine(comment).  example>, Mary Smith\r\n  \r\n <mary@example.org>\r\n\r\n";
        let m = Message::from_bytes(a6).unwrap();
        assert_eq!(
            rcpts(&m),
            [
                "<mary@example.net>",
                "<jdoe@test.example>",
                "<jdoe@machine.example>",
                "<mary@example.org>"
            ]
        );
    }

    #[test]
    fn message_recipients_once_domain_case_insensitive() {
        let m = Message::from_bytes(
            "From: a@example.org\nTo: Bob <bob@Example.NET>, bob@example.net\nCc: BOB@example.net\n\
             Bcc: bob@EXAMPLE.net\n\n",
        )
        .unwrap();
        assert_eq!(rcpts(&m), ["<bob@Example.NET>", "<BOB@example.net>"]);
    }

    #[test]
    fn message_bcc_never_sent() {
        let m = Message::from_bytes(
            "BCC: first@example.org\nFrom: a@example.org\nbcc : x@example.org,\n y@example.org\n\
             To: t@example.org\nBcc:\n\tlast@example.org\n\nBcc: not-a-header\n",
        )
        .unwrap();
        assert_eq!(m.envelope().recipients.len(), 5);
        assert_eq!(
            m.bytes(),
            &b"From: a@example.org\r\nTo: t@example.org\r\n\r\nBcc: not-a-header\r\n"[..]
        );
        let explicit = Message::new(
            m.envelope().clone(),
            "Bcc: b@example.org\nTo: t@example.org\nResent-bcc: z@example.org\n\nhi",
        );
        assert_eq!(explicit.bytes(), b"To: t@example.org\r\n\r\nhi");
    }

    #[test]
    fn message_line_endings_become_crlf() {
        let env = Envelope::new(ReversePath::Null, []);
        assert_eq!(
            Message::new(env.clone(), "a\nb\rc\r\nd\r\r\n").bytes(),
            b"a\r\nb\r\nc\r\nd\r\n\r\n"
        );
        assert_eq!(Message::new(env, "\n\nx").bytes(), b"\r\n\r\nx");
    }

    #[test]
    fn message_resent_block_names_the_envelope() {
        let text = "Resent-From: fwd@example.org\nResent-To: new@example.net\nResent-Date: x\n\
                    Resent-From: older@example.org\nResent-To: older-rcpt@example.net\n\
                    Received: by relay\nFrom: orig@example.org\nTo: orig-rcpt@example.net\n\n";
        let m = Message::from_bytes(text).unwrap();
        assert_eq!(m.envelope().from.to_string(), "<fwd@example.org>");
        assert_eq!(rcpts(&m), ["<new@example.net>"]);
        let err = Message::from_bytes(
            "Resent-From: f@example.org\nFrom: o@example.org\nTo: t@example.org\n\n",
        );
        assert_eq!(
            err.unwrap_err(),
            MessageError::NoRecipients { resent: true }
        );
    }

    #[test]
    fn message_missing_parts_are_named() {
        assert_eq!(
            Message::from_bytes("To: t@example.org\n\n").unwrap_err(),
            MessageError::NoSender { resent: false }
        );
        assert_eq!(
            Message::from_bytes("From: f@example.org\nTo: undisclosed-recipients:;\n\n")
                .unwrap_err(),
            MessageError::NoRecipients { resent: false }
        );
        let err = Message::from_bytes("From: f@example.org\nCc: ok@example.org, Bob Smith\n\n")
            .unwrap_err();
        let MessageError::BadAddress { field, found, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((*field, found.as_str()), ("Cc", "Bob Smith"));
        assert_eq!(
            err.to_string(),
            "bad address in Cc: expected an address local@domain, at \"Bob Smith\""
        );
    }

    #[test]
    fn message_utf8_needs_smtputf8_and_8bitmime() {
        let mut m =
            Message::from_bytes("From: pelé@example.org\nTo: b@example.org\n\nhi\n").unwrap();
        assert_eq!(
            m.needs(),
            Needs {
                eight_bit: true,
                binary: false,
                smtputf8: true
            }
        );
        let mut caps = Capabilities::default();
        caps.eight_bit_mime = true;
        let err = m.fit_to(&caps).unwrap_err();
        assert_eq!(
            err,
            MessageError::NeedsSmtpUtf8 {
                found: Snippet::new("pelé@example.org")
            }
        );
        assert!(
            err.to_string()
                .starts_with("\"pelé@example.org\" is not ASCII"),
            "{err}"
        );
        caps.smtputf8 = true;
        m.fit_to(&caps).unwrap();
        let p = &m.envelope().params;
        assert_eq!(
            (p.body, p.smtputf8, p.size),
            (Some(Body::EightBitMime), true, None)
        );

        let m = Message::from_bytes("From: a@example.org\nTo: b@example.org\nSubject: café\n\n")
            .unwrap();
        let err = m.needs().smtputf8.then(|| non_ascii_field(m.bytes()));
        assert_eq!(err, Some(Some(Snippet::new("Subject:"))));
    }

    #[test]
    fn message_fit_to_body_and_size() {
        let env = Envelope::new(ReversePath::Null, []);
        let mut caps = Capabilities::default();
        let mut m = Message::new(env.clone(), "Subject: x\n\nsmørrebrød\n");
        assert_eq!(m.fit_to(&caps), Err(MessageError::Needs8BitMime));
        caps.eight_bit_mime = true;
        caps.size = Some(0);
        m.fit_to(&caps).unwrap();
        let p = &m.envelope().params;
        assert_eq!(
            (p.body, p.smtputf8, p.size),
            (Some(Body::EightBitMime), false, Some(28))
        );
        caps.size = Some(20);
        assert_eq!(
            m.fit_to(&caps),
            Err(MessageError::TooLarge {
                size: 28,
                limit: 20
            })
        );

        let long = format!("Subject: x\n\n{}\n", "a".repeat(999));
        let mut m = Message::new(env.clone(), long);
        assert!(m.needs().binary && !m.needs().eight_bit);
        assert_eq!(m.fit_to(&caps), Err(MessageError::NeedsBinaryMime));
        caps.size = None;
        caps.binary_mime = true;
        caps.chunking = true;
        m.fit_to(&caps).unwrap();
        assert_eq!(m.envelope().params.body, Some(Body::BinaryMime));

        let mut m = Message::new(env, "Subject: x\n\nplain\n");
        m.envelope_mut().params.body = Some(Body::EightBitMime);
        m.fit_to(&caps).unwrap();
        assert_eq!(m.envelope().params.body, None);
    }

    #[test]
    fn message_never_panics_on_odd_headers() {
        for text in [
            &b""[..],
            b"\r",
            b":",
            b" continuation first\r\nTo: a@b.example\r\n",
            b"To: \"\\",
            b"To: (\\",
            b"To: [\\",
            b"To: a@[",
            b"To: <@",
            b"To: <@a,",
            b"From: \xff\xfe@example.org\r\nTo: a@b.example\r\n\r\n",
            b"From: f@example.org\r\nTo: a@b.example\0\r\n",
        ] {
            let _ = Message::from_bytes(text);
            let _ = Message::new(Envelope::new(ReversePath::Null, []), text);
        }
    }
}
