# mailproto tasks. `just --list` shows them.

# Everything CI checks, as CI runs it.
ci:
    bash .ci/run

# The test suite (the README's command).
test:
    cargo test --workspace

# Fuzz every target for a bounded time (seconds per target).
fuzz seconds="60":
    SECONDS_PER_TARGET={{seconds}} bash fuzz/run.sh

# Core micro-benchmarks (dot codec vs memcpy and smtp-proto).
bench:
    cargo bench -p mailproto-core

# Send a message to a local server and read it back.
demo:
    cargo run --release -p mailproto-cli -- demo

# API documentation, warnings denied.
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

# Lints as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# The no_std proof: build the core for a target without std.
no-std:
    cargo build -p mailproto-core --target x86_64-unknown-none

# End-to-end benchmarks against Postfix's smtp-sink/smtp-source, aiosmtpd, smtplib,
# Dovecot, poplib and curl (installed if missing), all on loopback. Sections: peers
# smtp-server smtp-maildir smtp-client pop3 memory report (default: all). Raw results in
# target/bench-e2e, chart in docs/bench-e2e.svg; see docs/benchmarks.md.
bench-e2e *sections:
    bash benches/e2e.sh {{sections}}
