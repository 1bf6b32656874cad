//! The users of `serve` and how their passwords are stored.
//!
//! Users come from `--user NAME:PASSWORD` (quick local use) and from a users file in
//! Dovecot's passwd-file form, one `NAME:PASSWORD` line each, `#` comments. The password
//! field may carry a Dovecot scheme prefix:
//!
//! - `{ARGON2ID}$argon2id$v=19$m=...` (also `{ARGON2I}`): Argon2, RFC 9106, as a PHC
//!   string (what `mailproto passwd` writes by default);
//! - `{SHA512-CRYPT}$6$...` (also `{SHA256-CRYPT}`): SHA-crypt as glibc's `crypt(3)`;
//! - `{PLAIN}text` (also `{CLEAR}`, `{CLEARTEXT}`) and a bare `text`: plaintext.
//!
//! A `{SCHEME}` field ends at the next `:` (Dovecot's further fields, uid, gid, home,
//! ..., are ignored); a bare plaintext field is the rest of the line, as before.
//!
//! Checking a hash is deliberately slow. It runs where the login is decided: a session
//! thread (`--runtime std`) or the blocking pool the engine's `Offload` and
//! `OffloadBackend` run handlers on (smol, tokio), never an executor thread; and at most
//! one check per CPU runs at once, the others queue ([`Permits`]).

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Condvar, Mutex, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use mailproto_core::sasl::Credentials;
use mailproto_core::secret::Secret;
use mailproto_std::pop3_server::LoginAttempt;
use sha_crypt::ShaCrypt;

/// A stored password.
pub enum Stored {
    /// The password itself: every mechanism can use it (CRAM-MD5 and APOP too).
    Plain(Secret<String>),
    /// An Argon2 PHC string.
    Argon2(String),
    /// A SHA-crypt string (`$5$` or `$6$`).
    ShaCrypt(String),
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stored::Plain(_) => "Plain(..)",
            Stored::Argon2(_) => "Argon2(..)",
            Stored::ShaCrypt(_) => "ShaCrypt(..)",
        })
    }
}

/// The schemes `mailproto passwd` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    /// `{ARGON2ID}`: Argon2id with the argon2 crate's defaults (19 MiB, 2 passes).
    Argon2id,
    /// `{SHA512-CRYPT}`: SHA-512-crypt with 5,000 rounds, as glibc and Dovecot.
    Sha512Crypt,
}

impl Stored {
    /// Parse a password field (see the module docs). A `{SCHEME}` value is checked for
    /// form here, so a broken users file fails at start, not at the first login.
    pub fn parse(field: &str) -> Result<Stored, String> {
        let Some(rest) = field.strip_prefix('{') else {
            return Ok(Stored::Plain(Secret::new(field.to_string())));
        };
        let (scheme, value) = rest
            .split_once('}')
            .ok_or("a `{` with no `}`: write {SCHEME}value")?;
        let value = value.split(':').next().unwrap_or("");
        let scheme = scheme.to_ascii_uppercase();
        let want = |prefix: &str| {
            if value.starts_with(prefix) {
                Ok(())
            } else {
                Err(format!("{{{scheme}}} needs a value starting with {prefix}"))
            }
        };
        match scheme.as_str() {
            "PLAIN" | "CLEAR" | "CLEARTEXT" => Ok(Stored::Plain(Secret::new(value.to_string()))),
            "ARGON2ID" | "ARGON2I" => {
                want(&format!("${}$", scheme.to_ascii_lowercase()))?;
                PasswordHash::new(value).map_err(|e| format!("{{{scheme}}}: {e}"))?;
                Ok(Stored::Argon2(value.to_string()))
            }
            "SHA512-CRYPT" | "SHA256-CRYPT" => {
                want(if scheme == "SHA512-CRYPT" {
                    "$6$"
                } else {
                    "$5$"
                })?;
                sha_crypt::PasswordHashRef::new(value).map_err(|e| format!("{{{scheme}}}: {e}"))?;
                Ok(Stored::ShaCrypt(value.to_string()))
            }
            other => Err(format!(
                "unknown scheme {{{other}}}: ARGON2ID, ARGON2I, SHA512-CRYPT, SHA256-CRYPT, \
                 PLAIN"
            )),
        }
    }

    /// Whether the password itself is stored (CRAM-MD5 and APOP need it).
    pub fn is_plaintext(&self) -> bool {
        matches!(self, Stored::Plain(_))
    }

    /// Whether `password` is the stored one. Slow for the hashed forms.
    fn check(&self, password: &str) -> bool {
        match self {
            Stored::Plain(secret) => {
                LoginAttempt::Password { user: "", password }.verify(secret.expose())
            }
            Stored::Argon2(phc) => PasswordHash::new(phc).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            }),
            Stored::ShaCrypt(mcf) => ShaCrypt::default()
                .verify_password(password.as_bytes(), mcf.as_str())
                .is_ok(),
        }
    }
}

/// A fresh hash of `password` in `scheme`, with its `{SCHEME}` prefix.
pub fn hash(password: &str, scheme: Scheme) -> Result<String, String> {
    match scheme {
        Scheme::Argon2id => Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| format!("{{ARGON2ID}}{h}"))
            .map_err(|e| format!("Argon2id: {e}")),
        Scheme::Sha512Crypt => ShaCrypt::SHA512
            .hash_password(password.as_bytes())
            .map(|h| format!("{{SHA512-CRYPT}}{}", h.as_str()))
            .map_err(|e| format!("SHA512-CRYPT: {e}")),
    }
}

/// Whether `name` can be a user: letters, digits and `._-+` (it names a directory).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

/// A users-file line split at its first `:`: the name and the rest. `None` for blank
/// lines and comments.
pub fn split_line(line: &str) -> Option<Result<(&str, &str), String>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    Some(
        line.split_once(':')
            .ok_or_else(|| format!("`{}` is not NAME:PASSWORD", redacted(line))),
    )
}

/// A line shown in an error without what may be a password.
fn redacted(line: &str) -> String {
    let name: String = line.chars().take_while(|c| *c != ':').take(64).collect();
    if name.len() < line.len() {
        format!("{name}:...")
    } else {
        name
    }
}

/// The users of a server and their stored passwords.
#[derive(Debug)]
pub struct Users {
    entries: HashMap<String, Stored>,
    permits: Permits,
}

impl Users {
    /// The users of `--user NAME:PASSWORD` options (plaintext) and of a users file;
    /// errors name the file and line.
    pub fn load(options: &[String], file: Option<&Path>) -> Result<Users, String> {
        let mut entries = HashMap::new();
        let mut add = |name: &str, stored: Stored| -> Result<(), String> {
            if !valid_name(name) {
                return Err(format!(
                    "user name `{name}` may hold only letters, digits and ._-+"
                ));
            }
            entries.insert(name.to_string(), stored);
            Ok(())
        };
        for option in options {
            let (name, password) = option
                .split_once(':')
                .ok_or_else(|| format!("--user `{}` is not NAME:PASSWORD", redacted(option)))?;
            add(name, Stored::Plain(Secret::new(password.to_string())))?;
        }
        if let Some(path) = file {
            let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for (n, line) in text.lines().enumerate() {
                let at = |e: String| format!("{} line {}: {e}", path.display(), n + 1);
                let Some(entry) = split_line(line) else {
                    continue;
                };
                let (name, field) = entry.map_err(at)?;
                add(name, Stored::parse(field).map_err(at)?).map_err(at)?;
            }
        }
        Ok(Users {
            entries,
            permits: Permits::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
        })
    }

    /// The user names.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// Whether `name` is a user.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Whether every password is stored as itself, so CRAM-MD5 and APOP (which need it)
    /// can be offered: EHLO and the POP3 greeting come before the user is known.
    pub fn all_plaintext(&self) -> bool {
        self.entries.values().all(Stored::is_plaintext)
    }

    /// Whether `attempt` proves the user's password. A hashed password can be checked
    /// against a password only (USER/PASS, AUTH PLAIN or LOGIN), not a digest (CRAM-MD5,
    /// APOP). An unknown user costs a hash check too, so timing does not tell which
    /// users exist.
    pub fn verify(&self, attempt: &LoginAttempt<'_>) -> bool {
        let password = match attempt {
            LoginAttempt::Password { password, .. } => Some(*password),
            LoginAttempt::Sasl(Credentials::Plain { password, .. }) => {
                Some(password.expose().as_str())
            }
            _ => None,
        };
        match (self.entries.get(attempt.user()), password) {
            (Some(Stored::Plain(secret)), _) => attempt.verify(secret.expose()),
            (Some(stored), Some(password)) => self.slowly(|| stored.check(password)),
            (Some(_), None) => false,
            (None, Some(password)) if !self.all_plaintext() => {
                self.slowly(|| dummy().check(password));
                false
            }
            (None, _) => false,
        }
    }

    /// Run a hash check holding a permit.
    fn slowly(&self, check: impl FnOnce() -> bool) -> bool {
        off_the_executor();
        let _permit = self.permits.acquire();
        check()
    }
}

/// A hash no password matches in practice, checked for unknown users.
fn dummy() -> &'static Stored {
    static DUMMY: OnceLock<Stored> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let phc = hash("mailproto: no such user", Scheme::Argon2id)
            .ok()
            .and_then(|h| h.strip_prefix("{ARGON2ID}").map(String::from))
            .unwrap_or_default();
        Stored::Argon2(phc)
    })
}

/// Checks (in debug builds) that a slow call is not made on an executor thread: a tokio
/// worker has a runtime context, and `serve` names its smol workers.
fn off_the_executor() {
    debug_assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "a password hash checked on a tokio runtime thread"
    );
    debug_assert!(
        std::thread::current().name() != Some(crate::serve::SMOL_WORKER),
        "a password hash checked on a smol executor thread"
    );
}

/// A counting semaphore: at most `n` holders, the others wait in the queue of a
/// condition variable.
#[derive(Debug)]
pub struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held permit, given back on drop.
#[derive(Debug)]
pub struct Permit<'a>(&'a Permits);

impl Permits {
    /// `n` permits (at least one).
    pub fn new(n: usize) -> Permits {
        Permits {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Wait for a permit.
    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn password(user: &'static str, password: &'static str) -> LoginAttempt<'static> {
        LoginAttempt::Password { user, password }
    }

    #[test]
    fn every_scheme_verifies_its_password_only() {
        let argon = hash("s3cret", Scheme::Argon2id).unwrap();
        let sha = hash("s3cret", Scheme::Sha512Crypt).unwrap();
        assert!(argon.starts_with("{ARGON2ID}$argon2id$"), "{argon}");
        assert!(sha.starts_with("{SHA512-CRYPT}$6$"), "{sha}");
        for field in [argon.as_str(), sha.as_str(), "{PLAIN}s3cret", "s3cret"] {
            let stored = Stored::parse(field).unwrap();
            assert!(stored.check("s3cret"), "{field}");
            assert!(!stored.check("s3cret "), "{field}");
            assert!(!stored.check(""), "{field}");
        }
    }

    #[test]
    fn hashes_from_other_tools_verify() {
        // Written by Dovecot 2.3's `doveadm pw -s SHA512-CRYPT -p hunter2` and
        // `doveadm pw -s ARGON2ID -p password`, and by `openssl passwd -6 -salt saltsalt
        // hunter2`.
        for (field, password) in [
            (
                "{SHA512-CRYPT}$6$DYBVItxHiMC3p4nk$hHThosc1YVTLj3esXL3hfg0MUs/iJ/FYGmWpjP18HylzXMI1b.m593XWc9wmeeJs6EMN7rsjg6agaiGPdxY9t0",
                "hunter2",
            ),
            (
                "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$foDagxwpBtdnDvX2Z7e0zQ$tuN7IKMwkzuLU6/iiK3iCeUSIIZDswXXiQBp4dnaAqQ",
                "password",
            ),
            (
                "{SHA512-CRYPT}$6$saltsalt$8iYtNHxjWRl.NF6oNZ5tF.iKFlQREaXBLlSmZKP6dy9l5z3vsooWNW0/GZ6Nej73/TFug6pIPSqbJoCT6dfnj.",
                "hunter2",
            ),
        ] {
            let stored = Stored::parse(field).unwrap();
            assert!(stored.check(password), "{field}");
            assert!(!stored.check("wrong"), "{field}");
        }
    }

    #[test]
    fn dovecot_fields_after_the_hash_are_ignored_and_bad_fields_refused() {
        let stored = Stored::parse("{PLAIN}pw:1000:1000::/home/u").unwrap();
        assert!(stored.check("pw"));
        // A bare plaintext keeps every character, as before.
        assert!(Stored::parse("a:b").unwrap().check("a:b"));
        for (field, why) in [
            ("{MD5}x", "unknown scheme"),
            ("{ARGON2ID}$6$x$y", "$argon2id$"),
            ("{SHA512-CRYPT}nothash", "$6$"),
            ("{PLAIN", "no `}`"),
        ] {
            let e = Stored::parse(field).unwrap_err();
            assert!(e.contains(why), "{field}: {e}");
        }
    }

    #[test]
    fn a_users_file_loads_with_errors_naming_the_line_and_no_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let sha = hash("pw", Scheme::Sha512Crypt).unwrap();
        fs::write(&path, format!("# users\nalice:{sha}\n\nbob:{{PLAIN}}bpw\n")).unwrap();
        let users = Users::load(&["carol:cpw".into()], Some(&path)).unwrap();
        assert!(!users.all_plaintext());
        assert!(users.verify(&password("alice", "pw")));
        assert!(!users.verify(&password("alice", "bpw")));
        assert!(users.verify(&password("bob", "bpw")));
        assert!(users.verify(&password("carol", "cpw")));
        assert!(!users.verify(&password("nobody", "pw")));
        fs::write(&path, "alice:{MD5}topsecret\n").unwrap();
        let e = Users::load(&[], Some(&path)).unwrap_err();
        assert!(e.contains("line 1") && !e.contains("topsecret"), "{e}");
        fs::write(&path, "no colon secret\n").unwrap();
        let e = Users::load(&[], Some(&path)).unwrap_err();
        assert!(e.contains("not NAME:PASSWORD"), "{e}");
    }

    #[test]
    fn digests_need_the_plaintext() {
        let sha = hash("pw", Scheme::Sha512Crypt).unwrap();
        let users = Users::load(&[format!("u:{sha}")], None).unwrap();
        // `--user` values are plaintext, whatever they look like.
        assert!(users.all_plaintext());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        fs::write(&path, format!("u:{sha}\n")).unwrap();
        let users = Users::load(&[], Some(&path)).unwrap();
        let apop = LoginAttempt::Apop {
            user: "u",
            digest: "00",
            timestamp: "<1.2@h>",
        };
        assert!(!users.verify(&apop));
    }

    #[test]
    fn permits_bound_the_holders() {
        let permits = Arc::new(Permits::new(2));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (permits, now, most) = (permits.clone(), now.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _p = permits.acquire();
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert_eq!(*permits.free.lock().unwrap(), 2);
    }
}
