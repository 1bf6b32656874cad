//! Sans-IO SMTP and POP3 state machines, client and server.
//!
//! Bytes in, events and bytes out: nothing here opens a socket, reads a clock or spawns a
//! thread. The adapters `mailproto-std` and `mailproto-smol` drive these machines over
//! real connections.
//!
//! Shared layers:
//! - `line`: CRLF framing over a bounded buffer, with an explicit bare CR / bare LF policy.
//! - `dot`: streaming dot-stuffing encoder and unstuffing decoder (SMTP DATA, POP3
//!   multi-line responses).
//! - `machine`: the contract every protocol machine keeps.
//!
//! Protocols:
//! - [`smtp`]: the SMTP vocabulary (commands, paths, ESMTP parameters, replies, EHLO
//!   capabilities) with parsers and encoders.
#![no_std]
#![forbid(unsafe_code, unused_must_use)]
#![warn(missing_docs, missing_debug_implementations)]

extern crate alloc;

#[cfg(test)]
extern crate std;

pub mod smtp;
