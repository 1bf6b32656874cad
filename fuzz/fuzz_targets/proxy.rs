//! PROXY protocol headers: the whole input is the wire. `proxy::parse` never takes more
//! than it was given, decides for good (once an error or a header, every longer input
//! gives the same), and never waits past `MAX_V2_LEN` octets. A header it reads encodes
//! as version 2 and reads back the same (only the version differs), and as version 1
//! with the same addresses (v1 cannot carry TLVs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::proxy::{self, Header, MAX_V2_LEN, Version};

fn reparse(wire: &[u8]) -> Header {
    match proxy::parse(wire) {
        Ok(Some((header, consumed))) => {
            assert_eq!(consumed, wire.len(), "{wire:?} read in part");
            header
        }
        other => panic!("{wire:?} does not read back: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let result = proxy::parse(data);

    // Fed a prefix at a time (every prefix of a short input, some of a long one), the
    // parser waits until it decides, then sticks to its decision.
    let step = (data.len() / 256).max(1);
    let mut decided = None;
    for n in (0..data.len()).step_by(step).chain([data.len()]) {
        let partial = proxy::parse(&data[..n]);
        match &decided {
            Some(earlier) => assert_eq!(&partial, earlier, "{n} octets"),
            None if partial != Ok(None) => decided = Some(partial),
            None => {}
        }
    }
    if data.len() >= MAX_V2_LEN {
        assert_ne!(result, Ok(None), "waits past MAX_V2_LEN");
    }

    let Ok(Some((header, consumed))) = result else {
        return;
    };
    assert!(consumed <= data.len());

    let mut v2 = Vec::new();
    if let Err(e) = header.encode_v2(&mut v2) {
        panic!("{header:?} does not encode as v2: {e}");
    }
    let again = reparse(&v2);
    assert_eq!(again.addresses, header.addresses);
    assert_eq!(again.local, header.local);
    assert_eq!(again.ssl, header.ssl);
    assert_eq!(again, header.clone().with_version(Version::V2));

    let mut v1 = Vec::new();
    header.encode_v1(&mut v1);
    assert_eq!(reparse(&v1).addresses, header.addresses);
});
