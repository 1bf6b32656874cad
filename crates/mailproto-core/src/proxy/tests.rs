//! Hand-written vectors: the spec's examples, every TLV this module reads, every error.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;

use super::v1::{DottedQuad, Ipv6Text};
use super::v2::{SIGNATURE, crc32c};
use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The header `wire` holds, checking that it took all of `wire` and that every prefix
/// of it asks for more.
fn whole(wire: &[u8]) -> Header {
    for n in 0..wire.len() {
        assert_eq!(parse(&wire[..n]), Ok(None), "prefix of {n} octets");
    }
    let (header, consumed) = parse(wire).unwrap().unwrap();
    assert_eq!(consumed, wire.len());
    header
}

/// The error for `wire`, checking that every longer input gets it too.
fn refused(wire: &[u8]) -> Error {
    let err = parse(wire).unwrap_err();
    let mut longer = wire.to_vec();
    longer.extend_from_slice(b"\r\n\r\n 1 2 3\r\n");
    assert_eq!(parse(&longer), Err(err), "{wire:?} extended");
    err
}

/// A v2 header: `version_command`, `family`, then `body` (addresses and TLVs).
fn v2(version_command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut wire = SIGNATURE.to_vec();
    wire.push(version_command);
    wire.push(family);
    wire.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    wire.extend_from_slice(body);
    wire
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The address block of 192.168.0.1:56324 -> 192.168.0.11:443.
const IPV4_BLOCK: [u8; 12] = [192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb];

fn ssl_tlv(client: u8, verify: u32, subs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut value = vec![client];
    value.extend_from_slice(&verify.to_be_bytes());
    for (kind, text) in subs {
        value.extend(tlv(*kind, text));
    }
    tlv(0x20, &value)
}

#[test]
fn crc32c_check_value() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
}

#[test]
fn v1_tcp4_haproxy_example() {
    let header = whole(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    assert_eq!(header.version, Version::V1);
    assert_eq!(
        header.addresses,
        Some((addr("192.168.0.1:56324"), addr("192.168.0.11:443")))
    );
    assert!(!header.local && header.ssl.is_none() && header.authority.is_none());
}

#[test]
fn v1_tcp6_examples() {
    // The spec's longest TCP6 line: 104 octets.
    let max = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(max.len(), 104);
    let all = addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    assert_eq!(whole(max).addresses, Some((all, all)));

    let header = whole(b"PROXY TCP6 2001:db8::1 ::1 0 25\r\n");
    assert_eq!(
        header.addresses,
        Some((addr("[2001:db8::1]:0"), addr("[::1]:25")))
    );
}

#[test]
fn v1_ipv6_in_every_text_form() {
    for text in [
        "2001:DB8::1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
        "2001:db8:0:0:0:0:0:1",
    ] {
        let line = alloc::format!("PROXY TCP6 {text} ::ffff:192.0.2.1 1 2\r\n");
        let (source, destination) = whole(line.as_bytes()).addresses.unwrap();
        assert_eq!(source, addr("[2001:db8::1]:1"), "{text}");
        assert_eq!(destination, addr("[::ffff:192.0.2.1]:2"));
    }
}

#[test]
fn v1_unknown_ignores_the_rest_of_the_line() {
    let unknown = Header::unknown().with_version(Version::V1);
    assert_eq!(whole(b"PROXY UNKNOWN\r\n"), unknown);
    // The spec's longest UNKNOWN line: 107 octets.
    let max = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(max.len(), V1_MAX_LEN);
    assert_eq!(whole(max), unknown);
    assert_eq!(
        whole(b"PROXY UNKNOWN any thing  \x00\xff at all\r\n"),
        unknown
    );
}

#[test]
fn v1_leaves_what_follows() {
    let wire = b"PROXY TCP4 192.0.2.1 198.51.100.2 49152 25\r\nEHLO c.example\r\n";
    let (_, consumed) = parse(wire).unwrap().unwrap();
    assert_eq!(&wire[consumed..], b"EHLO c.example\r\n");
    // Another header after the first is not looked at.
    let wire = b"PROXY UNKNOWN\r\nPROXY TCP4 garbage\r\n";
    assert_eq!(parse(wire).unwrap().unwrap().1, 15);
}

#[test]
fn v1_line_limit() {
    let line = |n: usize| {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(n - 2, b'a');
        line.extend_from_slice(b"\r\n");
        line
    };
    assert!(parse(&line(107)).unwrap().is_some());
    assert_eq!(parse(&line(108)), Err(Error::TooLong));
    assert_eq!(
        parse(&line(108)[..107]),
        Err(Error::TooLong),
        "the CR is octet 107"
    );
    let mut cr_x = line(108);
    cr_x[107] = b'x';
    assert_eq!(
        parse(&cr_x),
        Err(Error::TooLong),
        "whatever follows that CR"
    );
    assert_eq!(
        parse(&line(200)[..107]),
        Err(Error::TooLong),
        "no CR in 107"
    );
    assert_eq!(parse(&line(200)[..106]), Ok(None));
}

#[test]
fn v1_refused_as_soon_as_impossible() {
    let invalid: &[&[u8]] = &[
        b"PROXY TCP5",
        b"PROXY tcp4",
        b"PROXY UNKNOWNx",
        b"PROXY  TCP4",
        b"PROXY TCP4\r\n",
        b"PROXY TCP4 \r\n",
        b"PROXY \r\n",
        b"PROXY TCP4 01.2.3.4",
        b"PROXY TCP4 1.2.3.256",
        b"PROXY TCP4 1.2.3.4.",
        b"PROXY TCP4 1..",
        b"PROXY TCP4 1.2.3.4  ",
        b"PROXY TCP4 1.2.3 ",
        b"PROXY TCP4 ::1",
        b"PROXY TCP6 1.2.3.4 ",
        b"PROXY TCP6 fe80::1%eth0",
        b"PROXY TCP6 1:::",
        b"PROXY TCP6 12345",
        b"PROXY TCP6 :1",
        b"PROXY TCP6 1::2::",
        b"PROXY TCP6 g",
        b"PROXY TCP6 1:2:3:4:5:6:7:8:",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 x",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 080",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 -1",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY UNKNOWN\n",
        b"PROXY UNKNOWN\r\r\n",
    ];
    for wire in invalid {
        assert!(
            matches!(refused(wire), Error::Invalid(_)),
            "{}",
            String::from_utf8_lossy(wire)
        );
    }
    // The first fault decides, whatever follows it.
    let protocol = Err(Error::Invalid("v1: protocol not TCP4, TCP6 or UNKNOWN"));
    assert_eq!(parse(b"PROXY \x00"), protocol);
    assert_eq!(parse(b"PROXY \x00\n"), protocol);
    assert_eq!(parse(b"PROXY \x00\r\n"), protocol);
    for wire in [
        &b"PROXX"[..],
        b"PROXY\r\n",
        b"proxy ",
        b"EHLO x\r\n",
        b"\r\n\r\nX",
    ] {
        assert_eq!(refused(wire), Error::NotProxy, "{wire:?}");
    }
}

#[test]
fn v1_partial_lines_wait() {
    for wire in [
        &b""[..],
        b"P",
        b"PROXY",
        b"PROXY UNKN",
        b"PROXY TCP4 192.168.",
        b"PROXY TCP6 ::ffff:1.2",
        b"PROXY TCP6 2001:db8::",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 6553",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 0",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r",
        b"PROXY UNKNOWN whatever",
    ] {
        assert_eq!(parse(wire), Ok(None), "{}", String::from_utf8_lossy(wire));
    }
}

#[test]
fn address_scanners_take_exactly_the_addresses() {
    let quad = |s: &str| {
        let mut q = DottedQuad::default();
        s.bytes().all(|c| q.push(c)) && q.complete()
    };
    let six = |s: &str| {
        let mut a = Ipv6Text::default();
        s.bytes().all(|c| a.push(c)) && a.complete()
    };
    for s in [
        "0.0.0.0",
        "255.255.255.255",
        "1.2.3",
        "01.1.1.1",
        "1.2.3.4.",
        "256.0.0.0",
    ] {
        assert_eq!(quad(s), s.parse::<core::net::Ipv4Addr>().is_ok(), "{s}");
    }
    for s in [
        "::",
        "::1",
        "1::",
        ":",
        ":::",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8::",
        "1:2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5::1.2.3.4",
        "1:2:3:4:5:6::1.2.3.4",
        "::1.2.3.4",
        "::01.2.3.4",
        "::1.2.3",
        "1.2.3.4",
        "::a.2.3.4",
        "12345::",
        "1:2:3:4:5:6:7",
    ] {
        assert_eq!(six(s), s.parse::<core::net::Ipv6Addr>().is_ok(), "{s}");
    }
}

#[test]
fn v2_tcp4() {
    let wire = v2(0x21, 0x11, &IPV4_BLOCK);
    let header = whole(&wire);
    assert_eq!(header.version, Version::V2);
    assert_eq!(
        header.addresses,
        Some((addr("192.168.0.1:56324"), addr("192.168.0.11:443")))
    );
    assert!(!header.local && !header.checksum);
}

#[test]
fn v2_tcp6() {
    let mut block = Vec::new();
    block.extend_from_slice(
        &"2001:db8::1"
            .parse::<core::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    block.extend_from_slice(&core::net::Ipv6Addr::LOCALHOST.octets());
    block.extend_from_slice(&[0xc0, 0x00, 0x00, 0x19]);
    let header = whole(&v2(0x21, 0x21, &block));
    assert_eq!(
        header.addresses,
        Some((addr("[2001:db8::1]:49152"), addr("[::1]:25")))
    );
}

#[test]
fn v2_without_addresses() {
    // LOCAL: the proxy's own health check; the family is still read.
    assert_eq!(whole(&v2(0x20, 0x00, &[])), Header::local());
    let header = whole(&v2(0x20, 0x11, &IPV4_BLOCK));
    assert_eq!((header.local, header.addresses), (true, None));
    // PROXY over AF_UNSPEC, UDP and AF_UNIX: the socket's own addresses count.
    assert_eq!(whole(&v2(0x21, 0x00, &[])), Header::unknown());
    assert_eq!(whole(&v2(0x21, 0x12, &IPV4_BLOCK)), Header::unknown());
    assert_eq!(whole(&v2(0x21, 0x22, &[7; 36])), Header::unknown());
    let mut unix = vec![0u8; 216];
    unix[..14].copy_from_slice(b"/run/mx.socket");
    assert_eq!(whole(&v2(0x21, 0x31, &unix)), Header::unknown());
    assert_eq!(whole(&v2(0x21, 0x32, &unix)), Header::unknown());
}

#[test]
fn v2_ssl_and_authority_tlvs() {
    let mut body = IPV4_BLOCK.to_vec();
    body.extend(tlv(0x01, b"smtp")); // ALPN: not read
    body.extend(tlv(0x02, "mx.exämple.org".as_bytes()));
    body.extend(tlv(0x04, &[0; 9])); // NOOP
    body.extend(ssl_tlv(
        0x07,
        0,
        &[
            (0x21, b"TLSv1.3"),
            (0x23, b"TLS_AES_256_GCM_SHA384"),
            (0x22, "Jörn".as_bytes()),
            (0x24, b"RSA-SHA256"),
            (0x25, b"RSA2048"),
            (0x2f, &[0xff, 0x00]), // unknown subtype: not read
        ],
    ));
    body.extend(tlv(0xe0, &[1, 2, 3])); // custom type: not read
    let header = whole(&v2(0x21, 0x11, &body));
    assert_eq!(header.authority.as_deref(), Some("mx.exämple.org"));
    let want = SslInfo::default()
        .with_client_ssl(true)
        .with_client_cert_conn(true)
        .with_client_cert_sess(true)
        .with_verified(true)
        .with_version("TLSv1.3")
        .with_cipher("TLS_AES_256_GCM_SHA384")
        .with_common_name("Jörn")
        .with_sig_alg("RSA-SHA256")
        .with_key_alg("RSA2048");
    assert_eq!(header.ssl, Some(want));

    // TLS without a client certificate; verify not zero.
    let header = whole(&v2(0x21, 0x00, &ssl_tlv(0x01, 0x12, &[])));
    assert_eq!(header.ssl, Some(SslInfo::default().with_client_ssl(true)));
}

#[test]
fn v2_crc32c() {
    // Computed independently (a bitwise CRC-32C over the header, checksum zeroed).
    let mut wire = v2(
        0x21,
        0x11,
        &[
            192, 0, 2, 1, 198, 51, 100, 2, 0xc0, 0, 0, 25, 0x03, 0, 4, 0xfb, 0x77, 0xd5, 0x76,
        ],
    );
    let header = whole(&wire);
    assert!(header.checksum);
    assert_eq!(
        header.addresses,
        Some((addr("192.0.2.1:49152"), addr("198.51.100.2:25")))
    );
    let mut encoded = Vec::new();
    header.encode_v2(&mut encoded).unwrap();
    assert_eq!(encoded, wire);

    for at in [13, 16, 20, 27, 29] {
        let mut bad = wire.clone();
        bad[at] ^= 0x01;
        assert!(parse(&bad).is_err(), "octet {at}");
    }
    wire[32] ^= 0x80; // in the checksum itself
    assert_eq!(parse(&wire), Err(Error::BadChecksum));
    wire[32] ^= 0x80;
    wire[17] ^= 0x01; // in the addresses
    assert_eq!(parse(&wire), Err(Error::BadChecksum));
}

#[test]
fn v2_refused_as_soon_as_impossible() {
    let invalid = [
        v2(0x11, 0x11, &IPV4_BLOCK)[..13].to_vec(), // version 1
        v2(0x31, 0x11, &IPV4_BLOCK)[..13].to_vec(), // version 3
        v2(0x22, 0x11, &IPV4_BLOCK)[..13].to_vec(), // command 2
        v2(0x2f, 0x11, &IPV4_BLOCK)[..13].to_vec(),
        v2(0x21, 0x10, &IPV4_BLOCK)[..14].to_vec(), // undefined families
        v2(0x21, 0x13, &IPV4_BLOCK)[..14].to_vec(),
        v2(0x21, 0x01, &IPV4_BLOCK)[..14].to_vec(),
        v2(0x21, 0x41, &IPV4_BLOCK)[..14].to_vec(),
        v2(0x20, 0xff, &[])[..14].to_vec(),
        v2(0x21, 0x11, &IPV4_BLOCK[..11]), // short address blocks
        v2(0x21, 0x21, &[0; 35]),
        v2(0x21, 0x31, &[0; 215]),
        v2(0x21, 0x00, &[0x04]), // TLV headers past the end
        v2(0x21, 0x00, &[0x04, 0x00]),
        v2(0x21, 0x00, &[0x04, 0x00, 0x02, 0x00]), // TLV value past the end
        v2(0x21, 0x00, &tlv(0x03, &[0; 3])),       // CRC32C not 4 octets
        v2(0x21, 0x00, &tlv(0x03, &[0; 5])),
        v2(0x21, 0x00, &tlv(0x20, &[1, 0, 0, 0])), // SSL under 5 octets
        v2(0x21, 0x00, &[tlv(0x02, b"a"), tlv(0x02, b"a")].concat()), // repeated
        v2(
            0x21,
            0x00,
            &[tlv(0x20, &[0; 5]), tlv(0x20, &[0; 5])].concat(),
        ),
        v2(
            0x21,
            0x00,
            &[tlv(0x03, &[0; 4]), tlv(0x03, &[0; 4])].concat(),
        ),
        v2(0x21, 0x00, &ssl_tlv(1, 0, &[(0x21, b"a"), (0x21, b"a")])),
        v2(0x21, 0x00, &tlv(0x02, b"\xff")), // not UTF-8
        v2(0x21, 0x00, &tlv(0x02, b"mx\x00.example")), // control character
        v2(0x21, 0x00, &tlv(0x02, b"mx\r\n.example")),
        v2(0x21, 0x00, &ssl_tlv(1, 0, &[(0x21, "TLSv1.3ä".as_bytes())])), // not ASCII
        v2(0x21, 0x00, &ssl_tlv(1, 0, &[(0x22, b"\x1b[31m")])),
        v2(0x21, 0x00, &tlv(0x20, &[1, 0, 0, 0, 0, 0x21, 0, 9, b'a'])), // sub-TLV past SSL
        v2(0x21, 0x00, &tlv(0x20, &[1, 0, 0, 0, 0, 0x21])),
    ];
    for wire in invalid {
        assert!(matches!(refused(&wire), Error::Invalid(_)), "{wire:x?}");
    }
}

#[test]
fn v2_partial_bodies_are_checked_as_they_arrive() {
    // A TLV that states more than the header holds: known before the header is in.
    let mut wire = v2(
        0x21,
        0x11,
        &[IPV4_BLOCK.to_vec(), tlv(0x04, &[0; 10])].concat(),
    );
    wire[29] = 11; // NOOP length 10 -> 11
    assert!(matches!(parse(&wire[..31]), Err(Error::Invalid(_))));
    // Text as far as it has arrived.
    let wire = v2(0x21, 0x00, &tlv(0x02, b"mx\x07.example.org"));
    assert!(matches!(parse(&wire[..22]), Err(Error::Invalid(_))));
    // A multi-octet character cut in two is still possible.
    let wire = v2(0x21, 0x00, &tlv(0x02, "ä".as_bytes()));
    assert_eq!(parse(&wire[..20]), Ok(None));
    // The first fault decides, however much has arrived.
    let wire = v2(0x21, 0x00, &tlv(0x02, b"a\x01b\xffc"));
    let control = Err(Error::Invalid("v2: TLV text holds a control character"));
    assert_eq!(parse(&wire[..21]), control);
    assert_eq!(parse(&wire), control);
}

#[test]
fn v2_length_cap() {
    let noop = |n: usize| tlv(0x04, &vec![0; n - 3]);
    let wire = v2(0x21, 0x00, &noop(4096));
    assert_eq!(wire.len(), MAX_V2_LEN);
    assert_eq!(whole(&wire), Header::unknown());
    let wire = v2(0x21, 0x00, &noop(4097));
    assert_eq!(parse(&wire[..16]), Err(Error::TooLong));
    let wire = v2(0x21, 0x00, &noop(0xffff));
    assert_eq!(parse(&wire[..16]), Err(Error::TooLong));
}

#[test]
fn encode_v1_forms() {
    let line = |h: &Header| {
        let mut out = b"x".to_vec();
        h.encode_v1(&mut out);
        String::from_utf8(out).unwrap()
    };
    let tcp4 = Header::tcp(addr("192.168.0.1:56324"), addr("192.168.0.11:443"));
    assert_eq!(
        line(&tcp4),
        "xPROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    );
    let mixed = Header::tcp(addr("192.0.2.1:1"), addr("[2001:db8::1]:25"));
    assert_eq!(
        line(&mixed),
        "xPROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 1 25\r\n"
    );
    let with_tlvs = Header::unknown()
        .with_authority("mx.example")
        .with_checksum(true);
    assert_eq!(line(&with_tlvs), "xPROXY UNKNOWN\r\n");
    let mut local = tcp4.clone();
    local.local = true;
    assert_eq!(line(&local), "xPROXY UNKNOWN\r\n");
}

#[test]
fn encode_v2_forms() {
    let mut out = Vec::new();
    Header::tcp(addr("192.168.0.1:56324"), addr("192.168.0.11:443"))
        .encode_v2(&mut out)
        .unwrap();
    assert_eq!(out, v2(0x21, 0x11, &IPV4_BLOCK));

    let mut out = Vec::new();
    let mixed = Header::tcp(addr("[2001:db8::1]:25"), addr("192.0.2.1:1"));
    mixed.encode_v2(&mut out).unwrap();
    assert_eq!(
        parse(&out).unwrap().unwrap().0.addresses,
        Some((addr("[2001:db8::1]:25"), addr("[::ffff:192.0.2.1]:1")))
    );

    // A local header leaves its addresses out.
    let mut local = Header::tcp(addr("192.0.2.1:1"), addr("192.0.2.2:2"));
    local.local = true;
    let mut out = Vec::new();
    local.encode(&mut out).unwrap();
    assert_eq!(out, v2(0x20, 0x00, &[]));
}

#[test]
fn encode_v2_refuses_what_parse_would() {
    let mut out = b"kept".to_vec();
    let control = Header::unknown().with_authority("mx\r\n.example");
    assert!(matches!(
        control.encode_v2(&mut out),
        Err(Error::Invalid(_))
    ));
    let ssl = SslInfo::default().with_cipher("ä");
    let not_ascii = Header::unknown().with_ssl(ssl);
    assert!(matches!(
        not_ascii.encode_v2(&mut out),
        Err(Error::Invalid(_))
    ));
    let long = Header::unknown().with_authority("a".repeat(4094));
    assert_eq!(long.encode_v2(&mut out), Err(Error::TooLong));
    let huge = Header::unknown().with_authority("a".repeat(70_000));
    assert_eq!(huge.encode_v2(&mut out), Err(Error::TooLong));
    assert_eq!(out, b"kept");

    let fits = Header::unknown().with_authority("a".repeat(4093));
    fits.encode_v2(&mut out).unwrap();
    assert_eq!(out.len(), 4 + MAX_V2_LEN);
    assert_eq!(parse(&out[4..]).unwrap().unwrap().0, fits);
}

#[test]
fn errors_display() {
    assert_eq!(Error::NotProxy.to_string(), "not a PROXY protocol header");
    assert_eq!(
        Error::Invalid("v1: CR not followed by LF").to_string(),
        "invalid PROXY protocol header: v1: CR not followed by LF"
    );
    assert_eq!(
        Error::TooLong.to_string(),
        "PROXY protocol header too long (v1: over 107 octets, v2: over 4112)"
    );
    assert_eq!(
        Error::BadChecksum.to_string(),
        "PROXY protocol v2 header fails its CRC-32C"
    );
}
