//! HAProxy in front of a test server: each front passes the client's addresses to the
//! server behind it in a PROXY protocol header (haproxy's `proxy-protocol.txt`, v1 text
//! or v2 binary), optionally after terminating implicit TLS itself.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Reaped, free_port, open_tempdir, program, set_mode, skip, wait_for_port};

/// How HAProxy passes the client to the server behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendProxy {
    /// The v1 text header, `PROXY TCP4 <src> <dst> <sport> <dport>\r\n` (`send-proxy`).
    V1,
    /// The v2 binary header (`send-proxy-v2`).
    V2,
    /// v2 with the SSL TLV, `PP2_TYPE_SSL` (`send-proxy-v2-ssl`).
    V2Ssl,
}

impl SendProxy {
    /// The keyword on haproxy's `server` line.
    fn keyword(self) -> &'static str {
        match self {
            SendProxy::V1 => "send-proxy",
            SendProxy::V2 => "send-proxy-v2",
            SendProxy::V2Ssl => "send-proxy-v2-ssl",
        }
    }
}

/// One front of a [`Haproxy`]: a loopback port relaying every connection to `backend`.
#[derive(Debug, Clone)]
pub struct Frontend {
    /// The PROXY header sent to the backend before the client's bytes.
    pub send: SendProxy,
    /// Terminate TLS on this front with the certificate given to [`Haproxy::start`]
    /// (implicit TLS, like ports 465/995); the backend then sees plaintext.
    pub tls: bool,
    /// The server behind this front.
    pub backend: SocketAddr,
}

/// HAProxy (Debian's `haproxy`, 2.6 or later) in the foreground on loopback, in TCP mode,
/// with one front per [`Frontend`]. Stopped on drop.
#[derive(Debug)]
pub struct Haproxy {
    _child: Reaped,
    dir: tempfile::TempDir,
    /// The front ports, in the order of the frontends given.
    pub ports: Vec<u16>,
}

impl Haproxy {
    /// Start HAProxy with these `frontends`; a TLS front presents `cert_pem`/`key_pem`.
    /// `None` (after [`skip`]) when HAProxy is missing or no front comes up.
    pub fn start(
        test: &str,
        frontends: &[Frontend],
        cert_pem: &str,
        key_pem: &str,
    ) -> Option<Self> {
        let binary = program(test, "haproxy")?;
        let dir = open_tempdir();
        let root = dir.path();
        let front_pem = root.join("front.pem");
        let mut pem = cert_pem.to_string();
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        pem.push_str(key_pem);
        fs::write(&front_pem, pem).expect("write front.pem");
        set_mode(&front_pem, 0o600);
        let ports: Vec<u16> = frontends.iter().map(|_| free_port()).collect();
        let mut config = String::from(
            "global\n  log stderr format raw local0 info\n  maxconn 64\n\n\
             defaults\n  mode tcp\n  log global\n  option tcplog\n\
             \x20 timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n",
        );
        for (i, (front, port)) in frontends.iter().zip(&ports).enumerate() {
            let ssl = if front.tls {
                format!(" ssl crt {}", front_pem.display())
            } else {
                String::new()
            };
            let _ = write!(
                config,
                "\nlisten front{i}\n  bind 127.0.0.1:{port}{ssl}\n  server s1 {} {}\n",
                front.backend,
                front.send.keyword()
            );
        }
        fs::write(root.join("haproxy.cfg"), config).expect("write haproxy.cfg");
        let log = fs::File::create(root.join("haproxy.log")).expect("create haproxy.log");
        let child = log.try_clone().and_then(|err| {
            Command::new(binary)
                .arg("-db")
                .arg("-f")
                .arg(root.join("haproxy.cfg"))
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(err))
                .spawn()
        });
        let child = match child {
            Ok(c) => Reaped(c),
            Err(e) => {
                skip(test, &format!("haproxy did not start: {e}"));
                return None;
            }
        };
        let haproxy = Haproxy {
            _child: child,
            dir,
            ports,
        };
        if let Some(port) = haproxy
            .ports
            .iter()
            .find(|&&p| !wait_for_port(p, Duration::from_secs(10)))
        {
            skip(
                test,
                &format!("haproxy is not listening on {port}: {}", haproxy.log()),
            );
            return None;
        }
        Some(haproxy)
    }

    /// HAProxy's output (its log lines, warnings and alerts), for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}
