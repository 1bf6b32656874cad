//! A session whose peer keeps the stream ready (every read returns data at once) must
//! still let the other tasks on its executor run: the driver yields after a bounded
//! number of I/O calls. On one single-threaded executor, a second task records how many
//! reads the busy session had made when it first ran; without the yield it would run
//! only after the session ended.
#![allow(missing_docs)]

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use mailproto_core::Instant;
use mailproto_core::smtp::server::{Server, ServerConfig};
use mailproto_smol::{Driver, Smol, TlsRole};

/// Reads that each give one `NOOP` at once, `left` of them, then the end of the stream;
/// writes are taken whole at once.
struct Busy {
    left: usize,
    reads: Arc<AtomicUsize>,
}

impl AsyncRead for Busy {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.left == 0 {
            return Poll::Ready(Ok(0));
        }
        self.left -= 1;
        self.reads.fetch_add(1, Ordering::Relaxed);
        let line = b"NOOP\r\n";
        buf[..line.len()].copy_from_slice(line);
        Poll::Ready(Ok(line.len()))
    }
}

impl AsyncWrite for Busy {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_busy_session_lets_other_tasks_run() {
    const READS: usize = 2_000;
    let reads = Arc::new(AtomicUsize::new(0));
    let seen_at = Rc::new(Cell::new(None));
    let ex = smol::LocalExecutor::new();
    let stream = Busy {
        left: READS,
        reads: reads.clone(),
    };
    let server = Server::new(Instant::ZERO, ServerConfig::new("mx.example.org"));
    let session = ex.spawn(async move {
        let mut driver = Driver::new(Smol::default(), server, stream, TlsRole::None);
        let mut events = 0;
        while let Ok(Some(_)) = driver.next_event().await {
            events += 1;
        }
        events
    });
    let other = ex.spawn({
        let (reads, seen_at) = (reads.clone(), seen_at.clone());
        async move { seen_at.set(Some(reads.load(Ordering::Relaxed))) }
    });
    let events = smol::block_on(ex.run(async {
        other.await;
        session.await
    }));
    assert_eq!(
        reads.load(Ordering::Relaxed),
        READS,
        "the session read its whole input"
    );
    assert_eq!(events, 1, "one Closed event for a session of NOOPs");
    let seen = seen_at.get().expect("the other task ran");
    assert!(
        seen < READS,
        "the other task ran only after the busy session's {seen} reads"
    );
}
