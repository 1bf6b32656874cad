use super::*;
use alloc::vec;
use proptest::prelude::*;
use std::string::String;

/// Everything the reader yields for `input` fed in the given chunk sizes.
fn frame(policy: BareLineEnding, max: usize, input: &[u8], splits: &[usize]) -> Vec<String> {
    let mut r = LineReader::new(max, policy);
    let mut out = Vec::new();
    let mut rest = input;
    let mut sizes = splits.iter().copied().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        r.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(item) = r.next_line() {
            out.push(match item {
                Ok(line) => String::from_utf8_lossy(line).into_owned(),
                Err(e) => std::format!("ERR {e}"),
            });
        }
    }
    out
}

#[test]
fn crlf_lines_rfc5321_session() {
    let input = b"EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\n";
    assert_eq!(
        frame(BareLineEnding::Reject, 512, input, &[input.len()]),
        [
            "EHLO bar.com",
            "MAIL FROM:<Smith@bar.com>",
            "RCPT TO:<Jones@foo.com>"
        ]
    );
}

#[test]
fn partial_line_waits_for_its_end() {
    let mut r = LineReader::new(512, BareLineEnding::Reject);
    r.push(b"NOOP\r");
    assert!(r.next_line().is_none());
    r.push(b"\nQU");
    assert_eq!(r.next_line(), Some(Ok(&b"NOOP"[..])));
    assert!(r.next_line().is_none());
    assert_eq!(r.buffered(), b"QU");
}

#[test]
fn over_long_line_reported_once_and_skipped_to_its_end() {
    let mut input = vec![b'A'; 2000];
    input.extend_from_slice(b"\r\nQUIT\r\n");
    for split in [1usize, 7, 100, 511, 512, 513, 4096] {
        assert_eq!(
            frame(BareLineEnding::Reject, 512, &input, &[split]),
            ["ERR line longer than 512 octets", "QUIT"],
            "split {split}"
        );
    }
}

#[test]
fn limit_counts_the_crlf() {
    let mut ok = vec![b'a'; 510];
    ok.extend_from_slice(b"\r\n");
    assert_eq!(
        frame(BareLineEnding::Reject, 512, &ok, &[1000])[0].len(),
        510
    );
    let mut long = vec![b'a'; 511];
    long.extend_from_slice(b"\r\n");
    assert_eq!(
        frame(BareLineEnding::Reject, 512, &long, &[1000]),
        ["ERR line longer than 512 octets"]
    );
}

#[test]
fn over_long_line_keeps_memory_bounded() {
    let mut r = LineReader::new(512, BareLineEnding::Reject);
    let chunk = [b'x'; 4096];
    let mut errors = 0;
    for _ in 0..1000 {
        r.push(&chunk);
        while let Some(item) = r.next_line() {
            assert!(item.is_err());
            errors += 1;
        }
        assert!(r.len() <= 512);
    }
    assert_eq!(errors, 1);
}

#[test]
fn bare_lf_rejected_then_next_line_read() {
    assert_eq!(
        frame(BareLineEnding::Reject, 512, b"NOOP\nQUIT\r\n", &[100]),
        ["ERR line ended by bare LF (not preceded by CR)", "QUIT"]
    );
}

#[test]
fn bare_cr_rejected_up_to_the_line_end() {
    assert_eq!(
        frame(BareLineEnding::Reject, 512, b"NO\rOP\r\nQUIT\r\n", &[1]),
        ["ERR bare CR (not followed by LF) in line", "QUIT"]
    );
}

#[test]
fn normalize_treats_bare_endings_as_line_breaks() {
    assert_eq!(
        frame(BareLineEnding::Normalize, 512, b"A\nB\rC\r\nD\r\n", &[1]),
        ["A", "B", "C", "D"]
    );
}

#[test]
fn keep_ends_on_lf_and_keeps_bare_cr() {
    assert_eq!(
        frame(BareLineEnding::Keep, 512, b"A\nB\rC\r\n", &[2]),
        ["A", "B\rC"]
    );
}

#[test]
fn discard_drops_everything_buffered() {
    let mut r = LineReader::new(512, BareLineEnding::Reject);
    r.push(b"STARTTLS\r\nRSET\r\n");
    assert_eq!(r.next_line(), Some(Ok(&b"STARTTLS"[..])));
    assert!(r.has_line());
    assert_eq!(r.discard(), 6);
    assert!(r.is_empty());
    assert!(r.next_line().is_none());
}

#[test]
fn raw_consume_between_lines() {
    let mut r = LineReader::new(512, BareLineEnding::Reject);
    r.push(b"BDAT 3\r\nabcQUIT\r\n");
    assert_eq!(r.next_line(), Some(Ok(&b"BDAT 3"[..])));
    assert_eq!(&r.buffered()[..3], b"abc");
    r.consume(3);
    assert_eq!(r.next_line(), Some(Ok(&b"QUIT"[..])));
}

fn policies() -> impl Strategy<Value = BareLineEnding> {
    prop_oneof![
        Just(BareLineEnding::Reject),
        Just(BareLineEnding::Normalize),
        Just(BareLineEnding::Keep),
    ]
}

fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(&b"abc .:"[..]),
            1 => Just(b'\r'),
            1 => Just(b'\n'),
        ],
        0..300,
    )
}

proptest! {
    /// Any split of the input yields the same lines and errors.
    #[test]
    fn split_independent(
        policy in policies(),
        max in 3usize..40,
        input in line_bytes(),
        splits in proptest::collection::vec(1usize..50, 1..20),
    ) {
        let whole = frame(policy, max, &input, &[input.len().max(1)]);
        let split = frame(policy, max, &input, &splits);
        prop_assert_eq!(whole, split);
    }

    /// Lines made of CRLF-terminated content come back exactly.
    #[test]
    fn crlf_lines_roundtrip(
        lines in proptest::collection::vec("[ -~]{0,60}", 0..20),
        splits in proptest::collection::vec(1usize..30, 1..10),
    ) {
        let mut input = Vec::new();
        for l in &lines {
            input.extend_from_slice(l.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        let got = frame(BareLineEnding::Reject, 64, &input, &splits);
        prop_assert_eq!(got, lines);
    }

    /// Held bytes never exceed the limit plus one pushed chunk.
    #[test]
    fn bounded(
        policy in policies(),
        input in line_bytes(),
        chunk in 1usize..64,
    ) {
        let mut r = LineReader::new(16, policy);
        for part in input.chunks(chunk) {
            r.push(part);
            while r.next_line().is_some() {}
            prop_assert!(r.len() <= 16);
        }
    }

    /// The word-at-a-time scan finds what a byte-by-byte scan finds.
    #[test]
    fn find_cr_lf_nul_is_the_first_one(
        s in proptest::collection::vec(
            prop_oneof![
                8 => 0x0eu8..,
                1 => Just(0u8),
                1 => Just(CR),
                1 => Just(LF),
                1 => 1u8..0x0e,
            ],
            0..140,
        ),
    ) {
        let expected = s.iter().position(|b| matches!(*b, 0 | CR | LF));
        prop_assert_eq!(find_cr_lf_nul(&s), expected);
    }

    /// Starting the UTF-8 check inside the ASCII prefix changes nothing but speed,
    /// wherever the line lies in memory.
    #[test]
    fn utf8_after_ascii_is_from_utf8_of_the_rest(
        prefix in "[A-Za-z0-9]{0,12}",
        rest in proptest::collection::vec(
            prop_oneof![4 => 0x20u8..0x7f, 1 => 0x80u8.., 1 => Just(0xc3u8), 1 => Just(0xa9u8)],
            0..40,
        ),
        shift in 0usize..16,
    ) {
        let mut buf = vec![b'x'; shift];
        buf.extend_from_slice(prefix.as_bytes());
        buf.extend_from_slice(&rest);
        let line = &buf[shift..];
        let expected = core::str::from_utf8(&rest).map_err(|e| prefix.len() + e.valid_up_to());
        prop_assert_eq!(utf8_after_ascii(line, prefix.len()), expected);
    }
}
