//! xtext, the encoding of DSN and AUTH= parameter values (RFC 3461 §4, RFC 4954 §5).
//!
//! ```text
//! xtext   = *( xchar / hexchar )
//! xchar   = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
//!           except for "+" and "="
//! hexchar = "+" 2(%x30-39 / %x41-46)   ; "+" and two upper case hex digits
//! ```

use alloc::string::String;
use alloc::vec::Vec;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether `b` may stand for itself in xtext.
fn is_xchar(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && b != b'+' && b != b'='
}

/// Appends the xtext form of `text` to `out`: every octet that is not an `xchar` (space,
/// `+`, `=`, controls, and each octet of non-ASCII characters) becomes `+XX`.
pub fn xtext_encode_into(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        if is_xchar(b) {
            out.push(b as char);
        } else {
            out.push('+');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0x0f)] as char);
        }
    }
}

/// The xtext form of `text` (RFC 3461 §4).
pub fn xtext_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    xtext_encode_into(text, &mut out);
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        // RFC 3461 demands upper case; lower case is accepted when reading.
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes xtext (RFC 3461 §4). `None` if `text` is not xtext (a byte outside
/// `!`..`~`, a bare `=`, a `+` without two hex digits) or decodes to invalid UTF-8.
/// Lower-case hex digits are accepted.
pub fn xtext_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            let hi = hex_val(*bytes.get(i + 1)?)?;
            let lo = hex_val(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else if is_xchar(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3461_examples() {
        assert_eq!(xtext_encode("a b+c=d"), "a+20b+2Bc+3Dd");
        assert_eq!(xtext_decode("a+20b+2Bc+3Dd").as_deref(), Some("a b+c=d"));
        assert_eq!(xtext_decode("+2b").as_deref(), Some("+"));
        assert_eq!(xtext_decode("a=b"), None);
        assert_eq!(xtext_decode("+2"), None);
        assert_eq!(xtext_decode("+G0"), None);
        assert_eq!(xtext_decode("a b"), None);
        assert_eq!(xtext_decode("+FF"), None);
        assert_eq!(xtext_encode("é"), "+C3+A9");
        assert_eq!(xtext_decode("+C3+A9").as_deref(), Some("é"));
    }
}
