//! The shared adapter suite (the same file the blocking adapter and the smol adapter
//! run), on tokio: every operation goes through the engine's async servers and clients on
//! the [`Tokio`] runtime. Servers run on a current-thread runtime of their own; clients
//! on a shared runtime.
#![allow(missing_docs)]

#[path = "../../mailproto-engine/tests/suite/mod.rs"]
mod suite;

use std::future::Future;
use std::sync::LazyLock;
use std::thread;

use mailproto_tokio::Tokio;
use suite::aio::{Aio, Executor, ServerFuture};

/// Where the clients run.
static CLIENTS: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

struct TokioExecutor;

impl Executor for TokioExecutor {
    type R = Tokio;
    const NAME: &'static str = "tokio";

    fn block_on<T>(fut: impl Future<Output = T>) -> T {
        CLIENTS.block_on(fut)
    }

    fn serve(start: Box<dyn FnOnce(Tokio) -> ServerFuture + Send>) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let server = start(Tokio::on(runtime.handle().clone()));
            let _ = runtime.block_on(server);
        })
    }
}

adapter_suite!(Aio<TokioExecutor>);
async_waiting_cases!(Aio<TokioExecutor>);
