//! The floor for an SMTP sink on this machine: canned replies, no parsing, for
//! `benches/e2e.sh`.
//!
//! `smtp_floor epoll|threads ADDR`: `epoll` is one thread over an edge-triggered epoll
//! loop (mio), `threads` a thread per connection with blocking reads. Neither parses a
//! command: a line starting `DATA` is answered `354` and everything up to a line `.` is
//! skipped, a line starting `QUIT` is answered `221` and the connection closed, `EHLO`
//! gets a two-line `250` with PIPELINING, every other line `250 ok`. Replies to pipelined
//! lines go out in one write per read. What a server costs with a given client before it
//! does any work: the rows of the other servers are read against it. Runs until killed.
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use mailproto_bench::arg;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const USAGE: &str = "smtp_floor epoll|threads ADDR";
const GREETING: &[u8] = b"220 floor ESMTP\r\n";
const LISTENER: Token = Token(usize::MAX);

/// Where a connection is in the canned exchange: the bytes of a line read so far that
/// decide its answer (the first four: a command's name, or `.` CRLF in a body).
#[derive(Default)]
struct Lines {
    in_data: bool,
    /// The first octets of the current line (up to 4).
    head: [u8; 4],
    head_len: usize,
    closing: bool,
}

impl Lines {
    /// Consumes `input`, appending the canned replies it calls for to `out`.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        while !rest.is_empty() && !self.closing {
            let (line, complete) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[line.len()..];
            for &b in line.iter().take(4usize.saturating_sub(self.head_len)) {
                self.head[self.head_len] = b;
                self.head_len += 1;
            }
            if !complete {
                continue;
            }
            if self.in_data {
                if matches!(&self.head[..self.head_len], b".\r\n" | b".\n") {
                    self.in_data = false;
                    out.extend_from_slice(b"250 ok\r\n");
                }
            } else {
                match &self.head[..self.head_len] {
                    b"DATA" | b"data" => {
                        self.in_data = true;
                        out.extend_from_slice(b"354 go\r\n");
                    }
                    b"QUIT" | b"quit" => {
                        self.closing = true;
                        out.extend_from_slice(b"221 bye\r\n");
                    }
                    b"EHLO" | b"ehlo" => out.extend_from_slice(b"250-floor\r\n250 PIPELINING\r\n"),
                    _ => out.extend_from_slice(b"250 ok\r\n"),
                }
            }
            self.head_len = 0;
        }
    }
}

/// A connection of the epoll loop: its stream, its line state and the replies not yet
/// written.
struct Conn {
    stream: TcpStream,
    lines: Lines,
    out: Vec<u8>,
}

fn epoll(addr: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    eprintln!("smtp_floor (epoll) on {}", listener.local_addr()?);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut stream,
                                Token(slot),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let mut conn = Conn {
                                stream,
                                lines: Lines::default(),
                                out: GREETING.to_vec(),
                            };
                            let open = flush(&mut conn);
                            conns[slot] = Some(conn);
                            if !open {
                                drop_conn(&poll, &mut conns, &mut free, slot);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let slot = event.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let mut open = flush(conn);
            while open && conn.out.is_empty() && !conn.lines.closing {
                match conn.stream.read(&mut buf) {
                    Ok(0) => open = false,
                    Ok(n) => {
                        conn.lines.feed(&buf[..n], &mut conn.out);
                        open = flush(conn);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => open = false,
                }
            }
            if !open || (conn.lines.closing && conn.out.is_empty()) {
                drop_conn(&poll, &mut conns, &mut free, slot);
            }
        }
    }
}

/// Writes what `conn` owes; false once the peer is gone.
fn flush(conn: &mut Conn) -> bool {
    while !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

fn drop_conn(poll: &Poll, conns: &mut [Option<Conn>], free: &mut Vec<usize>, slot: usize) {
    if let Some(mut conn) = conns[slot].take() {
        let _ = poll.registry().deregister(&mut conn.stream);
        free.push(slot);
    }
}

fn threads(addr: SocketAddr) -> io::Result<()> {
    let listener = std::net::TcpListener::bind(addr)?;
    eprintln!("smtp_floor (threads) on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut lines = Lines::default();
            let mut out = GREETING.to_vec();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                if !out.is_empty() {
                    if stream.write_all(&out).is_err() {
                        return;
                    }
                    out.clear();
                }
                if lines.closing {
                    return;
                }
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => lines.feed(&buf[..n], &mut out),
                }
            }
        });
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode: String = arg(&args, 0, USAGE);
    let addr: SocketAddr = arg(&args, 1, USAGE);
    match mode.as_str() {
        "epoll" => epoll(addr),
        "threads" => threads(addr),
        _ => {
            eprintln!("usage: {USAGE}");
            std::process::exit(64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    fn replies(chunks: &[&[u8]]) -> String {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for chunk in chunks {
            lines.feed(chunk, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_transaction_gets_its_canned_replies_however_it_is_split() {
        let session: &[u8] =
            b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.x\r\n..\r\n.\r\nQUIT\r\nNOOP\r\n";
        let whole = replies(&[session]);
        assert_eq!(
            whole,
            "250-floor\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"
        );
        let bytes: Vec<&[u8]> = session.chunks(1).collect();
        assert_eq!(replies(&bytes), whole);
        let threes: Vec<&[u8]> = session.chunks(3).collect();
        assert_eq!(replies(&threes), whole);
    }
}
