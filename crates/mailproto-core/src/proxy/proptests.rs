//! Property tests: encode -> parse roundtrips in both versions, fragmentation
//! independence, trailing bytes left alone, arbitrary and mutated input, and the
//! address scanners against `core::net`'s parsers.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use proptest::prelude::*;

use super::v1::{DottedQuad, Ipv6Text};
use super::v2::SIGNATURE;
use super::*;

/// A source and destination of one family (v1 and v2 carry no mixed pairs), IPv6
/// without flow information or scope.
fn endpoints() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    let v4 = (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::from((Ipv4Addr::from(ip), port)));
    let v6 = (any::<[u8; 16]>(), any::<u16>(), 0..3u8).prop_map(|(ip, port, kind)| {
        let ip = match kind {
            // IPv4-mapped and zero-heavy addresses, shown specially in text.
            0 => Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_ipv6_mapped(),
            1 => Ipv6Addr::from(u128::from(ip[0]) << (ip[1] % 128)),
            _ => Ipv6Addr::from(ip),
        };
        SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0))
    });
    prop_oneof![(v4.clone(), v4).boxed(), (v6.clone(), v6).boxed()]
}

/// Text for the US-ASCII SSL fields.
fn ascii() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

/// Text for the UTF-8 fields.
fn utf8() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .*=_äø€😀-]{0,40}"
}

fn ssl() -> impl Strategy<Value = SslInfo> {
    (
        any::<[bool; 4]>(),
        proptest::option::of(ascii()),
        proptest::option::of(ascii()),
        proptest::option::of(utf8()),
        proptest::option::of(ascii()),
        proptest::option::of(ascii()),
    )
        .prop_map(|(flags, version, cipher, common_name, sig_alg, key_alg)| {
            let mut ssl = SslInfo::default()
                .with_client_ssl(flags[0])
                .with_client_cert_conn(flags[1])
                .with_client_cert_sess(flags[2])
                .with_verified(flags[3]);
            (ssl.version, ssl.cipher, ssl.common_name) = (version, cipher, common_name);
            (ssl.sig_alg, ssl.key_alg) = (sig_alg, key_alg);
            ssl
        })
}

/// Any header version 2 can carry.
fn v2_header() -> impl Strategy<Value = Header> {
    (
        proptest::option::of(endpoints()),
        any::<bool>(),
        proptest::option::of(ssl()),
        proptest::option::of(utf8()),
        any::<bool>(),
    )
        .prop_map(|(addresses, local, ssl, authority, checksum)| {
            let mut header = match (local, addresses) {
                (true, _) => Header::local(),
                (false, Some((s, d))) => Header::tcp(s, d),
                (false, None) => Header::unknown(),
            };
            (header.ssl, header.authority, header.checksum) = (ssl, authority, checksum);
            header
        })
}

/// Any header version 1 can carry.
fn v1_header() -> impl Strategy<Value = Header> {
    proptest::option::of(endpoints()).prop_map(|addresses| {
        let header = match addresses {
            Some((s, d)) => Header::tcp(s, d),
            None => Header::unknown(),
        };
        header.with_version(Version::V1)
    })
}

/// A header of either version, and its encoding.
fn wire() -> impl Strategy<Value = (Header, Vec<u8>)> {
    prop_oneof![v1_header(), v2_header()].prop_map(|header| {
        let mut wire = Vec::new();
        header.encode(&mut wire).unwrap();
        (header, wire)
    })
}

/// Starts that lead the parser past its first checks, for arbitrary bytes after them.
fn start() -> impl Strategy<Value = Vec<u8>> {
    let mut v2 = SIGNATURE.to_vec();
    v2.extend_from_slice(&[0x21, 0x11]);
    prop::sample::select(vec![
        Vec::new(),
        b"PROXY ".to_vec(),
        b"PROXY TCP4 ".to_vec(),
        b"PROXY TCP6 ".to_vec(),
        b"PROXY TCP4 192.0.2.1 198.51.100.2 ".to_vec(),
        // Near the end of the longest line.
        [&b"PROXY UNKNOWN "[..], &[b'a'; 90]].concat(),
        SIGNATURE.to_vec(),
        v2,
    ])
}

/// IPv6 text in the forms senders use: compressed, full with leading zeros, uppercase,
/// with a dotted quad at the end.
fn ipv6_text() -> impl Strategy<Value = String> {
    (endpoints(), 0..5u8).prop_map(|((s, _), form)| {
        let ip = super::v1::mapped(s.ip());
        let g = ip.segments();
        match form {
            0 => format!("{ip}"),
            1 => format!(
                "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
                g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]
            ),
            2 => format!("{ip}").to_uppercase(),
            _ => {
                let [.., a, b, c, d] = ip.octets();
                let hex = |g: &[u16]| {
                    g.iter()
                        .map(|g| format!("{g:x}"))
                        .collect::<Vec<_>>()
                        .join(":")
                };
                // The first run of zero groups of the most length, as `::` if form 4.
                let (mut at, mut len) = (0, 0);
                for i in 0..6 {
                    let run = g[i..6].iter().take_while(|&&g| g == 0).count();
                    if run > len {
                        (at, len) = (i, run);
                    }
                }
                let head = match form {
                    3 => format!("{}:", hex(&g[..6])),
                    _ if len == 0 => format!("{}:", hex(&g[..6])),
                    _ if at + len == 6 => format!("{}::", hex(&g[..at])),
                    _ => format!("{}::{}:", hex(&g[..at]), hex(&g[at + len..6])),
                };
                format!("{head}{a}.{b}.{c}.{d}")
            }
        }
    })
}

/// Fed `input` a prefix at a time, the parser waits until it decides, then sticks to
/// its decision: an error stays the same error, a header the same header.
fn decides_for_good(input: &[u8]) -> Result<(), TestCaseError> {
    let mut decided = None;
    for n in 0..=input.len() {
        let result = parse(&input[..n]);
        if let Ok(Some((_, consumed))) = &result {
            prop_assert!(*consumed <= n);
        }
        match &decided {
            Some(earlier) => prop_assert_eq!(&result, earlier, "{} octets", n),
            None if result != Ok(None) => decided = Some(result),
            None => {}
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn v2_roundtrip(header in v2_header(), tail in prop::collection::vec(any::<u8>(), 0..8)) {
        let mut wire = Vec::new();
        header.encode_v2(&mut wire).unwrap();
        let len = wire.len();
        wire.extend_from_slice(&tail);
        prop_assert_eq!(parse(&wire), Ok(Some((header, len))));
    }

    #[test]
    fn v1_roundtrip(header in v1_header()) {
        let mut wire = Vec::new();
        header.encode_v1(&mut wire);
        prop_assert!(wire.len() <= V1_MAX_LEN);
        prop_assert_eq!(parse(&wire), Ok(Some((header, wire.len()))));
    }

    #[test]
    fn v1_keeps_the_addresses_of_a_v2_header(header in v2_header()) {
        let mut wire = Vec::new();
        header.encode_v1(&mut wire);
        let (read, _) = parse(&wire).unwrap().unwrap();
        prop_assert_eq!(read.addresses, header.addresses);
    }

    #[test]
    fn every_prefix_waits((header, wire) in wire()) {
        for n in 0..wire.len() {
            prop_assert_eq!(parse(&wire[..n]), Ok(None), "prefix of {} octets", n);
        }
        prop_assert_eq!(parse(&wire), Ok(Some((header, wire.len()))));
    }

    #[test]
    fn what_follows_is_left_alone((header, wire) in wire(), tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut input = wire.clone();
        input.extend_from_slice(&tail);
        prop_assert_eq!(parse(&input), Ok(Some((header, wire.len()))));
    }

    #[test]
    fn arbitrary_input(start in start(), data in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut input = start;
        input.extend_from_slice(&data);
        decides_for_good(&input)?;
        // No header needs more than MAX_V2_LEN octets.
        input.resize(MAX_V2_LEN, 0);
        prop_assert_ne!(parse(&input), Ok(None));
    }

    #[test]
    fn mutated_headers((_, wire) in wire(), at in any::<prop::sample::Index>(), xor in 1..=255u8) {
        let mut input = wire.clone();
        let at = at.index(input.len());
        input[at] ^= xor;
        decides_for_good(&input)?;
        if let Ok(Some((header, consumed))) = parse(&input) {
            prop_assert!(consumed <= input.len());
            // What parses encodes, and reads back the same.
            let mut again = Vec::new();
            header.encode(&mut again).unwrap();
            let (reread, _) = parse(&again).unwrap().unwrap();
            prop_assert_eq!(reread, header);
        }
    }

    #[test]
    fn ipv6_scanner_takes_every_prefix(text in ipv6_text()) {
        prop_assert!(text.parse::<Ipv6Addr>().is_ok(), "{}", text);
        let mut scan = Ipv6Text::default();
        for c in text.bytes() {
            prop_assert!(scan.push(c), "{}", text);
        }
        prop_assert!(scan.complete());
        let line = format!("PROXY TCP6 {text} ::1 1 2\r\n");
        if line.len() <= V1_MAX_LEN {
            for n in 0..line.len() {
                prop_assert_eq!(parse(&line.as_bytes()[..n]), Ok(None));
            }
            prop_assert!(parse(line.as_bytes()).unwrap().is_some());
        }
    }

    #[test]
    fn ipv6_scanner_agrees_with_core(text in "[01aF:.]{0,20}|[0-9a-f:]{0,40}|::[0-9.]{0,16}|[0:]{0,14}:[0-9.]{0,16}") {
        let mut scan = Ipv6Text::default();
        let taken = text.bytes().all(|c| scan.push(c)) && scan.complete();
        prop_assert_eq!(taken, text.parse::<Ipv6Addr>().is_ok(), "{}", text);
    }

    #[test]
    fn ipv4_scanner_agrees_with_core(text in "[0-9.]{0,16}|[0-3]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}") {
        let mut quad = DottedQuad::default();
        let taken = text.bytes().all(|c| quad.push(c)) && quad.complete();
        prop_assert_eq!(taken, text.parse::<Ipv4Addr>().is_ok(), "{}", text);
        if let Ok(ip) = text.parse::<Ipv4Addr>() {
            let mut quad = DottedQuad::default();
            let shown = format!("{ip}");
            prop_assert!(shown.bytes().all(|c| quad.push(c)));
        }
    }
}
