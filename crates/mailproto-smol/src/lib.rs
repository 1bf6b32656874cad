//! Async adapter: drives the `mailproto-core` machines over `smol` / futures-io streams,
//! with TLS from rustls (futures-rustls).
//!
//! Built on futures-io `AsyncRead`/`AsyncWrite`, so it also runs under other executors
//! through their compat layers. What is not I/O (TLS configuration, the error type, the
//! shared limits) comes from `mailproto-std` and is re-exported here.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mailproto_core as core;
pub use mailproto_std::{Error, ListenerOptions, TlsRole, tls};

mod driver;
mod listener;

pub use driver::Driver;
pub use listener::{Listener, ShutdownHandle};
