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
const fn class(b: u8) -> u8 {
    CLASS[b as usize]
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
pub(crate) const fn is_ldh(b: u8) -> bool {
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

/// 1 to 16 octets as two little-endian words that together cover them (overlapping when
/// fewer than 16; zero-extended below 8): two strings of the same length are equal
/// exactly when their words are. Loads, not a `memcpy` of a variable length.
#[inline]
const fn load(b: &[u8]) -> (u64, u64) {
    if let (Some(f), Some(l)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        return (u64::from_le_bytes(*f), u64::from_le_bytes(*l));
    }
    if let (Some(f), Some(l)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        return (u32::from_le_bytes(*f) as u64, u32::from_le_bytes(*l) as u64);
    }
    match b {
        [] => (0, 0),
        [first, ..] => (
            *first as u64 | (b[b.len() / 2] as u64) << 8,
            b[b.len() - 1] as u64,
        ),
    }
}

/// Octets with bit 5 set where `upper` has a letter, so that masking an input with it
/// folds exactly the case of those letters.
const fn letter_mask(upper: &[u8]) -> (u64, u64) {
    let mut mask = [0u8; 16];
    let mut i = 0;
    while i < upper.len() {
        mask[i] = if upper[i].is_ascii_uppercase() {
            0xdf
        } else {
            0xff
        };
        i += 1;
    }
    let (mask, _) = mask.split_at(upper.len());
    load(mask)
}

/// An ESMTP keyword (letters, digits, `-`) of at most 16 octets as a value to `match`
/// on: [`keyword_of`] gives the same value for the keyword in any case.
pub(crate) type Keyword = (usize, u64, u64);

/// Clearing bit 5 of every octet: among `Let-dig` and `-` it maps exactly the two cases
/// of a letter to the same value (digits and `-` land on control codes, which no `ldh`
/// octet is).
const FOLD: u64 = 0xdfdf_dfdf_dfdf_dfdf;

/// The [`Keyword`] of `upper`, an upper-case ESMTP keyword.
pub(crate) const fn keyword(upper: &[u8]) -> Keyword {
    assert!(!upper.is_empty() && upper.len() <= 16);
    let mut i = 0;
    while i < upper.len() {
        assert!(is_ldh(upper[i]) && !upper[i].is_ascii_lowercase());
        i += 1;
    }
    let (lo, hi) = load(upper);
    (upper.len(), lo & FOLD, hi & FOLD)
}

/// The [`Keyword`] of `ldh` (letters, digits and `-` only), equal to `keyword(K)` exactly
/// when `ldh` is `K` in some case; `(0, 0, 0)`, no keyword, when longer than 16 octets.
#[inline]
pub(crate) fn keyword_of(ldh: &[u8]) -> Keyword {
    if ldh.len() > 16 {
        return (0, 0, 0);
    }
    let (lo, hi) = load(ldh);
    (ldh.len(), lo & FOLD, hi & FOLD)
}

/// A string of at most 16 octets matched without regard to ASCII case (RFC 5234 §2.3:
/// ABNF strings are case-insensitive), by masked compares of two words.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoCase {
    len: usize,
    word: (u64, u64),
    /// Bit 5 cleared on the letters, so both cases of a letter compare equal.
    mask: (u64, u64),
}

impl NoCase {
    /// `upper` has its letters in upper case; other octets are compared exactly.
    pub(crate) const fn new(upper: &[u8]) -> NoCase {
        assert!(upper.len() <= 16);
        let mut i = 0;
        while i < upper.len() {
            assert!(!upper[i].is_ascii_lowercase());
            i += 1;
        }
        NoCase {
            len: upper.len(),
            word: load(upper),
            mask: letter_mask(upper),
        }
    }

    /// Whether `b` is the string, in any case.
    #[inline]
    pub(crate) fn matches(&self, b: &[u8]) -> bool {
        let (lo, hi) = load(b);
        b.len() == self.len && lo & self.mask.0 == self.word.0 && hi & self.mask.1 == self.word.1
    }

    /// Whether `b` starts with the string, in any case.
    #[inline]
    pub(crate) fn starts(&self, b: &[u8]) -> bool {
        b.get(..self.len).is_some_and(|p| self.matches(p))
    }
}

/// Whether the text `$s` is the upper-case byte string `$upper` in any case, with the
/// pattern built at compile time ([`NoCase`]).
macro_rules! no_case {
    ($s:expr, $upper:literal) => {
        const { $crate::smtp::abnf::NoCase::new($upper) }.matches(AsRef::<[u8]>::as_ref($s))
    };
}
pub(crate) use no_case;

/// The length of the run of octets at the start of `b` that satisfy `class`.
#[inline]
pub(crate) fn run(b: &[u8], class: impl Fn(u8) -> bool) -> usize {
    b.iter().position(|&c| !class(c)).unwrap_or(b.len())
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

    #[test]
    fn keywords_fold_exactly_the_case_of_letters() {
        let ldh: alloc::vec::Vec<u8> = (0..=255u8).filter(|&b| is_ldh(b)).collect();
        for &a in &ldh {
            for &b in &ldh {
                assert_eq!(
                    keyword_of(&[a]) == keyword_of(&[b]),
                    a.eq_ignore_ascii_case(&b),
                    "{a} {b}"
                );
            }
        }
        assert_eq!(keyword_of(b"smtpUtf8"), keyword(b"SMTPUTF8"));
        assert_ne!(keyword_of(b"SMTPUTF"), keyword(b"SMTPUTF8"));
        assert_eq!(keyword_of(&[b'A'; 17]), (0, 0, 0));
        for n in 1..=16 {
            let upper = &b"ABCDEFGHIJKLMNOP"[..n];
            let lower = upper.to_ascii_lowercase();
            assert_eq!(keyword_of(&lower), keyword(upper));
            let mut other = lower.clone();
            other[n / 2] = b'z';
            assert_ne!(keyword_of(&other), keyword(upper));
            assert_ne!(keyword_of(&lower[..n - 1]), keyword(upper));
        }
    }

    #[test]
    fn no_case_matches_like_eq_ignore_ascii_case() {
        let from = NoCase::new(b"FROM:");
        for b in 0..=255u8 {
            for at in 0..5 {
                let mut s = *b"FROM:";
                s[at] = b;
                assert_eq!(from.matches(&s), s.eq_ignore_ascii_case(b"FROM:"), "{s:?}");
            }
        }
        assert!(from.starts(b"from:<a@b>"));
        assert!(!from.starts(b"from"));
        assert!(!from.matches(b"FROM:x"));
        for n in 0..=16 {
            let upper = &b"A-CD:FGH1JK.MNOP"[..n];
            let p = NoCase::new(upper);
            assert!(p.matches(&upper.to_ascii_lowercase()));
            for at in 0..n {
                for b in 0..=255u8 {
                    let mut s = upper.to_vec();
                    s[at] = b;
                    assert_eq!(p.matches(&s), s.eq_ignore_ascii_case(upper), "{s:?}");
                }
            }
        }
    }
}
