//! Postfix's SMTP server (Debian's `postfix`, 3.7.9 or later) on a loopback port, run as
//! root in the foreground (`postfix -c DIR start-fg`) with its own configuration, queue
//! and data directories, and every address of [`Postfix::DOMAIN`] delivered into a
//! Maildir of its own in the temporary directory.
//!
//! The configuration is the one the interoperability and differential tests need:
//! chroot off everywhere, `smtpd_forbid_bare_newline = yes` (RFC 5321 §2.3.8, SMTP
//! smuggling) for loopback clients too, no error sleep and high error and junk-command
//! limits, SMTPUTF8 on, no header rewriting, optional STARTTLS, optional AUTH through a
//! Dovecot auth service, and recipients refused with a chosen reply. Nothing leaves the
//! machine: mail for other domains bounces through the `error` transport.
//!
//! Delivery is by pipe(8) into a small Maildir writer run as `nobody`, not by virtual(8):
//! virtual(8) refuses `$1` substitution in a regexp `virtual_mailbox_maps`, so it could
//! only serve users known in advance.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::{Reaped, free_port, open_tempdir, program, set_mode, skip};

/// How long the fixture waits for Postfix (and Dovecot's auth service) to come up, and
/// for Postfix to stop.
const START_LIMIT: Duration = Duration::from_secs(20);
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// The account the Maildirs belong to (pipe(8) refuses to deliver as root).
const MAILBOX_OWNER: &str = "nobody";

/// What a [`Postfix`] offers beyond plain SMTP. `Default` is STARTTLS off, AUTH off,
/// every recipient of [`Postfix::DOMAIN`] accepted.
#[derive(Debug, Clone, Default)]
pub struct PostfixOptions {
    /// Offer STARTTLS (`smtpd_tls_security_level = may`) with this certificate and
    /// private key, both PEM.
    pub tls: Option<(String, String)>,
    /// `(user, password)` pairs SMTP AUTH (PLAIN, LOGIN) accepts, checked by a Dovecot
    /// auth service the fixture starts (`smtpd_sasl_type = dovecot`). AUTH is offered on
    /// plaintext connections too. Empty: no AUTH. The user name is matched exactly as
    /// the client sends it.
    pub users: Vec<(String, String)>,
    /// `(address, reply)` pairs refusing a recipient at RCPT with that reply, e.g.
    /// `("busy@mx.test", "450 4.2.0 try later")` or `("gone@mx.test", "550 5.1.1 no
    /// such user")` (a `check_recipient_access` texthash table, access(5): Postfix
    /// answers `<code> <enhanced code> <address>: Recipient address rejected: <text>`).
    /// The address is matched as Postfix matches table keys, ignoring ASCII case.
    pub recipient_replies: Vec<(String, String)>,
    /// main.cf `(parameter, value)` pairs, applied last: each replaces the fixture's
    /// value of that parameter or adds it, e.g. `("smtpd_forbid_bare_newline",
    /// "reject")`.
    pub extra: Vec<(String, String)>,
}

/// Postfix's `smtpd` on `127.0.0.1:port` with a temporary configuration: chroot off,
/// delivery into a Maildir per address (see [`PostfixOptions`]). Stopped on drop (`master` gets SIGTERM, then
/// its process group SIGKILL if it lingers), with its Dovecot auth service and the
/// temporary directory.
#[derive(Debug)]
pub struct Postfix {
    /// `postfix -c DIR start-fg`: the script waits for `master -s`.
    child: Child,
    /// Dovecot's auth service, when [`PostfixOptions::users`] is not empty.
    _auth: Option<Reaped>,
    dir: tempfile::TempDir,
    /// The SMTP port on 127.0.0.1.
    pub port: u16,
}

impl Postfix {
    /// The domain whose every address is delivered into a Maildir (`virtual_mailbox_domains`,
    /// also `myhostname`).
    pub const DOMAIN: &'static str = "mx.test";

    /// Start Postfix with these options. `None` (after [`skip`]) when Postfix (or, with
    /// users, Dovecot) is missing or does not come up; the skip message carries Postfix's
    /// output and log.
    pub fn start(test: &str, options: &PostfixOptions) -> Option<Self> {
        let postfix = program(test, "postfix")?;
        supported(test)?;
        let dir = open_tempdir();
        let root = dir.path();
        for sub in ["etc", "spool", "mail"] {
            fs::create_dir_all(root.join(sub)).expect("create a Postfix directory");
            set_mode(&root.join(sub), 0o755);
        }
        let _ = Command::new("chown")
            .arg(format!("{MAILBOX_OWNER}:"))
            .arg(root.join("mail"))
            .status();
        let auth = if options.users.is_empty() {
            None
        } else {
            Some(start_auth(test, root, &options.users)?)
        };
        let port = free_port();
        let config = main_cf(root, port, options, auth.is_some());
        let etc = root.join("etc");
        write_config(&etc.join("main.cf"), &config, 0o644);
        let domain = Self::DOMAIN.replace('.', "\\.");
        // `%` delimits the pattern (a `/` may not appear inside `/.../`): a local part with
        // a `/` or a leading `.` has no mailbox.
        let mailboxes = format!("%^[^@/.][^@/]*@{domain}$% maildir\n");
        write_config(&etc.join("mailboxes"), &mailboxes, 0o644);
        let deliver = etc.join("deliver");
        write_config(&deliver, &deliver_sh(&root.join("mail")), 0o755);
        write_config(&etc.join("master.cf"), &master_cf(port, &deliver), 0o644);
        let access: String = options
            .recipient_replies
            .iter()
            .map(|(address, reply)| format!("{address} {reply}\n"))
            .collect();
        write_config(&etc.join("recipient_access"), &access, 0o644);
        if let Some((cert, key)) = &options.tls {
            write_config(&etc.join("cert.pem"), cert, 0o644);
            write_config(&etc.join("key.pem"), key, 0o600);
        }
        let out = fs::File::create(root.join("postfix.out")).expect("create postfix.out");
        let child = out.try_clone().and_then(|err| {
            Command::new(postfix)
                .arg("-c")
                .arg(&etc)
                .arg("start-fg")
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .spawn()
        });
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                skip(test, &format!("postfix did not start: {e}"));
                return None;
            }
        };
        let mut server = Postfix {
            child,
            _auth: auth,
            dir,
            port,
        };
        if let Err(why) = server.wait_listening() {
            skip(test, &format!("postfix {why}:\n{}", server.log()));
            return None;
        }
        Some(server)
    }

    /// Wait until `master` accepts connections on the port, or the start script ends.
    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("start-fg exited ({status})"));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "is not listening on {} after {START_LIMIT:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The Maildir of an address of [`Postfix::DOMAIN`] or of its local part: mail goes
    /// to the local part with ASCII letters lower-cased (no `recipient_delimiter`: `ann+x` has its own
    /// Maildir). A local part with a `/` or a leading `.` is refused at RCPT with 550.
    pub fn maildir(&self, address_or_user: &str) -> PathBuf {
        let user = match address_or_user.rsplit_once('@') {
            Some((local, _)) => local,
            None => address_or_user,
        };
        self.dir.path().join("mail").join(user.to_ascii_lowercase())
    }

    /// The messages in the `new/` of a Maildir ([`Postfix::maildir`]), oldest first, as
    /// delivered: LF line ends, unstuffed, with `Return-Path:`, `Delivered-To:` (the
    /// address as the client wrote it) and Postfix's `Received:` prepended, nothing else
    /// added.
    pub fn delivered(&self, address_or_user: &str) -> Vec<Vec<u8>> {
        let new = self.maildir(address_or_user).join("new");
        let mut files: Vec<(SystemTime, PathBuf)> = fs::read_dir(new)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| fs::read(path).ok())
            .collect()
    }

    /// [`Postfix::delivered`] once at least `n` messages are there, or when `limit` has
    /// passed (then possibly fewer: the caller asserts, with [`Postfix::log`]).
    pub fn wait_delivered(&self, address_or_user: &str, n: usize, limit: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + limit;
        loop {
            let messages = self.delivered(address_or_user);
            if messages.len() >= n || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Postfix's log (`maillog_file`), then the output of `postfix start-fg` and the
    /// Dovecot auth log when not empty, for assertion messages.
    pub fn log(&self) -> String {
        let root = self.dir.path();
        let mut log = fs::read_to_string(root.join("maillog")).unwrap_or_default();
        for (name, path) in [
            ("postfix start-fg", root.join("postfix.out")),
            ("dovecot auth", root.join("auth").join("dovecot.err")),
            ("dovecot auth log", root.join("auth").join("dovecot.log")),
        ] {
            let text = fs::read_to_string(path).unwrap_or_default();
            if !text.is_empty() {
                let _ = write!(log, "--- {name} ---\n{text}");
            }
        }
        log
    }

    /// The configuration directory (`main.cf`, `master.cf`), for `postconf -c`.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = fs::read_to_string(self.dir.path().join("spool/pid/master.pid"))
            .ok()
            .map(|text| text.trim().to_string())
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        let signal = |args: &[&str]| {
            let _ = Command::new("kill")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        if let Some(pid) = &pid {
            // master(8) passes SIGTERM on to its process group, then exits.
            signal(&["-TERM", pid]);
        }
        let deadline = Instant::now() + STOP_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            if let Some(pid) = &pid {
                signal(&["-KILL", "--", &format!("-{pid}")]);
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Whether the installed Postfix knows `smtpd_forbid_bare_newline` (3.5.23, 3.6.13,
/// 3.7.9, 3.8.4, 3.9 and later); `None` (after [`skip`]) when it does not.
fn supported(test: &str) -> Option<()> {
    let postconf = program(test, "postconf")?;
    let known = |name: &str| {
        Command::new(&postconf)
            .args(["-dh", name])
            .stderr(Stdio::null())
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|value| !value.is_empty())
    };
    if known("smtpd_forbid_bare_newline").is_none() {
        let version = known("mail_version").unwrap_or_else(|| "of unknown version".into());
        skip(
            test,
            &format!("Postfix {version} lacks smtpd_forbid_bare_newline (3.7.9 or later needed)"),
        );
        return None;
    }
    Some(())
}

/// Write a configuration file with this mode, dated a minute ago: Postfix waits until
/// main.cf is a few seconds old before it reads it (in case it is being edited), which
/// would add two seconds to every start.
fn write_config(path: &Path, text: &str, mode: u32) {
    let file = fs::File::create(path).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.set_modified(SystemTime::now() - Duration::from_secs(60))
    });
    if let Err(e) = file {
        panic!("write {}: {e}", path.display());
    }
    set_mode(path, mode);
}

/// main.cf: the fixture's parameters, then [`PostfixOptions::extra`] replacing or adding.
fn main_cf(root: &Path, port: u16, options: &PostfixOptions, auth: bool) -> String {
    let r = root.display();
    let domain = Postfix::DOMAIN;
    let outside = "error:5.7.1 this test fixture delivers only to its own domain";
    let mut params: Vec<(String, String)> = [
        ("compatibility_level", "3.6".to_string()),
        ("queue_directory", format!("{r}/spool")),
        ("data_directory", format!("{r}/data")),
        ("meta_directory", "/etc/postfix".to_string()),
        ("mail_owner", "postfix".to_string()),
        ("setgid_group", "postdrop".to_string()),
        ("multi_instance_name", format!("postfix-mailproto-{port}")),
        ("syslog_name", format!("postfix-mailproto-{port}")),
        ("maillog_file", format!("{r}/maillog")),
        ("maillog_file_prefixes", format!("{r}")),
        ("inet_interfaces", "loopback-only".to_string()),
        ("inet_protocols", "ipv4".to_string()),
        ("myhostname", domain.to_string()),
        ("mydomain", domain.to_string()),
        ("myorigin", domain.to_string()),
        ("mydestination", String::new()),
        ("mynetworks", "127.0.0.0/8".to_string()),
        ("relay_domains", String::new()),
        ("relayhost", String::new()),
        ("alias_maps", String::new()),
        ("alias_database", String::new()),
        ("local_recipient_maps", String::new()),
        ("local_transport", outside.to_string()),
        ("default_transport", outside.to_string()),
        ("relay_transport", outside.to_string()),
        ("virtual_mailbox_domains", domain.to_string()),
        ("virtual_mailbox_maps", format!("regexp:{r}/etc/mailboxes")),
        ("virtual_transport", "maildir".to_string()),
        ("maildir_destination_recipient_limit", "1".to_string()),
        ("biff", "no".to_string()),
        ("append_dot_mydomain", "no".to_string()),
        ("readme_directory", "no".to_string()),
        ("smtputf8_enable", "yes".to_string()),
        // Header rewriting as for a remote client: no From:, Date:, Message-ID: added.
        ("local_header_rewrite_clients", String::new()),
        ("smtpd_peername_lookup", "no".to_string()),
        ("smtpd_forbid_bare_newline", "yes".to_string()),
        ("smtpd_forbid_bare_newline_exclusions", String::new()),
        ("smtpd_error_sleep_time", "0".to_string()),
        ("smtpd_soft_error_limit", "1000".to_string()),
        ("smtpd_hard_error_limit", "1000".to_string()),
        ("smtpd_junk_command_limit", "1000".to_string()),
        ("smtpd_client_connection_rate_limit", "0".to_string()),
        ("smtpd_client_connection_count_limit", "0".to_string()),
        ("in_flow_delay", "0".to_string()),
        (
            "smtpd_relay_restrictions",
            "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination".to_string(),
        ),
        (
            "smtpd_recipient_restrictions",
            format!("check_recipient_access texthash:{r}/etc/recipient_access"),
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    if options.tls.is_some() {
        params.extend([
            ("smtpd_tls_security_level".to_string(), "may".to_string()),
            (
                "smtpd_tls_chain_files".to_string(),
                format!("{r}/etc/key.pem, {r}/etc/cert.pem"),
            ),
            ("smtpd_tls_loglevel".to_string(), "1".to_string()),
        ]);
    } else {
        params.push(("smtpd_tls_security_level".to_string(), "none".to_string()));
    }
    if auth {
        params.extend([
            ("smtpd_sasl_auth_enable".to_string(), "yes".to_string()),
            ("smtpd_sasl_type".to_string(), "dovecot".to_string()),
            ("smtpd_sasl_path".to_string(), format!("{r}/auth/sasl")),
            ("smtpd_tls_auth_only".to_string(), "no".to_string()),
        ]);
    }
    for (name, value) in &options.extra {
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1.clone_from(value),
            None => params.push((name.clone(), value.clone())),
        }
    }
    params
        .iter()
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect()
}

/// master.cf: Debian's services, chroot off, smtpd on `127.0.0.1:port` only.
fn master_cf(port: u16, deliver: &Path) -> String {
    let services = [
        ("pickup", "unix", "n", "-", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "-", "300", "1", "qmgr"),
        ("tlsmgr", "unix", "-", "-", "1000?", "1", "tlsmgr"),
        ("rewrite", "unix", "-", "-", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "-", "0", "bounce"),
        ("verify", "unix", "-", "-", "-", "1", "verify"),
        ("flush", "unix", "n", "-", "1000?", "0", "flush"),
        ("proxymap", "unix", "-", "-", "-", "-", "proxymap"),
        ("proxywrite", "unix", "-", "-", "-", "1", "proxymap"),
        ("smtp", "unix", "-", "-", "-", "-", "smtp"),
        ("relay", "unix", "-", "-", "-", "-", "smtp"),
        ("showq", "unix", "n", "-", "-", "-", "showq"),
        ("error", "unix", "-", "-", "-", "-", "error"),
        ("retry", "unix", "-", "-", "-", "-", "error"),
        ("discard", "unix", "-", "-", "-", "-", "discard"),
        ("local", "unix", "-", "n", "-", "-", "local"),
        ("virtual", "unix", "-", "n", "-", "-", "virtual"),
        ("lmtp", "unix", "-", "-", "-", "-", "lmtp"),
        ("anvil", "unix", "-", "-", "-", "1", "anvil"),
        ("scache", "unix", "-", "-", "-", "1", "scache"),
        ("postlog", "unix-dgram", "n", "-", "-", "1", "postlogd"),
    ];
    let deliver = deliver.display();
    let mut config = format!(
        "# service type private unpriv chroot wakeup maxproc command\n\
         127.0.0.1:{port} inet n - n - - smtpd\n"
    );
    for (name, kind, private, unpriv, wakeup, maxproc, command) in services {
        let _ = writeln!(
            config,
            "{name} {kind} {private} {unpriv} n {wakeup} {maxproc} {command}"
        );
    }
    let _ = writeln!(
        config,
        "maildir unix - n n - - pipe\n  flags=DRu user={MAILBOX_OWNER} argv={deliver} ${{user}}"
    );
    config
}

/// The delivery agent of the `maildir` transport, pipe(8) running it as
/// [`MAILBOX_OWNER`] with the lower-cased local part: the message on standard input goes
/// into `<base>/<local part>/tmp`, then `new` (the Maildir protocol). Exit codes are
/// sysexits(3): 67 (no such user), 75 (try again).
fn deliver_sh(base: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         case \"$1\" in ''|.*|*/*) echo \"no mailbox for $1\"; exit 67;; esac\n\
         umask 022\n\
         dir='{}'/\"$1\"\n\
         mkdir -p \"$dir/tmp\" \"$dir/new\" \"$dir/cur\" || exit 75\n\
         name=\"$(date +%s.%N).P$$.{}\"\n\
         cat > \"$dir/tmp/$name\" || {{ rm -f \"$dir/tmp/$name\"; exit 75; }}\n\
         mv \"$dir/tmp/$name\" \"$dir/new/$name\" || exit 75\n",
        base.display(),
        Postfix::DOMAIN
    )
}

/// Dovecot with only its auth service, listening on `auth/sasl` for Postfix's smtpd, for
/// these users. No auth penalty (anvil's `anvil-auth-penalty` is closed), so a success
/// after a failure is answered at once; a failure still takes up to half a second (the
/// period of Dovecot's failure flush). `None` (after [`skip`]) when Dovecot is missing or
/// does not come up.
fn start_auth(test: &str, root: &Path, users: &[(String, String)]) -> Option<Reaped> {
    let binary = program(test, "dovecot")?;
    let auth = root.join("auth");
    fs::create_dir_all(auth.join("run")).expect("create the auth directory");
    set_mode(&auth, 0o755);
    let passwd: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{{PLAIN}}{p}\n"))
        .collect();
    fs::write(auth.join("passwd"), passwd).expect("write the auth passwd file");
    set_mode(&auth.join("passwd"), 0o644);
    let a = auth.display();
    let name = auth
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = format!(
        "base_dir = {a}/run\nstate_dir = {a}/run\ninstance_name = mailproto-auth-{name}\n\
         protocols = none\nlog_path = {a}/dovecot.log\nssl = no\n\
         disable_plaintext_auth = no\nauth_mechanisms = plain login\nauth_failure_delay = 0\n\
         first_valid_uid = 1\n\
         default_internal_user = dovecot\ndefault_internal_group = dovecot\n\
         default_login_user = dovenull\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {a}/passwd\n}}\n\
         userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={a}/home/%u\n}}\n\
         service auth {{\n  unix_listener {a}/sasl {{\n    mode = 0666\n  }}\n}}\n\
         service anvil {{\n  chroot =\n  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n"
    );
    fs::write(auth.join("dovecot.conf"), config).expect("write the auth dovecot.conf");
    let err = fs::File::create(auth.join("dovecot.err")).expect("create dovecot.err");
    let child = Command::new(binary)
        .arg("-F")
        .arg("-c")
        .arg(auth.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn();
    let mut child = match child {
        Ok(c) => Reaped(c),
        Err(e) => {
            skip(test, &format!("dovecot (auth) did not start: {e}"));
            return None;
        }
    };
    let deadline = Instant::now() + START_LIMIT;
    while !auth.join("sasl").exists() {
        let exited = matches!(child.0.try_wait(), Ok(Some(_)));
        if exited || Instant::now() >= deadline {
            let log: String = ["dovecot.err", "dovecot.log"]
                .map(|name| fs::read_to_string(auth.join(name)).unwrap_or_default())
                .concat();
            skip(
                test,
                &format!("dovecot's auth service is not listening: {log}"),
            );
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child)
}
