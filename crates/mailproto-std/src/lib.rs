//! Blocking adapter: drives the `mailproto-core` machines over `std::net` sockets, with
//! TLS from rustls.
//!
//! - [`Driver`] runs any machine over a TCP connection: output, events, reads with the
//!   machine's timeout, the STARTTLS/STLS handshake, implicit TLS, close.
//! - [`tls`] builds rustls configurations (PEM files, self-signed certificates, system or
//!   supplied roots, an explicit switch to accept invalid certificates for local tests).
//! - [`Error`] says what failed and converts to `io::Error`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mailproto_core as core;

pub mod adapter;
mod driver;
mod error;
mod listener;
pub mod pop3_server;
pub mod tls;

pub use driver::{Driver, TlsRole};
pub use error::Error;
pub use listener::{Listener, ListenerOptions, ShutdownHandle};
