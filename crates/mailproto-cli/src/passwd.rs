//! `mailproto passwd FILE USER`: add a user to a users file, or change their password.
//!
//! The password comes from `MAILPROTO_PASSWORD` or is typed twice at a prompt, never
//! from the command line. It is stored hashed (`{ARGON2ID}` by default). The file is
//! rewritten through a synced temporary file renamed over it, mode 0600, so a crash
//! leaves the old file or the new one and other users' lines keep their bytes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mailproto_core::secret::Secret;

use crate::CliResult;
use crate::secret::PASSWORD_ENV;
use crate::users::{self, Scheme};

/// Options of `mailproto passwd`.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// The users file (created if missing), as `serve --users` reads it.
    pub file: PathBuf,
    /// The user to add, or whose password to change.
    pub user: String,
    /// How to store the password: argon2id (Dovecot's {ARGON2ID}) or sha512-crypt
    /// ({SHA512-CRYPT}, for tools that know only crypt(3) hashes).
    #[arg(long, value_enum, default_value_t = Scheme::Argon2id)]
    pub scheme: Scheme,
}

/// Run `mailproto passwd`.
pub fn run(args: PasswdArgs) -> CliResult {
    if !users::valid_name(&args.user) {
        return Err(format!(
            "user name `{}` may hold only letters, digits and ._-+",
            args.user
        )
        .into());
    }
    let password = new_password(&args.user)?;
    if password.expose().is_empty() {
        return Err("the password is empty".into());
    }
    let hashed = users::hash(password.expose(), args.scheme)?;
    let changed = set_password(&args.file, &args.user, &hashed)?;
    eprintln!(
        "mailproto passwd: {} {} in {}",
        if changed { "changed" } else { "added" },
        args.user,
        args.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The new password: `MAILPROTO_PASSWORD`, else typed twice without echo.
fn new_password(user: &str) -> Result<Secret<String>, String> {
    if let Some(value) = std::env::var_os(PASSWORD_ENV) {
        return value
            .into_string()
            .map(Secret::new)
            .map_err(|_| format!("{PASSWORD_ENV} is not valid UTF-8"));
    }
    let ask = |prompt: String| {
        rpassword::prompt_password(prompt)
            .map(Secret::new)
            .map_err(|e| format!("no password: set {PASSWORD_ENV} (no terminal to ask on: {e})"))
    };
    let first = ask(format!("New password for {user}: "))?;
    let again = ask(format!("Retype the password for {user}: "))?;
    if first.expose() != again.expose() {
        return Err("the passwords differ".into());
    }
    Ok(first)
}

/// Put `user:hashed` in `file`: replace the password field of the user's line (keeping
/// Dovecot's fields after it) or append a line. Returns whether the user was there.
pub fn set_password(file: &Path, user: &str, hashed: &str) -> Result<bool, String> {
    let at = |e: io::Error| format!("{}: {e}", file.display());
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(at(e)),
    };
    let mut out = String::with_capacity(text.len() + hashed.len() + user.len() + 2);
    let mut found = false;
    for line in text.lines() {
        match users::split_line(line) {
            Some(Ok((name, field))) if name == user && !found => {
                found = true;
                out.push_str(user);
                out.push(':');
                out.push_str(hashed);
                // Dovecot's passwd-file fields after a `{SCHEME}` password stay.
                if field.starts_with('{')
                    && let Some((_, extra)) = field.split_once(':')
                {
                    out.push(':');
                    out.push_str(extra);
                }
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    if !found {
        out.push_str(&format!("{user}:{hashed}\n"));
    }
    replace(file, out.as_bytes()).map_err(at)?;
    Ok(found)
}

/// Write `data` to a private temporary file beside `file`, sync it, rename it over
/// `file` and sync the directory.
fn replace(file: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600.
    let mut temp = tempfile::Builder::new()
        .prefix(".mailproto-passwd-")
        .tempfile_in(dir)?;
    temp.write_all(data)?;
    temp.as_file().sync_all()?;
    temp.persist(file).map_err(|e| e.error)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Users;
    use mailproto_std::pop3_server::LoginAttempt;

    #[test]
    fn adds_then_changes_keeping_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        fs::write(&file, "# team\nbob:{PLAIN}b:1000:1000::/home/bob\n").unwrap();
        let first = users::hash("one", Scheme::Sha512Crypt).unwrap();
        assert!(!set_password(&file, "alice", &first).unwrap());
        let second = users::hash("two", Scheme::Sha512Crypt).unwrap();
        assert!(set_password(&file, "alice", &second).unwrap());
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("# team\nbob:{{PLAIN}}b:1000:1000::/home/bob\nalice:{second}\n")
        );
        let users = Users::load(&[], Some(&file)).unwrap();
        let login = |user, password| LoginAttempt::Password { user, password };
        assert!(users.verify(&login("alice", "two")));
        assert!(!users.verify(&login("alice", "one")));
        assert!(users.verify(&login("bob", "b")));
        // Bob's Dovecot fields survive a change of his password.
        assert!(set_password(&file, "bob", &first).unwrap());
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(&format!("bob:{first}:1000:1000::/home/bob\n")),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }
}
