//! Version 1 (spec §2.1): one line, `PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n`.
//!
//! Fields are separated by single spaces; addresses are in the forms `inet_pton`
//! accepts (IPv4 dotted quad without leading zeros; any IPv6 text form, without a zone);
//! ports are decimal without leading zeros. `UNKNOWN` may be followed by anything up to
//! the CRLF, which the receiver ignores. A partial line is checked field by field so
//! that a prefix no header starts with is refused at once.

use alloc::vec::Vec;
use core::fmt::{self, Write as _};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Error, Header, V1_MAX_LEN, Version};

/// How every version 1 header begins.
pub(super) const PREFIX: &[u8] = b"PROXY ";

const PROTOCOLS: [&[u8]; 3] = [b"TCP4", b"TCP6", b"UNKNOWN"];

/// Parse a version 1 header; `input` begins with [`PREFIX`].
pub(super) fn parse(input: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    let window = &input[..input.len().min(V1_MAX_LEN)];
    let Some(end) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        line(window, false)?;
        return if window.len() == V1_MAX_LEN {
            Err(Error::TooLong)
        } else {
            Ok(None)
        };
    };
    if window[end] == b'\n' {
        // What came before decides first, as it did before the LF arrived.
        line(&window[..end], false)?;
        return Err(Error::Invalid("v1: line ended by a bare LF"));
    }
    let header = line(&window[..end], true)?;
    match input.get(end + 1) {
        _ if end + 2 > V1_MAX_LEN => Err(Error::TooLong),
        Some(b'\n') => Ok(header.map(|h| (h, end + 2))),
        Some(_) => Err(Error::Invalid("v1: CR not followed by LF")),
        None => Ok(None),
    }
}

/// Check a line (without its CRLF); the header once `complete`, else `None` if what is
/// there can still begin one.
fn line(line: &[u8], complete: bool) -> Result<Option<Header>, Error> {
    let (protocol, rest) = field(&line[PREFIX.len()..]);
    let Some(rest) = rest.or(complete.then_some(&[][..])) else {
        return match PROTOCOLS.iter().any(|p| p.starts_with(protocol)) {
            true => Ok(None),
            false => Err(Error::Invalid("v1: protocol not TCP4, TCP6 or UNKNOWN")),
        };
    };
    match protocol {
        b"UNKNOWN" => Ok(complete.then(|| Header::unknown().with_version(Version::V1))),
        b"TCP4" | b"TCP6" if complete && rest.is_empty() => {
            Err(Error::Invalid("v1: addresses missing"))
        }
        b"TCP4" => tcp(rest, false, complete),
        b"TCP6" => tcp(rest, true, complete),
        _ => Err(Error::Invalid("v1: protocol not TCP4, TCP6 or UNKNOWN")),
    }
}

/// The four fields after `TCP4 ` / `TCP6 `: source and destination address, source and
/// destination port.
fn tcp(mut rest: &[u8], v6: bool, complete: bool) -> Result<Option<Header>, Error> {
    let mut ips = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); 2];
    let mut ports = [0u16; 2];
    for i in 0..4 {
        let (text, after) = field(rest);
        if after.is_none() && !complete {
            let ok = if i < 2 {
                ip_prefix(text, v6)
            } else {
                port_prefix(text).is_some()
            };
            return match ok {
                true => Ok(None),
                false => Err(FIELD_ERRORS[usize::from(v6)][i]),
            };
        }
        if i < 2 {
            ips[i] = ip(text, v6).ok_or(FIELD_ERRORS[usize::from(v6)][i])?;
        } else {
            ports[i - 2] = port_prefix(text)
                .filter(|_| !text.is_empty())
                .ok_or(FIELD_ERRORS[0][i])?;
        }
        match after {
            Some(_) if i == 3 => return Err(Error::Invalid("v1: data after the ports")),
            None if i < 3 => return Err(Error::Invalid("v1: fields missing")),
            _ => {}
        }
        rest = after.unwrap_or_default();
    }
    Ok(Some(Header {
        version: Version::V1,
        ..Header::tcp(
            SocketAddr::new(ips[0], ports[0]),
            SocketAddr::new(ips[1], ports[1]),
        )
    }))
}

/// The error for each field, for `TCP4` and `TCP6`.
const FIELD_ERRORS: [[Error; 4]; 2] = [
    [
        Error::Invalid("v1: source address not an IPv4 dotted quad"),
        Error::Invalid("v1: destination address not an IPv4 dotted quad"),
        Error::Invalid("v1: source port not a decimal 0-65535 without leading zeros"),
        Error::Invalid("v1: destination port not a decimal 0-65535 without leading zeros"),
    ],
    [
        Error::Invalid("v1: source address not an IPv6 address"),
        Error::Invalid("v1: destination address not an IPv6 address"),
        Error::Invalid("v1: source port not a decimal 0-65535 without leading zeros"),
        Error::Invalid("v1: destination port not a decimal 0-65535 without leading zeros"),
    ],
];

/// The text up to the first space, and what follows that space (`None`: no space).
fn field(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// A whole address of the family.
fn ip(text: &[u8], v6: bool) -> Option<IpAddr> {
    let text = core::str::from_utf8(text).ok()?;
    match v6 {
        false => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        true => text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    }
}

/// Whether some address of the family begins with `text`.
fn ip_prefix(text: &[u8], v6: bool) -> bool {
    match v6 {
        false => {
            let mut quad = DottedQuad::default();
            text.iter().all(|&c| quad.push(c))
        }
        true => {
            let mut addr = Ipv6Text::default();
            text.iter().all(|&c| addr.push(c))
        }
    }
}

/// The value of a port or of the start of one: decimal digits without a leading zero,
/// at most 65535. `Some(0)` for empty text.
fn port_prefix(text: &[u8]) -> Option<u16> {
    if text.len() > 1 && text[0] == b'0' {
        return None;
    }
    text.iter().try_fold(0u16, |n, &c| {
        let digit = char::from(c).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u16::try_from(digit).ok()?)
    })
}

/// Reads an IPv4 dotted quad a character at a time, refusing as soon as no address
/// begins with what it has read: four decimal octets of at most 255, no leading zeros.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DottedQuad {
    dots: u8,
    digits: u8,
    value: u16,
}

impl DottedQuad {
    /// Take the next character; false if no address begins with those read so far.
    pub(super) fn push(&mut self, c: u8) -> bool {
        match c {
            b'0'..=b'9' if self.digits > 0 && self.value == 0 => false,
            b'0'..=b'9' => {
                self.value = self
                    .value
                    .saturating_mul(10)
                    .saturating_add(u16::from(c - b'0'));
                self.digits = self.digits.saturating_add(1);
                self.value <= 255
            }
            b'.' if self.digits > 0 && self.dots < 3 => {
                self.dots += 1;
                self.digits = 0;
                self.value = 0;
                true
            }
            _ => false,
        }
    }

    /// Whether the characters read form a whole address.
    #[cfg(test)]
    pub(super) fn complete(&self) -> bool {
        self.dots == 3 && self.digits > 0
    }
}

/// Reads an IPv6 address in text form (RFC 4291 §2.2, as `inet_pton` takes it) a
/// character at a time, refusing as soon as no address begins with what it has read:
/// groups of 1 to 4 hex digits, one `::` standing for at least one zero group, and an
/// optional IPv4 dotted quad in place of the last two groups.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Ipv6Text {
    /// A character was read.
    started: bool,
    /// Whole groups read.
    groups: u8,
    /// Hex digits of the current group.
    hex: u8,
    /// Colons just read: 0, 1 or 2 (`::`).
    colons: u8,
    /// A `::` was read.
    double: bool,
    /// The current group, read as the first octet of a dotted quad.
    octet: DottedQuad,
    /// The current group can be the first octet of a dotted quad.
    decimal: bool,
    /// Inside the trailing dotted quad.
    quad: Option<DottedQuad>,
}

impl Ipv6Text {
    /// Groups the address can hold: 8, or at most 7 beside a `::`.
    fn room(&self) -> u8 {
        if self.double { 7 } else { 8 }
    }

    /// Take the next character; false if no address begins with those read so far.
    pub(super) fn push(&mut self, c: u8) -> bool {
        let first = !self.started;
        self.started = true;
        if let Some(quad) = &mut self.quad {
            return quad.push(c);
        }
        match c {
            b':' if self.hex > 0 => {
                self.groups = self.groups.saturating_add(1);
                self.hex = 0;
                self.colons = 1;
                // Another group follows, or a `::` that stands for one.
                self.groups < self.room()
            }
            b':' if first => {
                self.colons = 1;
                true
            }
            b':' if self.colons == 1 && !self.double => {
                self.colons = 2;
                self.double = true;
                true
            }
            b':' => false,
            // A single leading colon must be the start of `::`.
            _ if self.colons == 1 && self.groups == 0 => false,
            b'.' => {
                // The dotted quad takes the place of the current group and one more.
                let fits = match self.double {
                    true => self.groups.saturating_add(2) <= self.room(),
                    false => self.groups.saturating_add(2) == self.room(),
                };
                if !(fits && self.hex > 0 && self.decimal) {
                    return false;
                }
                let mut quad = self.octet;
                let ok = quad.push(c);
                self.quad = Some(quad);
                ok
            }
            _ if c.is_ascii_hexdigit() => {
                if self.hex == 0 {
                    if self.groups >= self.room() {
                        return false;
                    }
                    self.octet = DottedQuad::default();
                    self.decimal = true;
                }
                self.hex = self.hex.saturating_add(1);
                self.colons = 0;
                self.decimal = self.decimal && c.is_ascii_digit() && self.octet.push(c);
                self.hex <= 4
            }
            _ => false,
        }
    }

    /// Whether the characters read form a whole address.
    #[cfg(test)]
    pub(super) fn complete(&self) -> bool {
        if let Some(quad) = &self.quad {
            return quad.complete();
        }
        let groups = self.groups.saturating_add(u8::from(self.hex > 0));
        match self.double {
            true => self.colons != 1 && groups <= 7,
            false => self.colons == 0 && groups == 8,
        }
    }
}

/// Appends text to a byte buffer.
struct Out<'a>(&'a mut Vec<u8>);

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Append `header` as a version 1 line.
pub(super) fn encode(header: &Header, out: &mut Vec<u8>) {
    let mut out = Out(out);
    // Writing to a Vec cannot fail.
    let _ = match header.addresses.filter(|_| !header.local) {
        None => out.write_str("PROXY UNKNOWN\r\n"),
        Some((s, d)) => match (s.ip(), d.ip()) {
            (IpAddr::V4(si), IpAddr::V4(di)) => {
                let (sp, dp) = (s.port(), d.port());
                write!(out, "PROXY TCP4 {si} {di} {sp} {dp}\r\n")
            }
            (si, di) => {
                let (si, di, sp, dp) = (mapped(si), mapped(di), s.port(), d.port());
                write!(out, "PROXY TCP6 {si} {di} {sp} {dp}\r\n")
            }
        },
    };
}

/// `ip` as IPv6, an IPv4 address mapped (RFC 4291 §2.5.5.2).
pub(super) fn mapped(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(ip) => ip.to_ipv6_mapped(),
        IpAddr::V6(ip) => ip,
    }
}
