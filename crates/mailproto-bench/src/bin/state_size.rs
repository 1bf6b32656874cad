//! Bytes of core state per idle session, for `benches/e2e.sh`: `size_of` of each
//! machine plus the heap it (and its configuration) holds right after creation, measured
//! with a counting allocator. Prints one `name inline heap total` line per machine.
const T0: mailproto_core::Instant = mailproto_core::Instant::ZERO;

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Net heap bytes held after `make` returns, and the value (kept alive while measuring).
fn measure<T>(make: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let value = make();
    let s = region.change();
    let net = s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated;
    (value, net.max(0) as usize)
}

fn report<T>(name: &str, make: impl FnOnce() -> T) {
    let (value, heap) = measure(make);
    let inline = std::mem::size_of::<T>();
    println!("{name} {inline} {heap} {}", inline + heap);
    drop(value);
}

fn main() {
    use mailproto_core::{pop3, smtp};
    println!("# machine size_of heap total (bytes)");
    report("smtp::server::Server", || {
        let mut config = smtp::server::ServerConfig::new("localhost");
        config.extensions.pipelining = true;
        smtp::server::Server::new(T0, config)
    });
    report("smtp::client::Client", || {
        smtp::client::Client::new(T0, smtp::client::ClientConfig::default())
    });
    report("pop3::server::Server", || {
        pop3::server::Server::new(T0, pop3::server::ServerConfig::default())
    });
    report("pop3::client::Client", || {
        pop3::client::Client::new(T0, pop3::client::ClientConfig::default())
    });
    println!(
        "# adapter buffers per connection (both adapters): read {} + write capacity {}",
        mailproto_std::adapter::READ_BUF,
        mailproto_std::adapter::READ_BUF
    );
}
