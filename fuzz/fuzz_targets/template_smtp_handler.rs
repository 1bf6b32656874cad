//! The user-facing template `fuzz/templates/smtp_handler.rs`, built and run as it is,
//! with its sample handler: the template a user copies keeps compiling and keeps its
//! promises.
#![no_main]

#[allow(unused_attributes)]
#[path = "../templates/smtp_handler.rs"]
mod template;
