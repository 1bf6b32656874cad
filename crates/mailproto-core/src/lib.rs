//! Sans-IO SMTP and POP3 state machines, client and server.
//!
//! Bytes and the current time in; events, bytes and deadlines out: nothing here opens a
//! socket, reads a clock or spawns a thread. The adapters `mailproto-std` and `mailproto-smol` drive these machines over
//! real connections.
//!
//! Shared layers:
//! - [`mod@line`]: CRLF framing over a bounded buffer, with an explicit bare CR / bare LF policy.
//! - [`dot`]: streaming dot-stuffing encoder and unstuffing decoder (SMTP DATA, POP3
//!   multi-line responses).
//! - [`machine`]: the contract every protocol machine keeps, and (feature `testing`)
//!   `testing::Pair`, which wires a client machine to a server machine in memory under
//!   a virtual clock.
//! - [`time`]: time as an input: the crate's [`Instant`], the [`Deadline`] kinds.
//! - [`sasl`]: SASL mechanisms (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER), client and
//!   server steps shared by SMTP AUTH and POP3 AUTH.
//!
//! Protocols:
//! - [`smtp`]: RFC 5321 with ESMTP: commands, paths, parameters, replies, EHLO
//!   capabilities.
//! - [`pop3`]: RFC 1939 with CAPA, response codes, SASL, STLS and UTF8.
//!
//! - [`secret`]: [`Secret`](secret::Secret), credentials redacted in `Debug` and zeroed
//!   on drop.
//! - `generate` (features `arbitrary`, `proptest`): commands, replies, parameters and
//!   whole client sessions for fuzzing and property-testing an application's server,
//!   and players that run a session against it.
#![no_std]
#![forbid(unsafe_code, unused_must_use)]
#![warn(missing_docs, missing_debug_implementations)]

extern crate alloc;

#[cfg(test)]
extern crate std;

pub mod dot;
#[cfg(any(feature = "arbitrary", feature = "proptest"))]
pub mod generate;
pub(crate) mod kernel;
pub mod line;
pub mod machine;
pub mod pop3;
pub mod proxy;
pub mod sasl;
pub mod secret;
mod setters;
pub mod smtp;
pub mod snippet;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod transcript;

pub use machine::{Io, Machine, Misuse};
pub use time::{Deadline, Instant};
