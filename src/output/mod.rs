//! What recon shows: tables on stdout, JSON on stdout with --json, and everything else
//! (logs, warnings, progress) on stderr.

pub mod wording;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tabled::Table;
use tabled::settings::object::Columns;
use tabled::settings::{Style, Width};

pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, _) => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}

/// An error and its causes on one line, without repeating a cause its parent already quotes.
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    crate::out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Print a line on stdout, the one place recon writes its result. A closed pipe
/// (`recon history | head -1`) ends the output quietly: the rest is dropped, the command
/// runs to its end (so a pushing run is never left half-recorded), and the exit code is
/// the command's own, as ripgrep and zoxide do.
#[macro_export]
macro_rules! out {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);

#[doc(hidden)]
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let mut slot = STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }
    }
}

/// A failure to write stdout other than a closed pipe (a full disk behind `>`), if any:
/// `main` reports it, since the result the user asked for is incomplete.
pub fn stdout_error() -> Option<String> {
    STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A table with a style that reads well in a terminal and in cron mail alike.
pub fn table<I, T>(rows: I) -> String
where
    I: IntoIterator<Item = T>,
    T: tabled::Tabled,
{
    let mut table = Table::new(rows);
    table.with(Style::sharp());
    // The last column holds free text (notes, reasons): wrap it rather than widen the table.
    table.modify(Columns::last(), Width::wrap(NOTE_WIDTH).keep_words(true));
    table.to_string()
}

const NOTE_WIDTH: usize = 60;

/// A reason for a non-zero exit: never hidden by `-q`.
pub fn failure(message: &str) {
    eprintln!("recon: failed: {message}");
}

pub fn warn(quiet: bool, message: &str) {
    if !quiet {
        eprintln!("recon: warning: {message}");
    }
}

/// A progress bar on stderr when it is a terminal and progress is wanted; hidden otherwise.
pub fn progress(enabled: bool, length: usize, message: &str) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg:<28} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}
