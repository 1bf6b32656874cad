//! `LineReader`: byte 0 picks the policy and the line limit, byte 1 seeds the chunk sizes,
//! the rest is the wire. Fed in chunks or all at once, the reader must yield the same lines
//! and errors, keep its buffer bounded, and only hand out lines that fit the limit and
//! hold no line break (no CR either, except under `Keep`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailproto_core::line::{LineError, LineReader};
use mailproto_fuzz::{BareLineEnding, chunks, data_sizes, policy};

/// Line limits to try: the clamp (3), tiny ones, and the RFC 5321 / RFC 1939 / text ones.
const MAX_LINES: [usize; 8] = [0, 4, 5, 8, 17, 255, 512, 1000];

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Line(Vec<u8>),
    Error(LineError),
}

fn frame(policy: BareLineEnding, max_line: usize, wire: &[u8], sizes: &[usize]) -> Vec<Event> {
    let mut reader = LineReader::new(max_line, policy);
    let limit = reader.max_line();
    let mut events = Vec::new();
    for chunk in chunks(wire, sizes) {
        reader.push(chunk);
        assert!(
            reader.len() <= limit + chunk.len(),
            "buffer grew past limit + chunk"
        );
        while let Some(item) = reader.next_line() {
            events.push(match item {
                Ok(line) => {
                    assert!(line.len() + 2 <= limit, "line over the limit");
                    assert!(!line.contains(&b'\n'), "LF inside a line");
                    if policy != BareLineEnding::Keep {
                        assert!(!line.contains(&b'\r'), "CR inside a line");
                    }
                    Event::Line(line.to_vec())
                }
                Err(e) => {
                    if let LineError::TooLong { limit: l } = e {
                        assert_eq!(l, limit);
                    }
                    Event::Error(e)
                }
            });
        }
        assert!(reader.len() <= limit, "partial line held past the limit");
    }
    events
}

fuzz_target!(|data: &[u8]| {
    let [config, seed, wire @ ..] = data else {
        return;
    };
    let policy = policy(*config);
    let max_line = MAX_LINES[usize::from(*config / 3) % MAX_LINES.len()];
    let whole = frame(policy, max_line, wire, &[]);
    let split = frame(policy, max_line, wire, &data_sizes(wire, *seed));
    assert_eq!(whole, split);
});
