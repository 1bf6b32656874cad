//! `DotDecoder` split equivalence with an explicit split list: byte 0 gives the list's
//! length (mod 32), the next bytes are chunk sizes (byte + 1, cycled), the rest is the
//! wire. Under every policy, the list and byte-by-byte feeding must give exactly what the
//! whole-input decode gives (body, bytes consumed, end, violation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_fuzz::{POLICIES, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let (list, wire) = rest.split_at(usize::from(count % 32).min(rest.len()));
    let sizes: Vec<usize> = list.iter().map(|&b| usize::from(b) + 1).collect();
    for policy in POLICIES {
        let whole = decode(policy, wire, &[]);
        assert_eq!(whole, decode(policy, wire, &sizes), "{policy:?} {sizes:?}");
        assert_eq!(whole, decode(policy, wire, &[1]), "{policy:?} byte by byte");
    }
});
