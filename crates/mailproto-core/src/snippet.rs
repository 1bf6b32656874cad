//! Bounded excerpts of offending input for error messages, shared by the SMTP and POP3
//! parsers: a hostile peer cannot make an error message (or a log line) large, and
//! control characters are escaped so it cannot drive a terminal either.

use alloc::string::String;
use core::fmt;

/// At most this many bytes of offending input are kept in a [`Snippet`].
pub const SNIPPET_MAX: usize = 40;

/// A bounded, owned excerpt of offending input, for error messages.
///
/// Holds at most [`SNIPPET_MAX`] bytes (cut at a character boundary); `Display` escapes
/// control characters and marks a truncation with `...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snippet {
    text: String,
    truncated: bool,
}

impl Snippet {
    /// Copies at most [`SNIPPET_MAX`] bytes of `input`.
    pub fn new(input: &str) -> Self {
        let mut end = input.len().min(SNIPPET_MAX);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        Snippet {
            text: String::from(&input[..end]),
            truncated: end < input.len(),
        }
    }

    /// Copies at most [`SNIPPET_MAX`] bytes of `input`, replacing invalid UTF-8.
    pub fn from_bytes(input: &[u8]) -> Self {
        let cut = &input[..input.len().min(SNIPPET_MAX)];
        let mut s = Snippet::new(&String::from_utf8_lossy(cut));
        s.truncated |= cut.len() < input.len();
        s
    }

    /// A snippet that stands for a secret without showing it.
    pub fn masked() -> Self {
        Snippet {
            text: String::from("<secret>"),
            truncated: false,
        }
    }

    /// The kept text (unescaped).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.text.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 || c == '\x7f' => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}
