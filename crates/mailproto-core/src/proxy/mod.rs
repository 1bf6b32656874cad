//! The HAProxy PROXY protocol header, v1 and v2: the client's addresses as a proxy saw them.
//!
//! A proxy (HAProxy, a load balancer, stunnel, ...) that relays a connection to a mail
//! server can announce the original client first, in one header before the first octet
//! of SMTP or POP3 (<https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt>):
//! version 1 is a text line, `PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n`;
//! version 2 a binary block that can also carry TLVs, such as the TLS details of a
//! connection the proxy terminated ([`SslInfo`]), the server name the client asked for
//! ([`Header::authority`]) and a CRC-32C of the header.
//!
//! [`parse`] reads a header at the start of the input and says how many octets it
//! took; everything after them belongs to the protocol that follows. It never needs
//! more than [`MAX_V2_LEN`] octets to decide, so an adapter can buffer that much and no
//! more. The header is a security boundary: a listener that expects one must refuse
//! connections without it (the spec's §2, [`Error::NotProxy`]), and must accept it only
//! from its proxies, since whoever sends it chooses the addresses the server sees.
//! The parser is strict: one form of each field (single spaces, no leading zeros, the
//! v2 family and command values the spec defines), every TLV length checked, duplicate
//! TLVs refused, and an error as soon as the octets received cannot begin a header.
//!
//! ```
//! use mailproto_core::proxy::{self, Version};
//!
//! let wire = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nEHLO client.example\r\n";
//! assert_eq!(proxy::parse(&wire[..20]), Ok(None)); // more input needed
//! let (header, consumed) = proxy::parse(wire).unwrap().unwrap();
//! assert_eq!(header.version, Version::V1);
//! let (source, destination) = header.addresses.unwrap();
//! assert_eq!(source, "192.168.0.1:56324".parse().unwrap());
//! assert_eq!(destination.port(), 443);
//! assert_eq!(&wire[consumed..], b"EHLO client.example\r\n");
//!
//! // The same connection in version 2, with a checksum.
//! let mut v2 = Vec::new();
//! header.clone().with_checksum(true).encode_v2(&mut v2).unwrap();
//! let (again, n) = proxy::parse(&v2).unwrap().unwrap();
//! assert_eq!((again.addresses, n), (header.addresses, v2.len()));
//!
//! assert_eq!(proxy::parse(b"EHLO client.example\r\n"), Err(proxy::Error::NotProxy));
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;

mod v1;
mod v2;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// Longest version 1 header: the spec's 107 octets, CRLF included.
pub const V1_MAX_LEN: usize = 107;

/// Longest header accepted (v1: [`V1_MAX_LEN`] octets by the spec; v2: 16 + length,
/// capped here at 4096 octets of addresses and TLVs).
pub const MAX_V2_LEN: usize = 16 + 4096;

/// The version of the PROXY protocol a header is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Version {
    /// Version 1, a text line (spec §2.1).
    V1,
    /// Version 2, binary, with TLVs (spec §2.2).
    V2,
}

/// What a version 2 header's `PP2_TYPE_SSL` TLV (spec §2.2.5) says about the TLS
/// connection between the client and the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SslInfo {
    /// `PP2_CLIENT_SSL`: the client connected over SSL/TLS.
    pub client_ssl: bool,
    /// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
    pub client_cert_conn: bool,
    /// `PP2_CLIENT_CERT_SESS`: the client presented a certificate at least once in the
    /// TLS session this connection belongs to.
    pub client_cert_sess: bool,
    /// The `verify` field is zero: the certificate was verified. Meaningful only with
    /// [`client_cert_conn`](Self::client_cert_conn) or
    /// [`client_cert_sess`](Self::client_cert_sess): some proxies send zero when no
    /// certificate was presented at all. Encoded as 0 (true) or 1 (false).
    pub verified: bool,
    /// `PP2_SUBTYPE_SSL_VERSION`: the protocol version, e.g. `TLSv1.3` (US-ASCII).
    pub version: Option<String>,
    /// `PP2_SUBTYPE_SSL_CIPHER`: the cipher suite, e.g. `TLS_AES_256_GCM_SHA384`
    /// (US-ASCII).
    pub cipher: Option<String>,
    /// `PP2_SUBTYPE_SSL_CN`: the Common Name of the client certificate's subject
    /// (UTF-8).
    pub common_name: Option<String>,
    /// `PP2_SUBTYPE_SSL_SIG_ALG`: the algorithm that signed the certificate the proxy
    /// presented, e.g. `RSA-SHA256` (US-ASCII).
    pub sig_alg: Option<String>,
    /// `PP2_SUBTYPE_SSL_KEY_ALG`: the algorithm of the public key of the certificate
    /// the proxy presented, e.g. `RSA2048` (US-ASCII).
    pub key_alg: Option<String>,
}

crate::setters::setters!(SslInfo {
    set with_client_ssl: client_ssl: bool,
    set with_client_cert_conn: client_cert_conn: bool,
    set with_client_cert_sess: client_cert_sess: bool,
    set with_verified: verified: bool,
    some_into with_version: version: String,
    some_into with_cipher: cipher: String,
    some_into with_common_name: common_name: String,
    some_into with_sig_alg: sig_alg: String,
    some_into with_key_alg: key_alg: String,
});

/// A PROXY protocol header: who the proxy says the client is.
///
/// Text carried in TLVs is UTF-8 without control characters, and US-ASCII where the
/// spec says so; [`parse`] refuses other text and [`Header::encode_v2`] will not write
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The version the header was read in, and the one [`Header::encode`] writes.
    pub version: Version,
    /// (source, destination) for a proxied TCP over IPv4/IPv6 connection; `None` for v1
    /// `UNKNOWN`, v2 `LOCAL`, `AF_UNSPEC`, `AF_UNIX`, or UDP (the receiver then uses the
    /// socket's own addresses, as the spec says). IPv6 flow information and scope ids
    /// are not carried: they read as zero.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// v2 `LOCAL` command (health check by the proxy itself): the connection's own
    /// endpoints are the real ones. A local header carries no addresses.
    pub local: bool,
    /// `PP2_TYPE_SSL` (0x20): the client's TLS connection to the proxy (v2 only).
    pub ssl: Option<SslInfo>,
    /// `PP2_TYPE_AUTHORITY` (0x02): the host name the client asked for, usually its TLS
    /// SNI (v2 only).
    pub authority: Option<String>,
    /// `PP2_TYPE_CRC32C` (0x03): the header carried a checksum, and it matched (read),
    /// or one is to be written (v2 only).
    pub checksum: bool,
}

crate::setters::setters!(Header {
    set with_version: version: Version,
    some with_ssl: ssl: SslInfo,
    some_into with_authority: authority: String,
    set with_checksum: checksum: bool,
});

impl Header {
    /// A proxied TCP connection from `source` to `destination`, in version 2. With one
    /// address IPv4 and the other IPv6, the IPv4 one is written as IPv4-mapped IPv6 (as
    /// HAProxy does), and reads back so.
    pub fn tcp(source: SocketAddr, destination: SocketAddr) -> Header {
        Header {
            addresses: Some((source, destination)),
            ..Header::unknown()
        }
    }

    /// A proxied connection whose addresses the proxy does not give (v1 `UNKNOWN`, v2
    /// `PROXY` over `AF_UNSPEC`), in version 2.
    pub fn unknown() -> Header {
        Header {
            version: Version::V2,
            addresses: None,
            local: false,
            ssl: None,
            authority: None,
            checksum: false,
        }
    }

    /// A connection the proxy made itself, such as a health check (v2 `LOCAL`; v1 has
    /// only `UNKNOWN` for it).
    pub fn local() -> Header {
        Header {
            local: true,
            ..Header::unknown()
        }
    }

    /// Append the header in its [`version`](Self::version): [`Self::encode_v1`] or
    /// [`Self::encode_v2`].
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self.version {
            Version::V1 => {
                self.encode_v1(out);
                Ok(())
            }
            Version::V2 => self.encode_v2(out),
        }
    }

    /// Append the header as version 1: `TCP4` or `TCP6` with the addresses (mixed
    /// families as `TCP6`, the IPv4 address mapped), or `UNKNOWN` when there are none or
    /// the header is [`local`](Self::local). TLVs cannot be carried and are left out.
    pub fn encode_v1(&self, out: &mut Vec<u8>) {
        v1::encode(self, out);
    }

    /// Append the header as version 2, with its TLVs: `PP2_TYPE_AUTHORITY`,
    /// `PP2_TYPE_SSL` with a sub-TLV per text it holds, and `PP2_TYPE_CRC32C` when
    /// [`checksum`](Self::checksum) is set. On error nothing is appended:
    /// [`Error::TooLong`] if the header would exceed [`MAX_V2_LEN`],
    /// [`Error::Invalid`] for text [`parse`] would refuse.
    pub fn encode_v2(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        v2::encode(self, out)
    }
}

/// Why input is not a valid PROXY header (or a header cannot be encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The first octets cannot begin a PROXY header: they are neither the start of
    /// `PROXY ` nor of the version 2 signature. The peer did not come through a proxy
    /// (or the proxy is not configured to send the header).
    NotProxy,
    /// The header breaks the spec; the text says where.
    Invalid(&'static str),
    /// A version 1 line without CRLF within [`V1_MAX_LEN`] octets, or a version 2
    /// header longer than [`MAX_V2_LEN`].
    TooLong,
    /// The version 2 header's `PP2_TYPE_CRC32C` does not match its contents.
    BadChecksum,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotProxy => f.write_str("not a PROXY protocol header"),
            Error::Invalid(what) => write!(f, "invalid PROXY protocol header: {what}"),
            Error::TooLong => write!(
                f,
                "PROXY protocol header too long (v1: over {V1_MAX_LEN} octets, \
                 v2: over {MAX_V2_LEN})"
            ),
            Error::BadChecksum => f.write_str("PROXY protocol v2 header fails its CRC-32C"),
        }
    }
}

impl core::error::Error for Error {}

/// Parse a header at the start of `input`: `Ok(None)` while more input is needed (and
/// what is there can still begin a valid header), `Ok(Some((header, consumed)))` once
/// complete, `Err` as soon as the input cannot be a valid header. Never reads past the
/// header: `consumed` octets belong to it and the rest to the protocol that follows.
///
/// With [`MAX_V2_LEN`] octets or more the answer is never `Ok(None)`.
pub fn parse(input: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    if agrees(input, v1::PREFIX) {
        if input.len() < v1::PREFIX.len() {
            return Ok(None);
        }
        v1::parse(input)
    } else if agrees(input, &v2::SIGNATURE) {
        if input.len() < v2::SIGNATURE.len() {
            return Ok(None);
        }
        v2::parse(input)
    } else {
        Err(Error::NotProxy)
    }
}

/// Whether `input` and `literal` agree on the octets they both have.
fn agrees(input: &[u8], literal: &[u8]) -> bool {
    let n = input.len().min(literal.len());
    input[..n] == literal[..n]
}
