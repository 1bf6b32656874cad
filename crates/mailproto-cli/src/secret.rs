//! Where a password comes from: a file, the `MAILPROTO_PASSWORD` environment variable, or
//! a prompt on the terminal.
//!
//! The password is held in a [`Secret`] from the moment it is read (redacted in `Debug`,
//! zeroed when dropped). It is never taken from the command line, where other users of
//! the machine could read it in the process list.

use std::fs;
use std::path::PathBuf;

use clap::Args;
use mailproto_core::secret::Secret;

/// The environment variable holding a password.
pub const PASSWORD_ENV: &str = "MAILPROTO_PASSWORD";

/// Password options shared by `send` and `fetch`.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of this file (else MAILPROTO_PASSWORD, else
    /// a prompt on the terminal).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

impl PasswordArgs {
    /// The password of `user` at `server`: the first line of `--password-file`, else
    /// `MAILPROTO_PASSWORD`, else typed at a prompt on the terminal without echo.
    pub fn resolve(&self, user: &str, server: &str) -> Result<Secret<String>, String> {
        if let Some(path) = &self.password_file {
            let text = fs::read_to_string(path)
                .map(Secret::new)
                .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
            return Ok(first_line(text.expose()));
        }
        if let Some(value) = std::env::var_os(PASSWORD_ENV) {
            return value
                .into_string()
                .map(Secret::new)
                .map_err(|_| format!("{PASSWORD_ENV} is not valid UTF-8"));
        }
        rpassword::prompt_password(format!("Password for {user} at {server}: "))
            .map(Secret::new)
            .map_err(|e| {
                format!(
                    "no password: give --password-file or set {PASSWORD_ENV} \
                     (no terminal to ask on: {e})"
                )
            })
    }
}

/// The first line of a password file, without its line end.
fn first_line(text: &str) -> Secret<String> {
    let line = text.split('\n').next().unwrap_or("");
    Secret::new(line.strip_suffix('\r').unwrap_or(line).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_of_the_file_is_the_password() {
        assert_eq!(first_line("pw\r\nrest\n").expose(), "pw");
        assert_eq!(first_line("pw\n").expose(), "pw");
        assert_eq!(first_line("pw with spaces ").expose(), "pw with spaces ");
        assert_eq!(first_line("").expose(), "");
    }

    #[test]
    fn a_password_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        fs::write(&path, "from-file\nignored\n").unwrap();
        let args = PasswordArgs {
            password_file: Some(path),
        };
        assert_eq!(args.resolve("u", "s").unwrap().expose(), "from-file");
        let missing = PasswordArgs {
            password_file: Some(dir.path().join("nope")),
        };
        let err = missing.resolve("u", "s").unwrap_err();
        assert!(err.contains("password file"), "{err}");
    }
}
