//! The examples run as a user would run them: the SMTP sink receives what the sender
//! example sends, and the fetch example reads a real Dovecot over STLS.
#![allow(missing_docs)]

use mailproto_engine::tls::SelfSigned;

#[test]
fn the_examples_run() {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    mailproto_testkit::run_examples(
        "tokio examples",
        ["tokio_smtp_sink", "tokio_send", "tokio_fetch"],
        &cert.cert_pem,
        &cert.key_pem,
    );
}

#[test]
fn the_pooled_example_runs() {
    mailproto_testkit::run_pooled_example("tokio_smtp_sink", "tokio_pooled_send", 20);
}
