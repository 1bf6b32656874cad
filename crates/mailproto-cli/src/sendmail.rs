//! `mailproto sendmail`: the sendmail-compatible entry point programs expect (cron,
//! git send-email, PHP's mail(), mutt's default): the message on standard input,
//! recipients as arguments or (`-t`) from its header, relayed to one configured server.

use std::io::{self, BufRead};
use std::process::ExitCode;

use clap::Args;
use mailproto_std::core::smtp::{ForwardPath, Mailbox, ReversePath};
use mailproto_std::message::Message;
use mailproto_std::smtp_client::Envelope;
use mailproto_std::transport::{PoolOptions, SmtpConfig, SmtpTransport, Transport};

use crate::exit::{self, Failure};

/// The relay when neither `--server` nor `MAILPROTO_SMTP_URL` names one.
const DEFAULT_RELAY: &str = "smtp://localhost:25?tls=opportunistic";

/// `mailproto sendmail [-t] [-i] [-f FROM] [RECIPIENT...] < message`
#[derive(Debug, Args)]
pub struct SendmailArgs {
    /// Recipients taken from the message's To:, Cc: and Bcc: fields (added to those
    /// given as arguments); Bcc: is removed from what is sent.
    #[arg(short = 't')]
    pub from_headers: bool,
    /// A line holding only a dot does not end the message (read to the end of input).
    #[arg(short = 'i')]
    pub ignore_dots: bool,
    /// The envelope sender (MAIL FROM); default: the message's Sender: or From:, else
    /// `$USER@localhost`.
    #[arg(short = 'f', value_name = "FROM")]
    pub from: Option<String>,
    /// Sendmail options of the form `-oX` (`-oi` is `-i`; the others are accepted and
    /// ignored).
    #[arg(short = 'o', value_name = "OPTION")]
    pub options: Vec<String>,
    /// The sender's full name (accepted and ignored: the message's From: is used).
    #[arg(short = 'F', value_name = "NAME")]
    pub full_name: Option<String>,
    /// The relay as a URL (`smtp://user:password@host:587`, `smtps://…`,
    /// `smtp://host:25?tls=none`); default `$MAILPROTO_SMTP_URL`, else
    /// `smtp://localhost:25?tls=opportunistic`.
    #[arg(long, value_name = "URL", env = "MAILPROTO_SMTP_URL", default_value = DEFAULT_RELAY)]
    pub server: String,
    /// The recipients.
    pub recipients: Vec<String>,
}

/// Run `mailproto sendmail`.
pub fn run(args: SendmailArgs) -> crate::CliResult {
    let ignore_dots = args.ignore_dots || args.options.iter().any(|o| o == "i");
    let bytes = read_message(io::stdin().lock(), ignore_dots)
        .map_err(|e| Failure::new(exit::NO_INPUT, format!("reading the message: {e}")))?;
    let from_header = Message::from_bytes(bytes.clone()).ok();
    let sender = match &args.from {
        Some(from) => mailbox(from)?.map_or(ReversePath::Null, ReversePath::Mailbox),
        None => match &from_header {
            Some(m) => m.envelope().from.clone(),
            None => {
                let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
                ReversePath::Mailbox(mailbox(&format!("{user}@localhost"))?.ok_or("no sender")?)
            }
        },
    };
    let mut recipients = Vec::new();
    if args.from_headers {
        let derived = Message::from_bytes(bytes.clone())
            .map_err(|e| Failure::new(exit::DATA, format!("-t: {e}")))?;
        recipients.extend(derived.envelope().recipients.iter().map(|(r, _)| r.clone()));
    }
    for r in &args.recipients {
        let to = mailbox(r)?.ok_or_else(|| Failure::new(exit::USAGE, "<> is no recipient"))?;
        let to = ForwardPath::Mailbox(to);
        if !recipients.contains(&to) {
            recipients.push(to);
        }
    }
    if recipients.is_empty() {
        return Err(Failure::new(exit::USAGE, "no recipients (give them, or -t)").into());
    }
    let message = Message::new(Envelope::new(sender, recipients), bytes);
    let config = SmtpConfig::from_url(&args.server)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?
        .with_pool(PoolOptions::none());
    let relay = format!("{}:{}", config.host, config.port);
    let report = SmtpTransport::new(config)
        .send(&message)
        .map_err(|e| Failure::client(&relay, &e))?;
    for r in report.recipients.iter().filter(|r| r.reply.is_err()) {
        if let Err(reply) = &r.reply {
            eprintln!("mailproto: {}: refused {reply}", r.recipient);
        }
    }
    Ok(if report.all_accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// An address from the command line (`<>` is the null sender).
fn mailbox(text: &str) -> Result<Option<Mailbox>, Failure> {
    let bare = text.trim().trim_start_matches('<').trim_end_matches('>');
    if bare.is_empty() {
        return Ok(None);
    }
    Mailbox::parse(bare, true)
        .map(Some)
        .map_err(|e| Failure::new(exit::USAGE, format!("{text:?}: {e}")))
}

/// The message from `input`: to its end, or (unless `ignore_dots`) to a line holding
/// only a dot, as sendmail reads it.
fn read_message(mut input: impl BufRead, ignore_dots: bool) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if ignore_dots {
        input.read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(bytes);
        }
        if line == b".\n" || line == b".\r\n" {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_dot_ends_the_message_unless_told_otherwise() {
        let input = b"Subject: x\n\nline\n.\nafter\n";
        assert_eq!(
            read_message(&input[..], false).unwrap(),
            b"Subject: x\n\nline\n"
        );
        assert_eq!(read_message(&input[..], true).unwrap(), input);
    }
}
