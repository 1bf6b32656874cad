//! Version 2 (spec §2.2): a 16-octet fixed part (signature, version and command,
//! family and transport, length), the address block, then TLVs.
//!
//! The fixed part is checked octet by octet as it arrives, and the TLVs as far as they
//! have arrived, each against the length the fixed part declared; text and the
//! checksum are checked once the header is complete, and nothing is allocated before
//! all of it is.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Error, Header, MAX_V2_LEN, SslInfo, Version};

/// How every version 2 header begins.
pub(super) const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;
const FAM_UNSPEC: u8 = 0x00;
const FAM_TCP4: u8 = 0x11;
const FAM_TCP6: u8 = 0x21;

const TYPE_AUTHORITY: u8 = 0x02;
const TYPE_CRC32C: u8 = 0x03;
const TYPE_SSL: u8 = 0x20;
/// `PP2_SUBTYPE_SSL_VERSION`; the other four text sub-TLVs follow it.
const SUBTYPE_SSL_VERSION: u8 = 0x21;
const SUBTYPE_SSL_CN: u8 = 0x22;
const SUBTYPE_SSL_CIPHER: u8 = 0x23;
const SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
const SUBTYPE_SSL_KEY_ALG: u8 = 0x25;

const CLIENT_SSL: u8 = 0x01;
const CLIENT_CERT_CONN: u8 = 0x02;
const CLIENT_CERT_SESS: u8 = 0x04;

/// Size of the SSL TLV's fixed part: `client` and `verify`.
const SSL_FIXED: usize = 5;

/// The size of the address block for a family-and-transport octet; `None` for the
/// values the spec does not define, which receivers must refuse.
fn address_len(family: u8) -> Option<usize> {
    match family {
        FAM_UNSPEC => Some(0),
        FAM_TCP4 | 0x12 => Some(12),
        FAM_TCP6 | 0x22 => Some(36),
        0x31 | 0x32 => Some(216),
        _ => None,
    }
}

/// Parse a version 2 header; `input` begins with [`SIGNATURE`].
pub(super) fn parse(input: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    let Some(&version_command) = input.get(12) else {
        return Ok(None);
    };
    if version_command >> 4 != 2 {
        return Err(Error::Invalid("v2: version is not 2"));
    }
    let local = match version_command & 0x0f {
        CMD_LOCAL => true,
        CMD_PROXY => false,
        _ => return Err(Error::Invalid("v2: command neither LOCAL nor PROXY")),
    };
    let Some(&family) = input.get(13) else {
        return Ok(None);
    };
    let address_len =
        address_len(family).ok_or(Error::Invalid("v2: undefined address family or transport"))?;
    let Some(&[high, low]) = input.get(14..16) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([high, low]));
    let total = 16 + len;
    if total > MAX_V2_LEN {
        return Err(Error::TooLong);
    }
    if len < address_len {
        return Err(Error::Invalid("v2: length shorter than the address block"));
    }
    let header = &input[..total.min(input.len())];
    let tlv_start = 16 + address_len;
    let tlvs = Tlvs::read(
        header.get(tlv_start..).unwrap_or_default(),
        len - address_len,
    )?;
    if header.len() < total {
        return Ok(None);
    }
    if let Some(at) = tlvs.crc {
        let at = tlv_start + at;
        let sent = header.get(at..at + 4).and_then(|v| v.try_into().ok());
        let zeroed = crc32c_update(!0, &header[..at]);
        let zeroed = crc32c_update(zeroed, &[0; 4]);
        let sum = !crc32c_update(zeroed, &header[at + 4..]);
        if sent.map(u32::from_be_bytes) != Some(sum) {
            return Err(Error::BadChecksum);
        }
    }
    let block = &header[16..tlv_start];
    let addresses = match family {
        _ if local => None,
        FAM_TCP4 => endpoints::<4, Ipv4Addr>(block),
        FAM_TCP6 => endpoints::<16, Ipv6Addr>(block),
        _ => None,
    };
    let header = Header {
        version: Version::V2,
        addresses,
        local,
        ssl: tlvs.ssl.map(Ssl::info),
        authority: tlvs.authority.map(String::from),
        checksum: tlvs.crc.is_some(),
    };
    Ok(Some((header, total)))
}

/// Source and destination in an address block: two addresses of `N` octets, then two
/// ports, in network byte order.
fn endpoints<const N: usize, A>(block: &[u8]) -> Option<(SocketAddr, SocketAddr)>
where
    A: From<[u8; N]> + Into<IpAddr>,
{
    let (source, rest) = block.split_first_chunk::<N>()?;
    let (destination, rest) = rest.split_first_chunk::<N>()?;
    let (source_port, rest) = rest.split_first_chunk::<2>()?;
    let (destination_port, _) = rest.split_first_chunk::<2>()?;
    let address = |ip: &[u8; N], port: &[u8; 2]| {
        SocketAddr::new(A::from(*ip).into(), u16::from_be_bytes(*port))
    };
    Some((
        address(source, source_port),
        address(destination, destination_port),
    ))
}

/// The TLVs read, borrowed from the input until the whole header has been checked.
#[derive(Default)]
struct Tlvs<'a> {
    authority: Option<&'a str>,
    ssl: Option<Ssl<'a>>,
    /// Where the checksum's value is in the TLV area.
    crc: Option<usize>,
}

/// The SSL TLV, borrowed.
#[derive(Default)]
struct Ssl<'a> {
    client: u8,
    verify: u32,
    /// Sub-TLVs `SUBTYPE_SSL_VERSION ..= SUBTYPE_SSL_KEY_ALG`, in that order.
    texts: [Option<&'a str>; 5],
}

impl Tlvs<'_> {
    /// Read the TLV area: `area` is the part of its `declared` octets that has arrived.
    fn read(area: &[u8], declared: usize) -> Result<Tlvs<'_>, Error> {
        let mut tlvs = Tlvs::default();
        let mut walk = Walk::new(area, declared);
        while let Some(tlv) = walk.next()? {
            match tlv.kind {
                TYPE_AUTHORITY => {
                    once(tlvs.authority.is_some())?;
                    tlvs.authority = text(tlv.value, tlv.complete(), false)?;
                }
                TYPE_CRC32C => {
                    once(tlvs.crc.is_some())?;
                    if tlv.len != 4 {
                        return Err(Error::Invalid("v2: CRC32C TLV not 4 octets"));
                    }
                    tlvs.crc = Some(tlv.offset);
                }
                TYPE_SSL => {
                    once(tlvs.ssl.is_some())?;
                    tlvs.ssl = Ssl::read(&tlv)?;
                }
                // PP2_TYPE_NOOP, and the types this crate does not interpret.
                _ => {}
            }
        }
        Ok(tlvs)
    }
}

impl<'a> Ssl<'a> {
    /// Read an SSL TLV; `None` until it has all arrived.
    fn read(tlv: &Tlv<'a>) -> Result<Option<Ssl<'a>>, Error> {
        let Some(sub) = tlv.len.checked_sub(SSL_FIXED) else {
            return Err(Error::Invalid("v2: SSL TLV shorter than 5 octets"));
        };
        let mut ssl = Ssl::default();
        let mut walk = Walk::new(tlv.value.get(SSL_FIXED..).unwrap_or_default(), sub);
        while let Some(sub) = walk.next()? {
            let Some(slot) = usize::from(sub.kind)
                .checked_sub(usize::from(SUBTYPE_SSL_VERSION))
                .and_then(|i| ssl.texts.get_mut(i))
            else {
                continue;
            };
            once(slot.is_some())?;
            *slot = text(sub.value, sub.complete(), sub.kind != SUBTYPE_SSL_CN)?;
        }
        let Some((&[client, a, b, c, d], _)) = tlv.value.split_first_chunk::<SSL_FIXED>() else {
            return Ok(None);
        };
        ssl.client = client;
        ssl.verify = u32::from_be_bytes([a, b, c, d]);
        Ok(tlv.complete().then_some(ssl))
    }

    fn info(self) -> SslInfo {
        let [version, common_name, cipher, sig_alg, key_alg] =
            self.texts.map(|t| t.map(String::from));
        SslInfo {
            client_ssl: self.client & CLIENT_SSL != 0,
            client_cert_conn: self.client & CLIENT_CERT_CONN != 0,
            client_cert_sess: self.client & CLIENT_CERT_SESS != 0,
            verified: self.verify == 0,
            version,
            cipher,
            common_name,
            sig_alg,
            key_alg,
        }
    }
}

/// Refuse a second TLV of a type already read: two values would leave the receiver to
/// pick one, and a proxy and a server could pick differently.
fn once(seen: bool) -> Result<(), Error> {
    match seen {
        true => Err(Error::Invalid("v2: TLV repeated")),
        false => Ok(()),
    }
}

/// Check TLV text, as far as it has arrived: UTF-8 without control characters, and
/// US-ASCII if `ascii`. The text once `complete`. The first fault in the text decides
/// the error, so more of the text never changes it.
fn text(value: &[u8], complete: bool, ascii: bool) -> Result<Option<&str>, Error> {
    let (valid, fault) = match core::str::from_utf8(value) {
        Ok(s) => (s, None),
        Err(e) => (
            core::str::from_utf8(&value[..e.valid_up_to()]).unwrap_or_default(),
            Some(e),
        ),
    };
    check_text(valid, ascii)?;
    match fault {
        Some(e) if complete || e.error_len().is_some() => {
            Err(Error::Invalid("v2: TLV text not UTF-8"))
        }
        // Valid, or a character cut short by the end of what has arrived.
        _ => Ok(complete.then_some(valid)),
    }
}

/// Text a TLV may carry: no control characters, and US-ASCII only if `ascii`.
fn check_text(s: &str, ascii: bool) -> Result<(), Error> {
    for c in s.chars() {
        if c.is_control() {
            return Err(Error::Invalid("v2: TLV text holds a control character"));
        }
        if ascii && !c.is_ascii() {
            return Err(Error::Invalid("v2: SSL TLV text not US-ASCII"));
        }
    }
    Ok(())
}

/// One TLV, with as much of its value as has arrived.
struct Tlv<'a> {
    kind: u8,
    /// The declared length of the value.
    len: usize,
    value: &'a [u8],
    /// Where the value begins in the area walked.
    offset: usize,
}

impl Tlv<'_> {
    fn complete(&self) -> bool {
        self.value.len() == self.len
    }
}

/// Walks the TLVs of an area of `declared` octets, of which `data` has arrived. Each
/// TLV must fit in the area; the walk ends at the end of the area, or after the first
/// TLV that has not all arrived (the rest of the area is judged once it has).
struct Walk<'a> {
    data: &'a [u8],
    declared: usize,
    pos: usize,
}

impl<'a> Walk<'a> {
    fn new(data: &'a [u8], declared: usize) -> Self {
        Walk {
            data,
            declared,
            pos: 0,
        }
    }

    fn next(&mut self) -> Result<Option<Tlv<'a>>, Error> {
        let left = self.declared.saturating_sub(self.pos);
        if left == 0 {
            return Ok(None);
        }
        if left < 3 {
            return Err(Error::Invalid("v2: TLV header runs past the end"));
        }
        let Some(&[kind, high, low]) = self.data.get(self.pos..self.pos + 3) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([high, low]));
        if len > left - 3 {
            return Err(Error::Invalid("v2: TLV value runs past the end"));
        }
        let offset = self.pos + 3;
        let end = offset + len;
        let value = &self.data[offset.min(self.data.len())..end.min(self.data.len())];
        if value.len() < len {
            // Nothing after it has arrived; and the TLVs are judged in order, so that
            // more input never changes the verdict.
            self.data = &[];
            self.declared = end;
        }
        self.pos = end;
        Ok(Some(Tlv {
            kind,
            len,
            value,
            offset,
        }))
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one entry per octet value.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Continue a CRC-32C over `data` (the running value, before the final inversion).
fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    data.iter().fold(crc, |crc, &b| {
        CRC32C_TABLE[usize::from(crc as u8 ^ b)] ^ (crc >> 8)
    })
}

/// The CRC-32C of `data` (RFC 3720 §B.4), as `PP2_TYPE_CRC32C` carries it.
pub(super) fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

/// Append `header` in version 2; nothing on error.
pub(super) fn encode(header: &Header, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let written = write(header, out, start);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn write(header: &Header, out: &mut Vec<u8>, start: usize) -> Result<(), Error> {
    out.extend_from_slice(&SIGNATURE);
    out.push(0x20 | if header.local { CMD_LOCAL } else { CMD_PROXY });
    match header.addresses.filter(|_| !header.local) {
        None => out.extend_from_slice(&[FAM_UNSPEC, 0, 0]),
        Some((s, d)) => match (s.ip(), d.ip()) {
            (IpAddr::V4(si), IpAddr::V4(di)) => {
                out.extend_from_slice(&[FAM_TCP4, 0, 0]);
                out.extend_from_slice(&si.octets());
                out.extend_from_slice(&di.octets());
            }
            (si, di) => {
                out.extend_from_slice(&[FAM_TCP6, 0, 0]);
                out.extend_from_slice(&super::v1::mapped(si).octets());
                out.extend_from_slice(&super::v1::mapped(di).octets());
            }
        },
    }
    if let Some((s, d)) = header.addresses.filter(|_| !header.local) {
        out.extend_from_slice(&s.port().to_be_bytes());
        out.extend_from_slice(&d.port().to_be_bytes());
    }
    if let Some(authority) = &header.authority {
        check_text(authority, false)?;
        let at = begin_tlv(out, TYPE_AUTHORITY);
        out.extend_from_slice(authority.as_bytes());
        end_tlv(out, at)?;
    }
    if let Some(ssl) = &header.ssl {
        let at = begin_tlv(out, TYPE_SSL);
        let flag = |set: bool, bit: u8| if set { bit } else { 0 };
        out.push(
            flag(ssl.client_ssl, CLIENT_SSL)
                | flag(ssl.client_cert_conn, CLIENT_CERT_CONN)
                | flag(ssl.client_cert_sess, CLIENT_CERT_SESS),
        );
        out.extend_from_slice(&u32::from(!ssl.verified).to_be_bytes());
        let texts = [
            (SUBTYPE_SSL_VERSION, &ssl.version),
            (SUBTYPE_SSL_CN, &ssl.common_name),
            (SUBTYPE_SSL_CIPHER, &ssl.cipher),
            (SUBTYPE_SSL_SIG_ALG, &ssl.sig_alg),
            (SUBTYPE_SSL_KEY_ALG, &ssl.key_alg),
        ];
        for (kind, text) in texts {
            if let Some(text) = text {
                check_text(text, kind != SUBTYPE_SSL_CN)?;
                let sub = begin_tlv(out, kind);
                out.extend_from_slice(text.as_bytes());
                end_tlv(out, sub)?;
            }
        }
        end_tlv(out, at)?;
    }
    let crc = header.checksum.then(|| {
        out.extend_from_slice(&[TYPE_CRC32C, 0, 4, 0, 0, 0, 0]);
        out.len() - 4
    });
    let len = out.len() - start - 16;
    if 16 + len > MAX_V2_LEN {
        return Err(Error::TooLong);
    }
    let len = u16::try_from(len).map_err(|_| Error::TooLong)?;
    out[start + 14..start + 16].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = crc {
        let sum = crc32c(&out[start..]);
        out[at..at + 4].copy_from_slice(&sum.to_be_bytes());
    }
    Ok(())
}

/// Start a TLV of `kind`, its length to be filled in by [`end_tlv`].
fn begin_tlv(out: &mut Vec<u8>, kind: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[kind, 0, 0]);
    at
}

/// Fill in the length of the TLV begun at `at`.
fn end_tlv(out: &mut [u8], at: usize) -> Result<(), Error> {
    let len = u16::try_from(out.len() - at - 3).map_err(|_| Error::TooLong)?;
    out[at + 1..at + 3].copy_from_slice(&len.to_be_bytes());
    Ok(())
}
