//! Generated protocol values for fuzzing and property tests (features `arbitrary`,
//! `proptest`): SMTP commands, replies and MAIL/RCPT parameters, POP3 commands and
//! responses, and whole client sessions to play against a server.
//!
//! Every generated command, reply, status or response encodes with the crate's own
//! encoder and parses back to the same value (under [`smtp::parse_config`] and
//! [`pop3::limits`], which allow SMTPUTF8 and long lines). Sessions ([`SmtpScript`],
//! [`Pop3Script`]) are mostly valid, with the occasional malformed line, command out
//! of sequence, over-long body line, pause past a deadline or dropped connection.
//!
//! The generators, scripts and players use only `core` and `alloc`, like the rest of
//! the crate, but the `arbitrary` and `proptest` crates link std, so neither feature
//! builds for a target without std. `play` needs the feature `testing` as well.
//!
//! # One generator, three front ends
//!
//! Each generator is a plain function over a [`Source`] of choices
//! ([`smtp::command`], [`pop3::script`], ...), so the same distributions serve:
//!
//! - **fuzzers** (feature `arbitrary`): `Arbitrary` for the SMTP
//!   [`Command`](crate::smtp::Command), [`Reply`](crate::smtp::Reply),
//!   [`MailParams`](crate::smtp::MailParams) and [`RcptParams`](crate::smtp::RcptParams),
//!   the POP3 [`Command`](crate::pop3::Command), [`Status`](crate::pop3::Status) and
//!   [`Response`](crate::pop3::Response), [`SmtpScript`] and [`Pop3Script`], so a
//!   cargo-fuzz target reads `fuzz_target!(|script: SmtpScript| ...)`;
//! - **property tests** (feature `proptest`): the strategies of `generate::strategy`
//!   (`strategy::smtp_script()`, ...) and proptest's `any::<T>()` for the same types;
//!   they shrink towards the simplest value, as every generator maps the choice 0 to
//!   its simplest option;
//! - **anything else**: [`Bytes`] reads the choices from a byte slice (a fuzzer
//!   without `arbitrary`, a seed file), or implement [`Source`] over your own random
//!   numbers.
//!
//! # Playing a session against your server
//!
//! [`SmtpPlayer`] and [`Pop3Player`] are client [`Machine`](crate::Machine)s that send
//! a script step by step, wait for each answer (cancelling SASL challenges with `*`,
//! sending the body after `354`, reading multi-line POP3 answers) and record what came
//! back: [`SmtpPlayer::exchanges`], [`SmtpPlayer::delivered`] (the bodies the server
//! accepted with 2xx), [`Pop3Player::exchanges`]. Wire one to a server machine with
//! `testing::Pair` (feature `testing`) and run it with `play`, which also moves the
//! pair's virtual clock through the script's pauses and the server's deadlines, so a
//! whole session with timeouts takes microseconds:
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use mailproto_core::generate::{Bytes, SmtpPlayer, play, smtp};
//! use mailproto_core::smtp::server::{Event, Server, ServerConfig};
//! use mailproto_core::testing::Pair;
//! use mailproto_core::{Instant, Machine};
//!
//! let script = smtp::script(&mut Bytes::new(b"any bytes make a session"));
//! let server = Server::new(Instant::ZERO, ServerConfig::new("mx.example"));
//! let mut pair = Pair::new(SmtpPlayer::new(script), server);
//! let mut stored = Vec::new();
//! let mut body = Vec::new();
//! play(&mut pair, |server, now, event| match event {
//!     Event::Mail { .. } | Event::Rcpt { .. } => server.accept(now).unwrap(),
//!     Event::BodyChunk(chunk) => body.extend(chunk),
//!     Event::MessageEnd { .. } => {
//!         stored.push(std::mem::take(&mut body));
//!         server.accept(now).unwrap();
//!     }
//!     Event::MessageAborted { .. } => body.clear(),
//!     _ => {}
//! });
//! // Every message the server acknowledged was stored, once, byte for byte.
//! assert_eq!(stored, pair.client.delivered());
//! assert_eq!(pair.server.io(), mailproto_core::Io::Closed);
//! # }
//! ```
//!
//! With an application's own handler the callback is its session glue (in
//! `mailproto-engine`: `SmtpSession::handle`, `Pop3Session::handle`); the example
//! `property_test` of `mailproto-std` property-tests an `SmtpHandler` and a
//! `Pop3Backend` that way, and `fuzz/templates/smtp_handler.rs` is a ready cargo-fuzz
//! target doing the same from fuzzer input.

use alloc::string::String;
use alloc::vec::Vec;

mod player;
pub mod pop3;
mod script;
pub mod smtp;

#[cfg(feature = "arbitrary")]
mod arbitrary;
#[cfg(feature = "testing")]
mod play;
#[cfg(feature = "proptest")]
pub mod strategy;
#[cfg(all(test, feature = "proptest"))]
mod tests;

#[cfg(feature = "testing")]
pub use play::play;
pub use player::{Player, Pop3Answer, Pop3Exchange, Pop3Player, SmtpExchange, SmtpPlayer};
pub use pop3::Account;
pub use script::{Pop3Script, Pop3Step, SmtpScript, SmtpStep};

/// Where a generator takes its choices from.
///
/// A generator asks for a number below `n` at each decision; 0 is always its simplest
/// option (the shortest length, the first alternative, the letter `a`), and a source
/// that has run out answers 0, so every generator ends and an empty source gives the
/// simplest value.
pub trait Source {
    /// A choice in `0..n`; 0 when `n` is 0 or 1, or when the source has run out.
    fn choose(&mut self, n: u64) -> u64;

    /// Any `u64`, from two choices.
    fn any_u64(&mut self) -> u64 {
        (self.choose(1 << 32) << 32) | self.choose(1 << 32)
    }
}

/// A [`Source`] that reads its choices from a byte slice: each choice takes the fewest
/// bytes that cover it (one for `n <= 256`), big-endian, reduced modulo `n`.
#[derive(Debug, Clone)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// Choices from `data`; once it is used up every choice is 0.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    /// The bytes not used yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.data
    }
}

impl Source for Bytes<'_> {
    fn choose(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let width = (64 - (n - 1).leading_zeros()).div_ceil(8) as usize;
        let take = width.min(self.data.len());
        let (head, rest) = self.data.split_at(take);
        self.data = rest;
        head.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) % n
    }
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the SMTP and POP3 generators.

/// Inclusive character ranges; the first character of the first range is the simplest.
pub(crate) type Alphabet = &'static [(char, char)];

/// `a-z 0-9`.
pub(crate) const ALNUM: Alphabet = &[('a', 'z'), ('0', '9')];
/// Printable ASCII, space included.
pub(crate) const PRINTABLE: Alphabet = &[('a', 'z'), (' ', '~')];

/// True one time in `n` (never for the simplest choice).
pub(crate) fn one_in(s: &mut impl Source, n: u64) -> bool {
    n > 0 && s.choose(n) == n - 1
}

/// A number in `min..=max`.
pub(crate) fn between(s: &mut impl Source, min: u64, max: u64) -> u64 {
    min + s.choose(max.saturating_sub(min).saturating_add(1))
}

/// One of `items` (the first is the simplest).
pub(crate) fn pick<T: Clone>(s: &mut impl Source, items: &[T]) -> T {
    items[s.choose(items.len() as u64) as usize].clone()
}

/// Which of several weighted alternatives: an index into `weights`.
pub(crate) fn weighted(s: &mut impl Source, weights: &[u64]) -> usize {
    let mut c = s.choose(weights.iter().sum());
    for (i, w) in weights.iter().enumerate() {
        if c < *w {
            return i;
        }
        c -= w;
    }
    0
}

/// One character of `alphabet`.
pub(crate) fn char_of(s: &mut impl Source, alphabet: Alphabet) -> char {
    let size = |(a, b): &(char, char)| u64::from(*b) - u64::from(*a) + 1;
    let mut c = s.choose(alphabet.iter().map(size).sum());
    for range in alphabet {
        if c < size(range) {
            return char::from_u32(u32::from(range.0) + c as u32).unwrap_or(range.0);
        }
        c -= size(range);
    }
    'a'
}

/// `min..=max` characters of `alphabet`.
pub(crate) fn text(s: &mut impl Source, alphabet: Alphabet, min: u64, max: u64) -> String {
    let len = between(s, min, max);
    (0..len).map(|_| char_of(s, alphabet)).collect()
}

/// Up to `max` values of `f`.
pub(crate) fn some<T, S: Source>(s: &mut S, max: u64, mut f: impl FnMut(&mut S) -> T) -> Vec<T> {
    let n = s.choose(max + 1);
    (0..n).map(|_| f(s)).collect()
}
