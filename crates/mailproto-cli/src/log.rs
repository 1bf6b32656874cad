//! What the commands print about what happens, through `tracing`: the machines' own
//! session transcripts (`C:` / `S:` lines, credentials masked, message contents left
//! out: see the core's `transcript` module) and the library's events, with RFC 3339
//! timestamps, as text or JSON.
//!
//! `send` and `fetch` print their session's transcript with `-v` as bare `C:` / `S:`
//! lines on standard error, and the library's debug events too with `-vv`; warnings are
//! always printed. `serve` logs warnings (failed logins, injection attempts, limits) by
//! default, `-v` adds each session's transcript and the info events, `-vv` the debug
//! events, `-q` nothing; `--log-format json` makes one JSON object a line.

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, filter::LevelFilter};

use mailproto_std::trace::TRANSCRIPT;

/// The target of `serve`'s own log lines (deliveries, logins, failure rules that
/// fired): shown at info level without `-v`, silenced by `-q`.
pub const SERVE: &str = "mailproto::serve";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-07T15:58:02.084767Z  WARN message key=value`.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `spans`).
    Json,
}

/// Where transcript lines go, for a client command.
type Sink = Box<dyn Fn(String) + Send + Sync>;

/// Picks the transcript events out of the library's events and hands their line to a
/// sink: the client sessions' only (`clients_only`: those outside a server session's
/// span), or all.
struct Transcripts {
    sink: Sink,
    clients_only: bool,
}

/// The `message` and `line` fields of an event.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    line: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields {
    fn record(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = Some(value),
            "line" => self.line = Some(value),
            _ => {}
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Transcripts {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != TRANSCRIPT {
            return;
        }
        if self.clients_only && ctx.event_span(event).is_some() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message.as_deref() == Some("transcript")
            && let Some(line) = fields.line
        {
            (self.sink)(line);
        }
    }
}

/// The text or JSON layer on standard error at `level`.
fn events<S>(level: LevelFilter, format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_target(false)
            .with_filter(level)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_filter(level)
            .boxed(),
    }
}

/// For `send` and `fetch`: warnings always; with `verbose` ≥ 1 the session's
/// transcript as bare lines on standard error; with ≥ 2 the debug events too.
pub fn init_client(verbose: u8) {
    let transcripts = (verbose >= 1).then(|| Transcripts {
        sink: Box::new(|line| eprintln!("{line}")),
        clients_only: true,
    });
    let level = if verbose >= 2 {
        LevelFilter::DEBUG
    } else {
        LevelFilter::WARN
    };
    let _ = tracing_subscriber::registry()
        .with(transcripts)
        .with(events(level, LogFormat::Text))
        .try_init();
}

/// For `serve`: nothing when `quiet`; else warnings, with `verbose` ≥ 1 the info events
/// and every session's transcript (as events in the session's span), with ≥ 2 the
/// debug events.
pub fn init_server(quiet: bool, verbose: u8, format: LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::OFF,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, _) => LevelFilter::DEBUG,
    };
    // The transcript events are at debug: let them through at -v.
    let transcripts = (!quiet && verbose == 1).then(|| {
        events(LevelFilter::DEBUG, format).with_filter(tracing_subscriber::filter::filter_fn(
            |meta| meta.target() == TRANSCRIPT,
        ))
    });
    // `serve`'s own lines are info events: let them through without -v too.
    let serve_lines = (!quiet && verbose == 0).then(|| {
        events(LevelFilter::INFO, format).with_filter(tracing_subscriber::filter::filter_fn(
            |meta| meta.target() == SERVE,
        ))
    });
    let _ = tracing_subscriber::registry()
        .with(transcripts)
        .with(serve_lines)
        .with(events(level, format))
        .try_init();
}

/// For the demo: the client sessions' transcript lines are appended to whatever
/// `lines` holds at the time (the demo swaps it between its SMTP and POP3 sessions).
pub fn capture_clients(lines: Arc<Mutex<Vec<String>>>) {
    let transcripts = Transcripts {
        sink: Box::new(move |line| {
            lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }),
        clients_only: true,
    };
    let _ = tracing_subscriber::registry()
        .with(transcripts)
        .with(events(LevelFilter::WARN, LogFormat::Text))
        .try_init();
}
