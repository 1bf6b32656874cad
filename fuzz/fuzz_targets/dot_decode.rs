//! `DotDecoder` on arbitrary input: byte 0 seeds the chunk sizes, the rest is the wire.
//! Under every policy the decoder's contract holds (see `mailproto_fuzz::decode`: bounded
//! output, consumed <= input, ends exactly at the first CRLF.CRLF) and feeding the wire
//! in chunks gives the same body, end and violation as feeding it whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::{POLICIES, data_sizes, decode};

fuzz_target!(|data: &[u8]| {
    let [seed, wire @ ..] = data else {
        return;
    };
    let sizes = data_sizes(wire, *seed);
    for policy in POLICIES {
        assert_eq!(
            decode(policy, wire, &[]),
            decode(policy, wire, &sizes),
            "{policy:?}"
        );
    }
});
