//! The SMTP vocabulary: commands, paths, ESMTP parameters, replies and EHLO capabilities,
//! with their parsers and encoders (RFC 5321 and the extension RFCs).
//!
//! Parsers take one complete line *without* its CRLF, as delivered by the framing layer;
//! they never panic and never look beyond the line. Encoders append a complete line,
//! CRLF included, to a caller `&mut Vec<u8>`, and refuse CR, LF and NUL in arguments.
//!
//! ```
//! use mailproto_core::smtp::{Command, ParseConfig, Reply, ReplyCode, EnhancedCode};
//! let cfg = ParseConfig::default();
//! // C: RCPT TO:<"john doe"@example.org> NOTIFY=FAILURE
//! let cmd = Command::parse(b"RCPT TO:<\"john doe\"@example.org> NOTIFY=FAILURE", &cfg)?;
//! let mut out = Vec::new();
//! cmd.encode(&mut out).unwrap();
//! assert_eq!(out, b"RCPT TO:<\"john doe\"@example.org> NOTIFY=FAILURE\r\n");
//! // S: 250 2.1.5 Ok
//! let ok = EnhancedCode { class: 2, subject: 1, detail: 5 };
//! out.clear();
//! Reply::new(ReplyCode::OK, Some(ok), "Ok").encode(&mut out).unwrap();
//! assert_eq!(out, b"250 2.1.5 Ok\r\n");
//! # Ok::<(), mailproto_core::smtp::ParseError>(())
//! ```
//!
//! Modules: `types` (commands, paths, configuration), `params` (MAIL/RCPT parameters),
//! `path` and `parse` (command parser), `encode` (command encoder), `reply` (replies),
//! `ext` (EHLO capabilities), `xtext` (RFC 3461 §4), `error`.
//!
//! Machines: [`client`] (SMTP and LMTP client, [`client::Client`]) and [`server`] (SMTP
//! and LMTP server, [`server::Server`]).

mod abnf;
mod address;
mod capabilities;
pub mod client;
mod encode;
mod error;
mod params;
mod parse;
mod path;
mod reply;
pub mod server;
pub mod table;
mod types;
mod xtext;

pub use capabilities::{Capabilities, Extension};
pub use error::{
    EncodeError, ParseError, PathErrorKind, PathRole, ReplyError, SNIPPET_MAX, Snippet,
};
pub use params::{AuthParam, Body, MailParams, Notify, Orcpt, Param, RcptParams, Ret};
pub use parse::parse_command;
pub use reply::{EnhancedCode, Reply, ReplyCode, ReplyLimits, ReplyLine, ReplyParser};
pub use types::{
    AddressLiteral, Command, Domain, ForwardPath, Host, InitialResponse, Limits, Mailbox,
    ParseConfig, ReversePath,
};
pub use xtext::{xtext_decode, xtext_encode, xtext_encode_into};
