//! Blocking adapter: drives the `mailproto-core` machines over `std::net` sockets.
//!
//! The driver, TLS and the server/client APIs arrive with the adapters work; today this
//! crate re-exports the core so dependants can name one crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mailproto_core as core;
