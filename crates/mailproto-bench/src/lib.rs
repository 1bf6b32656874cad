//! Shared pieces of the end-to-end bench programs (`benches/e2e.sh` runs them): the
//! generated message bodies and the argument helpers. Nothing here is timed by tests.

use std::io::{self, Read};

/// Header block of every generated message.
const HEADER: &[u8] = b"From: <bench@example.org>\r\nTo: <sink@example.org>\r\n\
Subject: mailproto e2e bench\r\nMessage-ID: <bench@example.org>\r\n\r\n";

/// One body line (76 characters and CRLF); no line starts with a dot.
const LINE: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmn\r\n";

/// A message of exactly `size` octets (at least the header and one CRLF), CRLF lines,
/// generated as it is read: never held whole, so 1 GiB costs nothing.
#[derive(Debug, Clone)]
pub struct Generated {
    size: u64,
    pos: u64,
}

impl Generated {
    /// A message of `size` octets.
    pub fn new(size: u64) -> Self {
        let min = HEADER.len() as u64 + 2;
        Generated {
            size: size.max(min),
            pos: 0,
        }
    }

    /// The whole message in memory (for small sizes).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size as usize);
        let mut g = Generated::new(self.size);
        g.read_to_end(&mut out)
            .expect("reading a generated message");
        out
    }

    fn byte_at(&self, pos: u64) -> u8 {
        let h = HEADER.len() as u64;
        if pos < h {
            return HEADER[pos as usize];
        }
        // The last two octets are always CRLF; before them, repeated lines.
        if pos == self.size - 2 {
            return b'\r';
        }
        if pos == self.size - 1 {
            return b'\n';
        }
        let line = LINE.len() as u64;
        let off = ((pos - h) % line) as usize;
        let last_start = h + (self.size - 2 - h) / line * line;
        // A partial last line stops short of its CR: no bare CR before the final CRLF.
        if pos >= last_start && off == LINE.len() - 2 {
            return b'x';
        }
        LINE[off]
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size - self.pos;
        let n = (buf.len() as u64).min(left) as usize;
        let h = HEADER.len() as u64;
        let mut i = 0;
        // Fast path: whole lines in the middle of the body.
        while i < n {
            let pos = self.pos + i as u64;
            let line_off = if pos >= h {
                ((pos - h) % LINE.len() as u64) as usize
            } else {
                usize::MAX
            };
            if line_off == 0 && pos + LINE.len() as u64 <= self.size - 2 && i + LINE.len() <= n {
                buf[i..i + LINE.len()].copy_from_slice(LINE);
                i += LINE.len();
            } else {
                buf[i] = self.byte_at(pos);
                i += 1;
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The positional argument `index` parsed, or exit with `usage`.
pub fn arg<T: std::str::FromStr>(args: &[String], index: usize, usage: &str) -> T {
    match args.get(index).and_then(|a| a.parse().ok()) {
        Some(v) => v,
        None => {
            eprintln!("usage: {usage}");
            std::process::exit(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_messages_have_the_asked_size_and_crlf_lines() {
        for size in [0u64, 150, 4096, 10_240, 100 * 1024 + 7] {
            let m = Generated::new(size).to_vec();
            assert_eq!(m.len() as u64, size.max(HEADER.len() as u64 + 2));
            assert!(m.ends_with(b"\r\n"));
            for (i, &b) in m.iter().enumerate() {
                if b == b'\n' {
                    assert_eq!(m[i - 1], b'\r');
                }
                if b == b'\r' {
                    assert_eq!(m[i + 1], b'\n');
                }
            }
            assert!(!m.windows(3).any(|w| w == b"\n.\r" || w == b"\n.."));
        }
    }

    #[test]
    fn reading_in_odd_chunks_gives_the_same_bytes() {
        let whole = Generated::new(9_999).to_vec();
        let mut g = Generated::new(9_999);
        let mut out = Vec::new();
        let mut buf = [0u8; 97];
        loop {
            let n = g.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, whole);
    }
}
