//! The shared adapter suite (the same file the blocking adapter and the tokio adapter
//! run), on smol: every operation goes through the engine's async servers and clients on
//! the [`Smol`] runtime. Servers run on one single-threaded executor of their own.
#![allow(missing_docs)]

#[path = "../../mailproto-engine/tests/suite/mod.rs"]
mod suite;

use std::future::Future;
use std::sync::Arc;
use std::thread;

use mailproto_smol::Smol;
use suite::aio::{Aio, Executor, ServerFuture};

struct SmolExecutor;

impl Executor for SmolExecutor {
    type R = Smol;
    const NAME: &'static str = "smol";

    fn block_on<T>(fut: impl Future<Output = T>) -> T {
        smol::block_on(fut)
    }

    fn serve(start: Box<dyn FnOnce(Smol) -> ServerFuture + Send>) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let executor = Arc::new(smol::Executor::new());
            let server = start(Smol::on(executor.clone()));
            let _ = smol::block_on(executor.run(server));
        })
    }
}

adapter_suite!(Aio<SmolExecutor>);
async_waiting_cases!(Aio<SmolExecutor>);
