//! The character classes of the command grammar (RFC 5321 §4.1.2, §4.1.3; RFC 6531
//! §3.3), as one table indexed by octet, so the parsers classify each byte with a single
//! lookup.
//!
//! The parsers work on `&str` (valid UTF-8), so an octet of 0x80 or more is always part
//! of a non-ASCII character and an ASCII octet always stands alone: classifying octets is
//! classifying characters.

/// `atext` (RFC 5322 §3.2.3): letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
const ATEXT: u8 = 1;
/// `Let-dig` and `-`: what a domain label and an `esmtp-keyword` are made of.
const LDH: u8 = 2;
/// `dcontent = %d33-90 / %d94-126` (RFC 5321 §4.1.3).
const DCONTENT: u8 = 4;
/// The ASCII part of `esmtp-value = 1*(%d33-60 / %d62-126)` (RFC 5321 §4.1.2).
const VALUE: u8 = 8;
/// An octet of a non-ASCII character (RFC 6531 `UTF8-non-ascii`).
const NON_ASCII: u8 = 16;
/// `Let-dig`: a letter or a digit.
const LET_DIG: u8 = 32;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut k = 0;
        if c.is_ascii_alphanumeric() {
            k |= ATEXT | LDH | LET_DIG;
        }
        if c == b'-' {
            k |= LDH;
        }
        if matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        ) {
            k |= ATEXT;
        }
        if matches!(c, 33..=90 | 94..=126) {
            k |= DCONTENT;
        }
        if matches!(c, 33..=60 | 62..=126) {
            k |= VALUE;
        }
        if c >= 0x80 {
            k |= NON_ASCII;
        }
        t[b] = k;
        b += 1;
    }
    t
};

#[inline]
fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// RFC 5322 `atext` (ASCII only).
#[inline]
pub(crate) fn is_atext(b: u8) -> bool {
    class(b) & ATEXT != 0
}

/// `atext` or an octet of a non-ASCII character (RFC 6531 §3.3 extends `atext`).
#[inline]
pub(crate) fn is_atext_utf8(b: u8) -> bool {
    class(b) & (ATEXT | NON_ASCII) != 0
}

/// A letter, digit or hyphen.
#[inline]
pub(crate) fn is_ldh(b: u8) -> bool {
    class(b) & LDH != 0
}

/// A letter or digit.
#[inline]
pub(crate) fn is_let_dig(b: u8) -> bool {
    class(b) & LET_DIG != 0
}

/// A domain label octet: `Let-dig`, `-`, or (U-label) an octet of a non-ASCII character.
#[inline]
pub(crate) fn is_label(b: u8) -> bool {
    class(b) & (LDH | NON_ASCII) != 0
}

/// `dcontent`.
#[inline]
pub(crate) fn is_dcontent(b: u8) -> bool {
    class(b) & DCONTENT != 0
}

/// An `esmtp-value` octet; non-ASCII only when `utf8`.
#[inline]
pub(crate) fn is_value(b: u8, utf8: bool) -> bool {
    let allowed = if utf8 { VALUE | NON_ASCII } else { VALUE };
    class(b) & allowed != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_the_rfc_ranges() {
        for b in 0..=255u8 {
            let c = b as char;
            let atext = c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
            assert_eq!(is_atext(b), atext, "{b}");
            assert_eq!(is_atext_utf8(b), atext || b >= 0x80, "{b}");
            assert_eq!(is_ldh(b), c.is_ascii_alphanumeric() || c == '-', "{b}");
            assert_eq!(is_let_dig(b), c.is_ascii_alphanumeric(), "{b}");
            assert_eq!(is_label(b), is_ldh(b) || b >= 0x80, "{b}");
            assert_eq!(is_dcontent(b), matches!(b, 33..=90 | 94..=126), "{b}");
            assert_eq!(is_value(b, false), matches!(b, 33..=60 | 62..=126), "{b}");
            assert_eq!(is_value(b, true), is_value(b, false) || b >= 0x80, "{b}");
        }
    }
}
