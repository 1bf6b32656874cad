//! The dot codec (RFC 5321 §4.5.2, RFC 1939 §3): named cases, the SMTP smuggling
//! vectors, and property tests of encoder and decoder under all three bare line ending
//! policies, against small reference models.

use mailproto_core::dot::{BareLineEnding, DotDecoder, DotEncoder, DotError, encode_body};
use proptest::prelude::*;

/// Decode `input` fed in chunks of the given sizes: (body, consumed, done, violation).
fn decode_split(
    policy: BareLineEnding,
    input: &[u8],
    splits: &[usize],
) -> (Vec<u8>, usize, bool, Option<DotError>) {
    let mut d = DotDecoder::new(policy);
    let mut body = Vec::new();
    let mut pos = 0;
    let mut sizes = splits.iter().copied().cycle();
    while pos < input.len() {
        let n = sizes
            .next()
            .unwrap_or(input.len())
            .clamp(1, input.len() - pos);
        let r = d.decode(&input[pos..pos + n], &mut body);
        pos += r.consumed;
        if r.done {
            return (body, pos, true, d.violation());
        }
    }
    (body, pos, false, d.violation())
}

fn decode_all(policy: BareLineEnding, input: &[u8]) -> (Vec<u8>, usize, bool, Option<DotError>) {
    decode_split(policy, input, &[input.len().max(1)])
}

fn encode_split(
    policy: BareLineEnding,
    body: &[u8],
    splits: &[usize],
) -> Result<Vec<u8>, DotError> {
    let mut e = DotEncoder::new(policy);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut sizes = splits.iter().copied().cycle();
    while pos < body.len() {
        let n = sizes
            .next()
            .unwrap_or(body.len())
            .clamp(1, body.len() - pos);
        e.encode(&body[pos..pos + n], &mut out)?;
        pos += n;
    }
    e.finish(&mut out)?;
    Ok(out)
}

const ALL: [BareLineEnding; 3] = [
    BareLineEnding::Reject,
    BareLineEnding::Normalize,
    BareLineEnding::Keep,
];

#[test]
fn rfc5321_data_example() {
    // RFC 5321 Appendix D.1: the body ends at CRLF.CRLF, the final CRLF belongs to it.
    let input = b"Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\nQUIT\r\n";
    let (body, consumed, done, v) = decode_all(BareLineEnding::Reject, input);
    assert!(done);
    assert_eq!(v, None);
    assert_eq!(body, b"Blah blah blah...\r\n..etc. etc. etc.\r\n");
    assert_eq!(&input[consumed..], b"QUIT\r\n");
}

#[test]
fn empty_body_right_after_354() {
    let (body, consumed, done, _) = decode_all(BareLineEnding::Reject, b".\r\nRSET\r\n");
    assert!(done);
    assert!(body.is_empty());
    assert_eq!(consumed, 3);
}

#[test]
fn leading_double_dot_is_unstuffed() {
    let (body, _, done, _) = decode_all(BareLineEnding::Reject, b"..x\r\n.\r\n");
    assert!(done);
    assert_eq!(body, b".x\r\n");
}

#[test]
fn rfc1939_multiline_with_stuffed_termination_octet() {
    // RFC 1939 §3: a line starting with the termination octet is byte-stuffed.
    let (body, _, done, _) =
        decode_all(BareLineEnding::Reject, b"From: a\r\n\r\n...\r\n..\r\n.\r\n");
    assert!(done);
    assert_eq!(body, b"From: a\r\n\r\n..\r\n.\r\n");
}

#[test]
fn unstuffed_dot_line_keeps_its_text() {
    // A single leading dot followed by text (a sloppy sender) loses only the dot.
    let (body, _, done, _) = decode_all(BareLineEnding::Reject, b"a\r\n.b\r\n.\r\n");
    assert!(done);
    assert_eq!(body, b"a\r\nb\r\n");
}

#[test]
fn body_ends_only_at_the_terminator_split_byte_by_byte() {
    let input = b"x\r\n.\r\n";
    let (body, consumed, done, _) = decode_split(BareLineEnding::Reject, input, &[1]);
    assert!(done);
    assert_eq!(body, b"x\r\n");
    assert_eq!(consumed, input.len());
}

/// Each smuggling terminator variant, placed in a body, must not end it: the decoder
/// keeps reading until the real `CRLF . CRLF`, under every policy.
fn assert_not_a_terminator(variant: &[u8]) {
    let mut input = b"Subject: one\r\n\r\nbody".to_vec();
    input.extend_from_slice(variant);
    input.extend_from_slice(b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n");
    let real_end = input.len();
    input.extend_from_slice(b"\r\n.\r\nNEXT");
    for policy in ALL {
        for split in [1usize, 2, 3, 5, 64] {
            let (body, consumed, done, violation) = decode_split(policy, &input, &[split]);
            assert!(done, "{policy:?} {variant:?}");
            assert_eq!(
                consumed,
                real_end + 5,
                "{policy:?} {variant:?} split {split}"
            );
            assert_eq!(&input[consumed..], b"NEXT");
            if violation.is_some() {
                assert_eq!(policy, BareLineEnding::Reject);
            } else {
                assert!(body.windows(18).any(|w| w == b"MAIL FROM:<evil@x>"));
            }
        }
    }
}

#[test]
fn smuggling_lf_dot_lf() {
    assert_not_a_terminator(b"\n.\n");
}

#[test]
fn smuggling_lf_dot_crlf() {
    assert_not_a_terminator(b"\n.\r\n");
}

#[test]
fn smuggling_cr_dot_crlf() {
    assert_not_a_terminator(b"\r.\r\n");
}

#[test]
fn smuggling_crlf_dot_cr() {
    assert_not_a_terminator(b"\r\n.\r");
}

#[test]
fn smuggling_crlf_dot_cr_crlf() {
    assert_not_a_terminator(b"\r\n.\r\r\n");
}

#[test]
fn smuggling_crlf_nul_dot_crlf() {
    assert_not_a_terminator(b"\r\n\x00.\r\n");
}

#[test]
fn smuggling_cr_dot_cr() {
    assert_not_a_terminator(b"\r.\r");
}

#[test]
fn smuggling_lf_dot_cr() {
    assert_not_a_terminator(b"\n.\r");
}

#[test]
fn smuggling_crlf_dot_lf() {
    assert_not_a_terminator(b"\r\n.\n");
}

#[test]
fn smuggling_cr_lf_cr_dot_crlf() {
    assert_not_a_terminator(b"\r\n\r.\r\n");
}

#[test]
fn smuggling_lf_lf_dot_lf() {
    assert_not_a_terminator(b"\n\n.\n\n");
}

#[test]
fn reject_reports_the_first_bare_ending_and_emits_nothing_after() {
    let (body, _, done, v) = decode_all(BareLineEnding::Reject, b"ok\r\nbad\nmore\r\n.\r\n");
    assert!(done);
    assert_eq!(v, Some(DotError::BareLf));
    assert_eq!(body, b"ok\r\nbad");
    let (_, _, _, v) = decode_all(BareLineEnding::Reject, b"a\rb\r\n.\r\n");
    assert_eq!(v, Some(DotError::BareCr));
}

#[test]
fn normalize_doubles_at_most() {
    let (body, consumed, done, _) = decode_all(BareLineEnding::Normalize, b"\n\n\n\n");
    assert!(!done);
    assert_eq!(consumed, 4);
    assert_eq!(body, b"\r\n\r\n\r\n\r\n");
}

#[test]
fn normalize_turns_bare_endings_into_crlf() {
    let (body, _, done, v) = decode_all(BareLineEnding::Normalize, b"a\nb\rc\r\n\n..d\r\n.\r\n");
    assert!(done);
    assert_eq!(v, None);
    assert_eq!(body, b"a\r\nb\r\nc\r\n\r\n.d\r\n");
}

#[test]
fn keep_passes_bare_endings_through() {
    let (body, _, done, _) = decode_all(BareLineEnding::Keep, b"a\nb\rc\r\n.\r\n");
    assert!(done);
    assert_eq!(body, b"a\nb\rc\r\n");
}

#[test]
fn encoder_stuffs_after_every_break() {
    let wire = encode_split(BareLineEnding::Keep, b".a\r\n.b\n.c\r.d", &[100]).unwrap();
    assert_eq!(wire, b"..a\r\n..b\n..c\r..d\r\n.\r\n");
}

#[test]
fn encoder_finisher_shapes() {
    assert_eq!(
        encode_split(BareLineEnding::Reject, b"", &[1]).unwrap(),
        b".\r\n"
    );
    assert_eq!(
        encode_split(BareLineEnding::Reject, b"a\r\n", &[1]).unwrap(),
        b"a\r\n.\r\n"
    );
    assert_eq!(
        encode_split(BareLineEnding::Reject, b"a", &[1]).unwrap(),
        b"a\r\n.\r\n"
    );
    assert_eq!(
        encode_split(BareLineEnding::Keep, b"a\r", &[1]).unwrap(),
        b"a\r\r\n.\r\n"
    );
    assert_eq!(
        encode_split(BareLineEnding::Normalize, b"a\r", &[1]).unwrap(),
        b"a\r\n.\r\n"
    );
    assert_eq!(
        encode_split(BareLineEnding::Keep, b"a\n", &[1]).unwrap(),
        b"a\n\r\n.\r\n"
    );
    assert_eq!(
        encode_split(BareLineEnding::Normalize, b"a\n", &[1]).unwrap(),
        b"a\r\n.\r\n"
    );
}

#[test]
fn encoder_crlf_split_across_calls_is_not_bare() {
    for policy in ALL {
        let wire = encode_split(policy, b"a\r\n.b\r\n", &[2]).unwrap();
        assert_eq!(wire, b"a\r\n..b\r\n.\r\n", "{policy:?}");
    }
}

#[test]
fn encoder_reject_refuses_bare_endings() {
    assert_eq!(
        encode_split(BareLineEnding::Reject, b"a\nb", &[10]),
        Err(DotError::BareLf)
    );
    assert_eq!(
        encode_split(BareLineEnding::Reject, b"a\rb", &[10]),
        Err(DotError::BareCr)
    );
    // A body that ends with a CR: any terminator would leave it bare on the wire.
    assert_eq!(
        encode_split(BareLineEnding::Reject, b"a\r", &[1, 1]),
        Err(DotError::BareCr)
    );
    let mut out = Vec::new();
    assert_eq!(
        encode_body(b"x\r", BareLineEnding::Reject, &mut out),
        Err(DotError::BareCr)
    );
    assert!(out.is_empty(), "nothing written: {out:?}");
}

#[test]
fn an_encode_error_writes_nothing_and_poisons_the_encoder() {
    let mut e = DotEncoder::new(BareLineEnding::Reject);
    let mut out = Vec::new();
    e.encode(b"line one\r\n", &mut out).unwrap();
    let before = out.clone();
    assert_eq!(e.encode(b"two\nthree", &mut out), Err(DotError::BareLf));
    assert_eq!(out, before, "the failed call wrote nothing");
    assert_eq!(e.failure(), Some(DotError::BareLf));
    // A half-written body never gets a terminator.
    assert_eq!(e.encode(b"fine\r\n", &mut out), Err(DotError::BareLf));
    assert_eq!(e.finish(&mut out), Err(DotError::BareLf));
    assert_eq!(out, before);
    // A new body starts clean.
    e.reset();
    e.encode(b"ok\r\n", &mut out).unwrap();
    e.finish(&mut out).unwrap();
    assert!(out.ends_with(b"line one\r\nok\r\n.\r\n"));
}

#[test]
fn terminator_written_by_caller_is_stuffed() {
    let wire = encode_split(BareLineEnding::Reject, b"x\r\n.\r\nRSET\r\n", &[3]).unwrap();
    assert_eq!(wire, b"x\r\n..\r\nRSET\r\n.\r\n");
    let (body, consumed, done, _) = decode_all(BareLineEnding::Reject, &wire);
    assert!(done);
    assert_eq!(consumed, wire.len());
    assert_eq!(body, b"x\r\n.\r\nRSET\r\n");
}

/// Bytes with many CR, LF and dots, the interesting ones for this codec.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(&b"ab.\x00"[..]),
            2 => Just(b'\r'),
            2 => Just(b'\n'),
            1 => any::<u8>(),
        ],
        0..200,
    )
}

/// Lines of up to 150 plain octets with CRLF, some starting with dots, and now and
/// then a bare CR or LF, a NUL or a terminator: long stretches of the plain text the
/// codecs pass over in blocks, with something to find at any offset in a block.
fn long_lines() -> impl Strategy<Value = Vec<u8>> {
    let line = (
        prop_oneof![8 => Just(&b""[..]), 1 => Just(&b"."[..]), 1 => Just(&b".."[..])],
        proptest::collection::vec(proptest::sample::select(&b"ab .:"[..]), 0..150),
        prop_oneof![
            20 => Just(&b"\r\n"[..]),
            1 => Just(&b"\r"[..]),
            1 => Just(&b"\n"[..]),
            1 => Just(&b"\r\r\n"[..]),
            1 => Just(&b"\x00\r\n"[..]),
            1 => Just(&b"\r\n.\r\n"[..]),
        ],
    )
        .prop_map(|(start, text, end)| [start, &text[..], end].concat());
    proptest::collection::vec(line, 0..40).prop_map(|lines| lines.concat())
}

fn splits() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..17, 1..12)
}

fn crlf_normalized(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < x.len() {
        match x[i] {
            b'\r' if x.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The body a decoder returns for an encoded `x`: `x` itself, with a CRLF added when
/// it did not end in one.
fn expected_body(x: &[u8]) -> Vec<u8> {
    let mut e = x.to_vec();
    if !e.is_empty() && !e.ends_with(b"\r\n") {
        e.extend_from_slice(b"\r\n");
    }
    e
}

proptest! {
    /// (a) decode(encode(x)) == x, under arbitrary chunking on both sides.
    #[test]
    fn roundtrip_keep(x in body_bytes(), es in splits(), ds in splits()) {
        let wire = encode_split(BareLineEnding::Keep, &x, &es).unwrap();
        let (body, consumed, done, v) = decode_split(BareLineEnding::Keep, &wire, &ds);
        prop_assert!(done);
        prop_assert_eq!(v, None);
        prop_assert_eq!(consumed, wire.len());
        prop_assert_eq!(body, expected_body(&x));
    }

    /// Normalizing on either side gives the CRLF-normalized body.
    #[test]
    fn roundtrip_normalize(x in body_bytes(), es in splits(), ds in splits()) {
        let wire = encode_split(BareLineEnding::Normalize, &x, &es).unwrap();
        let (body, consumed, done, v) = decode_split(BareLineEnding::Reject, &wire, &ds);
        prop_assert!(done);
        prop_assert_eq!(v, None);
        prop_assert_eq!(consumed, wire.len());
        prop_assert_eq!(&body, &expected_body(&crlf_normalized(&x)));
        let kept = encode_split(BareLineEnding::Keep, &x, &es).unwrap();
        let (normalized, ..) = decode_split(BareLineEnding::Normalize, &kept, &ds);
        prop_assert_eq!(normalized, crlf_normalized(&expected_body(&x)));
    }

    /// CRLF-only bodies roundtrip exactly under the default policy.
    #[test]
    fn roundtrip_reject_crlf_bodies(
        lines in proptest::collection::vec("[.a-z ]{0,12}", 0..12),
        es in splits(),
        ds in splits(),
    ) {
        let x: Vec<u8> = lines.iter().flat_map(|l| [l.as_bytes(), b"\r\n"].concat()).collect();
        let wire = encode_split(BareLineEnding::Reject, &x, &es).unwrap();
        let (body, _, done, v) = decode_split(BareLineEnding::Reject, &wire, &ds);
        prop_assert!(done);
        prop_assert_eq!(v, None);
        prop_assert_eq!(body, x);
    }

    /// (b) Any split of the same input gives identical output, end and violation.
    #[test]
    fn decode_split_independent(
        input in body_bytes(),
        ds in splits(),
    ) {
        for policy in ALL {
            prop_assert_eq!(decode_all(policy, &input), decode_split(policy, &input, &ds));
        }
    }

    /// Encoding is split-independent too.
    #[test]
    fn encode_split_independent(x in body_bytes(), es in splits()) {
        for policy in ALL {
            prop_assert_eq!(
                encode_split(policy, &x, &[x.len().max(1)]),
                encode_split(policy, &x, &es)
            );
        }
    }

    /// (c) No input makes the encoder emit CRLF.CRLF (or a leading .CRLF) before the
    /// finisher, and the finisher's terminator is the first one on the wire.
    #[test]
    fn encoder_never_emits_premature_terminator(x in body_bytes(), es in splits()) {
        for policy in [BareLineEnding::Keep, BareLineEnding::Normalize] {
            let wire = encode_split(policy, &x, &es).unwrap();
            let mut prefixed = b"\r\n".to_vec();
            prefixed.extend_from_slice(&wire);
            let first = prefixed.windows(5).position(|w| w == b"\r\n.\r\n").unwrap();
            prop_assert_eq!(first + 5, prefixed.len());
        }
    }

    /// Plain text passed over in blocks gives what octet-by-octet reading gives (a
    /// one-octet input never fills a block).
    #[test]
    fn bulk_and_octet_by_octet_agree(input in long_lines(), ds in splits()) {
        for policy in ALL {
            let one_by_one = decode_split(policy, &input, &[1]);
            prop_assert_eq!(&decode_all(policy, &input), &one_by_one);
            prop_assert_eq!(&decode_split(policy, &input, &ds), &one_by_one);
            let one_by_one = encode_split(policy, &input, &[1]);
            prop_assert_eq!(&encode_split(policy, &input, &[input.len().max(1)]), &one_by_one);
            prop_assert_eq!(&encode_split(policy, &input, &ds), &one_by_one);
        }
    }

    /// The decoder never emits more than it was given, whatever the input.
    #[test]
    fn decoder_output_bounded(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        for policy in ALL {
            let (body, consumed, ..) = decode_all(policy, &input);
            prop_assert!(consumed <= input.len());
            let bound = if policy == BareLineEnding::Normalize { 2 * consumed } else { consumed };
            prop_assert!(body.len() <= bound);
        }
    }
}

#[test]
fn large_body_streams_in_pieces() {
    let line = b"0123456789012345678901234567890123456789012345678901234567890123456789abcdef\r\n";
    let mut x = Vec::new();
    for i in 0..10_000 {
        if i % 7 == 0 {
            x.push(b'.');
        }
        x.extend_from_slice(line);
    }
    let wire = encode_split(BareLineEnding::Reject, &x, &[4096]).unwrap();
    let (body, _, done, _) = decode_split(BareLineEnding::Reject, &wire, &[1500, 4096, 3]);
    assert!(done);
    assert_eq!(body, x);
}

// ---------------------------------------------------------------------------------------
// Reference models: the RFC rules written the slow, obvious way.

/// A line break at `i`: its length (CRLF 2, bare CR or LF 1) and whether it is bare.
fn break_at(x: &[u8], i: usize) -> Option<(usize, bool)> {
    match x[i] {
        b'\r' if x.get(i + 1) == Some(&b'\n') => Some((2, false)),
        b'\r' | b'\n' => Some((1, true)),
        _ => None,
    }
}

/// What the encoder must write for `body`, or the first bare line ending it must refuse.
fn model_encode(policy: BareLineEnding, body: &[u8]) -> Result<Vec<u8>, DotError> {
    let mut out = Vec::new();
    let mut at_line_start = true;
    let mut i = 0;
    // Ends with CRLF (or empty): the terminator needs no line break before it.
    let mut ends_crlf = true;
    while i < body.len() {
        if at_line_start && body[i] == b'.' {
            out.push(b'.');
        }
        match break_at(body, i) {
            Some((2, _)) => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                at_line_start = true;
                ends_crlf = true;
            }
            Some((_, _)) => {
                match policy {
                    BareLineEnding::Reject => {
                        return Err(if body[i] == b'\r' {
                            DotError::BareCr
                        } else {
                            DotError::BareLf
                        });
                    }
                    BareLineEnding::Normalize => {
                        out.extend_from_slice(b"\r\n");
                        ends_crlf = true;
                    }
                    _ => {
                        out.push(body[i]);
                        ends_crlf = false;
                    }
                }
                i += 1;
                at_line_start = true;
            }
            None => {
                out.push(body[i]);
                i += 1;
                at_line_start = false;
                ends_crlf = false;
            }
        }
    }
    out.extend_from_slice(if ends_crlf { b".\r\n" } else { b"\r\n.\r\n" });
    Ok(out)
}

/// What the decoder must find in `wire`: the body (unstuffed, per policy), the octets
/// consumed and whether the terminator came; for Reject the first bare line ending.
fn model_decode(policy: BareLineEnding, wire: &[u8]) -> (Vec<u8>, usize, bool, Option<DotError>) {
    // The terminator: `.CRLF` at the start or right after a CRLF; nothing else.
    let end = (0..wire.len())
        .find(|&i| (i == 0 || wire[..i].ends_with(b"\r\n")) && wire[i..].starts_with(b".\r\n"));
    let (content, consumed, done) = match end {
        Some(i) => (&wire[..i], i + 3, true),
        // A CR at the very end is undecided: its LF may come next. The decoder holds it.
        None => (wire.strip_suffix(b"\r").unwrap_or(wire), wire.len(), false),
    };
    let mut body = Vec::new();
    let mut violation = None;
    let mut at_line_start = true;
    let mut i = 0;
    while i < content.len() {
        if at_line_start && content[i] == b'.' {
            // Stuffing: dropped.
            i += 1;
            at_line_start = false;
            continue;
        }
        at_line_start = false;
        match break_at(content, i) {
            Some((2, _)) => {
                body.extend_from_slice(b"\r\n");
                i += 2;
                at_line_start = true;
            }
            Some((_, _)) => {
                match policy {
                    BareLineEnding::Reject => {
                        violation.get_or_insert(if content[i] == b'\r' {
                            DotError::BareCr
                        } else {
                            DotError::BareLf
                        });
                    }
                    BareLineEnding::Normalize => body.extend_from_slice(b"\r\n"),
                    _ => body.push(content[i]),
                }
                i += 1;
                at_line_start = true;
            }
            None => {
                body.push(content[i]);
                i += 1;
            }
        }
    }
    (body, consumed, done, violation)
}

proptest! {
    /// The encoder writes what the model writes, or refuses what it refuses, under all
    /// three policies and whatever the splits.
    #[test]
    fn encoder_matches_the_model(x in body_bytes(), es in splits()) {
        for policy in ALL {
            prop_assert_eq!(encode_split(policy, &x, &es), model_encode(policy, &x), "{:?}", policy);
        }
    }

    /// The decoder finds what the model finds, under all three policies and whatever the
    /// splits (under Reject, what it emits before the violation is a prefix of the
    /// model's body).
    #[test]
    fn decoder_matches_the_model(x in body_bytes(), tail in body_bytes(), ds in splits()) {
        // Wire bytes that may or may not hold a terminator, followed by whatever comes
        // next.
        let mut wire = x.clone();
        wire.extend_from_slice(&tail);
        for policy in ALL {
            let (body, consumed, done, violation) = decode_split(policy, &wire, &ds);
            let (m_body, m_consumed, m_done, m_violation) = model_decode(policy, &wire);
            prop_assert_eq!((consumed, done, violation), (m_consumed, m_done, m_violation), "{:?}", policy);
            if policy == BareLineEnding::Reject && violation.is_some() {
                prop_assert!(m_body.starts_with(&body), "{:?}", policy);
            } else {
                prop_assert_eq!(&body, &m_body, "{:?}", policy);
            }
        }
    }
}
