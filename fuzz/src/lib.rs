//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Every target reads a few header bytes (policy, split seeds, configuration, the
//! decisions of a scripted application) and treats the rest of the input as wire or
//! body bytes, so seed files stay readable: see `seeds.sh`. The protocol machines are
//! driven as an adapter drives them ([`smtp`], [`pop3`]); whole sessions and client
//! flows run through the engine in memory ([`engine`]).

#![forbid(unsafe_code)]

use mailproto_core::dot::{DotDecoder, DotError};
pub use mailproto_core::line::BareLineEnding;
use mailproto_core::time::{Duration, Instant};
use mailproto_core::{Io, Machine};

pub mod engine;
pub mod pop3;
pub mod smtp;

/// The virtual clock a driver runs a machine on, moved by the fuzz input.
///
/// Untimed (no bytes), it stays at zero, so runs that must give the same events however
/// the input is split never meet a deadline. Timed, each [`Clock::tick`] moves it by an
/// amount the input chooses (none to over an hour), firing every deadline that falls due
/// on the way, each at its own instant, and checking the timing contract: a call before
/// the deadline changes nothing, and handling a deadline moves it on.
#[derive(Debug, Clone)]
pub struct Clock<'a> {
    /// The time of every call the driver makes.
    pub now: Instant,
    steps: Choices<'a>,
    timed: bool,
}

impl<'a> Clock<'a> {
    /// A clock moved by `steps` (untimed when empty).
    pub fn new(steps: &'a [u8]) -> Self {
        Clock {
            now: Instant::ZERO,
            steps: Choices::new(steps),
            timed: !steps.is_empty(),
        }
    }

    /// Move on by the next step and fire the deadlines due.
    pub fn tick<M: Machine>(&mut self, machine: &mut M) {
        if !self.timed {
            return;
        }
        let b = u64::from(self.steps.byte());
        // Quadratic: mostly short pauses, now and then one past every deadline.
        let target = self.now + Duration::from_millis(b * b * 64);
        self.fire_until(machine, target);
    }

    /// Fire every deadline due up to `target`, in order, and stop at `target`.
    pub fn fire_until<M: Machine>(&mut self, machine: &mut M, target: Instant) {
        while let Some(due) = machine.poll_timeout() {
            if due > target {
                break;
            }
            assert!(
                due >= self.now || machine.io() == Io::Closed,
                "a deadline ({due}) before the last call ({})",
                self.now
            );
            if due > self.now {
                let before = (machine.io(), machine.poll_timeout());
                machine.handle_timeout(due - Duration::from_millis(1));
                assert_eq!(
                    before,
                    (machine.io(), machine.poll_timeout()),
                    "handle_timeout acted before its deadline"
                );
            }
            self.now = self.now.max(due);
            machine.handle_timeout(self.now);
            assert_ne!(
                machine.poll_timeout(),
                Some(due),
                "handling a deadline left it due"
            );
        }
        self.now = self.now.max(target);
    }
}

/// Everything `machine` hands out, appended to `output` and reported as taken at `now`.
pub fn take<M: Machine>(machine: &mut M, now: Instant, output: &mut Vec<u8>) {
    let before = output.len();
    while machine.poll_transmit(output) > 0 {}
    machine.transmitted(now, output.len() - before);
}

/// Decision number `*next` from `bytes` (0 when there are none), moving `*next` on:
/// the bytes in turn, each pass adding how many passes came before, so a short list does
/// not repeat the same pattern forever. [`Choices`] and the engine's owned `Script`
/// both draw from it.
pub fn decision(bytes: &[u8], next: &mut usize) -> u8 {
    let n = *next;
    *next = next.wrapping_add(1);
    match bytes.len() {
        0 => 0,
        len => bytes[n % len].wrapping_add((n / len) as u8),
    }
}

/// The decisions of a scripted application (which answer, which command next), read
/// from input bytes in turn and cycled, so the fuzzer steers them byte by byte. With no
/// bytes every decision is 0.
#[derive(Debug, Clone)]
pub struct Choices<'a> {
    bytes: &'a [u8],
    next: usize,
}

impl<'a> Choices<'a> {
    /// Decisions from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes, next: 0 }
    }

    /// The next decision byte, mixed with how many were taken so that a short list does
    /// not repeat the same pattern forever.
    pub fn byte(&mut self) -> u8 {
        decision(self.bytes, &mut self.next)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }
}

/// Splits a fuzz input into its configuration bytes, a list of decision bytes (its length
/// is the byte after the configuration, mod 16) and the wire bytes that follow. `None`
/// when the input is too short for the configuration.
pub fn split_input<const N: usize>(data: &[u8]) -> Option<([u8; N], &[u8], &[u8])> {
    let (config, rest) = data.split_first_chunk::<N>()?;
    let (&count, rest) = rest.split_first()?;
    let (choices, wire) = rest.split_at(usize::from(count % 16).min(rest.len()));
    Some((*config, choices, wire))
}

/// Whether every CR in `bytes` is followed by LF and every LF is preceded by CR.
pub fn crlf_clean(bytes: &[u8]) -> bool {
    crlf_clean_from(bytes, 0)
}

/// The lines of `text`, cut after each LF, without the LF and a CR before it; a last
/// line without LF counts too, an empty rest does not.
pub fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        line.strip_suffix(b"\r").unwrap_or(line)
    })
}

/// Every bare CR / bare LF policy.
pub const POLICIES: [BareLineEnding; 3] = [
    BareLineEnding::Reject,
    BareLineEnding::Normalize,
    BareLineEnding::Keep,
];

/// The policy a header byte selects.
pub fn policy(byte: u8) -> BareLineEnding {
    POLICIES[usize::from(byte) % POLICIES.len()]
}

/// Consecutive chunks of `data` whose lengths cycle through `sizes` (a size of 0 counts as
/// 1; the last chunk is cut short). An empty `sizes` gives the whole of `data` at once.
pub fn chunks<'a>(data: &'a [u8], sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = data;
    let mut next = sizes.iter().copied().cycle();
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = next.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// Chunk sizes taken from the data itself: each chunk's length comes from the byte it
/// starts with, mixed with `seed`. The seed's low 3 bits pick the largest chunk (1 to 256
/// bytes), the rest is xor-ed into the data byte. So the fuzzer steers the split points
/// without a separate split list.
pub fn data_sizes(data: &[u8], seed: u8) -> Vec<usize> {
    const MAX: [usize; 8] = [1, 2, 3, 4, 7, 16, 64, 256];
    let max = MAX[usize::from(seed & 7)];
    let mix = seed >> 3;
    let mut sizes = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let n = 1 + usize::from(data[pos] ^ mix) % max;
        sizes.push(n);
        pos += n;
    }
    sizes
}

/// Whether every CR in `bytes[from..]` is followed by LF and every LF there is preceded
/// by CR (looking before `from` too), so a growing buffer is checked in linear time.
pub fn crlf_clean_from(bytes: &[u8], from: usize) -> bool {
    bytes.iter().enumerate().skip(from).all(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && bytes[i - 1] == b'\r',
        _ => true,
    })
}

/// Where a dot-terminated body in `input` ends: just after the first `CRLF . CRLF`, where
/// the input counts as starting after a CRLF (so `. CRLF` at the very start ends it too).
/// Every CRLF puts a decoder back at line start, so this is exactly where a correct
/// decoder must stop, whatever the policy.
pub fn terminator_end(input: &[u8]) -> Option<usize> {
    if input.starts_with(b".\r\n") {
        return Some(3);
    }
    let at = input.windows(5).position(|w| w == b"\r\n.\r\n")?;
    Some(at + 5)
}

/// Everything a [`DotDecoder`] reports for one input, with body chunks merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoding {
    /// The body bytes emitted.
    pub body: Vec<u8>,
    /// Input bytes used, over all calls.
    pub consumed: usize,
    /// Whether the terminator was reached.
    pub done: bool,
    /// The first bare CR / LF met under `Reject`.
    pub violation: Option<DotError>,
}

/// Decode `input` fed in chunks of `sizes` (see [`chunks`]), checking the decoder's
/// contract after every call:
/// - a call uses at most its input, and all of it unless the body ended;
/// - the body never outgrows the input used (twice that under `Normalize`, where a bare
///   CR or LF becomes CRLF);
/// - under `Reject` and `Normalize` the body holds no bare CR or bare LF;
/// - the body ends exactly at [`terminator_end`] (no smuggling variant ends it, no real
///   terminator is missed), and a finished decoder uses no more input.
pub fn decode(policy: BareLineEnding, input: &[u8], sizes: &[usize]) -> Decoding {
    let mut decoder = DotDecoder::new(policy);
    let mut body = Vec::new();
    let mut consumed = 0;
    let end = terminator_end(input);
    let growth = if policy == BareLineEnding::Normalize {
        2
    } else {
        1
    };
    for chunk in chunks(input, sizes) {
        let before = body.len();
        let r = decoder.decode(chunk, &mut body);
        assert!(r.consumed <= chunk.len(), "consumed more than given");
        assert!(
            r.done || r.consumed == chunk.len(),
            "stopped early without the end"
        );
        assert_eq!(r.done, decoder.is_done());
        consumed += r.consumed;
        assert!(
            body.len() <= growth * consumed,
            "{policy:?}: {} body bytes from {consumed} input bytes",
            body.len()
        );
        if policy != BareLineEnding::Keep {
            assert!(
                crlf_clean_from(&body, before),
                "{policy:?}: bare CR/LF in the body"
            );
        }
        if r.done {
            assert_eq!(Some(consumed), end, "body ended at the wrong place");
            let again = decoder.decode(&chunk[r.consumed..], &mut body);
            assert_eq!((again.consumed, again.done), (0, true));
            break;
        }
    }
    assert_eq!(decoder.is_done(), end.is_some(), "terminator missed");
    if policy != BareLineEnding::Reject {
        assert_eq!(decoder.violation(), None);
    }
    Decoding {
        body,
        consumed,
        done: decoder.is_done(),
        violation: decoder.violation(),
    }
}
