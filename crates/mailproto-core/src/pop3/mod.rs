//! The POP3 vocabulary: commands, responses, listings and capabilities, with their
//! parsers and encoders (RFC 1939, RFC 2449, RFC 2595, RFC 3206, RFC 5034, RFC 6856).
//!
//! Parsers take one complete line **without** its CRLF, as the framing layer hands it
//! over, and never panic. Encoders append whole lines, CRLF included, to a caller
//! buffer. Multi-line bodies (RETR, TOP, and the multi-line LIST, UIDL and CAPA answers)
//! are dot-stuffed and terminated by the shared dot layer; here only their lines are
//! parsed and written.
//!
//! ```
//! use mailproto_core::pop3::{Command, Greeting, Limits, Status};
//!
//! let limits = Limits::default();
//! // S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
//! let greeting =
//!     Greeting::parse(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", &limits)?;
//! let timestamp = greeting.apop_timestamp().unwrap();
//! // C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
//! let apop = Command::apop("mrose", timestamp, b"tanstaaf");
//! let mut out = Vec::new();
//! apop.encode(&mut out)?;
//! assert_eq!(out, b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
//! // A server reads it back.
//! assert_eq!(Command::parse(&out[..out.len() - 2], &limits)?, apop);
//! // S: +OK maildrop has 1 message (369 octets)
//! assert!(Status::parse(b"+OK maildrop has 1 message (369 octets)", &limits)?.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apop;
mod capabilities;
pub mod client;
mod encode;
mod error;
mod parse;
pub mod server;
pub mod table;
mod types;

pub use apop::apop_digest;
pub use capabilities::{Capabilities, Capability, Expiry};
pub use client::Client;
pub use error::{EncodeError, NumberError, ParseError, SNIPPET_MAX, Snippet};
pub use parse::MAX_APOP_TIMESTAMP;
pub use types::{
    Command, DropListing, Greeting, Limits, Response, ResponseCode, ScanListing, Secret, Status,
    StatusIndicator, UniqueId, UniqueIdListing,
};
