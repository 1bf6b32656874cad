//! `DotEncoder` -> `DotDecoder` under `Keep`: byte 0 seeds the encoder's chunk sizes,
//! byte 1 the decoder's, the rest is the body. The wire must be the same however the body
//! is chunked, must hold no `CRLF . CRLF` before its end (so caller bytes never end the
//! body early), and must decode to the body (plus CRLF if it did not end in one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::dot::DotEncoder;
use mailproto_fuzz::{BareLineEnding, chunks, data_sizes, decode, terminator_end};

fn encode(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut encoder = DotEncoder::new(BareLineEnding::Keep);
    let mut wire = Vec::new();
    for chunk in chunks(body, sizes) {
        encoder
            .encode(chunk, &mut wire)
            .expect("Keep refuses nothing");
    }
    encoder.finish(&mut wire).expect("Keep refuses nothing");
    wire
}

fuzz_target!(|data: &[u8]| {
    let [enc_seed, dec_seed, body @ ..] = data else {
        return;
    };
    let wire = encode(body, &data_sizes(body, *enc_seed));
    assert_eq!(wire, encode(body, &[]), "encoding depends on chunking");
    assert_eq!(
        terminator_end(&wire),
        Some(wire.len()),
        "premature terminator: {wire:?}"
    );

    let decoded = decode(BareLineEnding::Keep, &wire, &data_sizes(&wire, *dec_seed));
    let mut expected = body.to_vec();
    if !expected.is_empty() && !expected.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    assert!(decoded.done);
    assert_eq!(decoded.consumed, wire.len());
    assert_eq!(decoded.body, expected);
});
