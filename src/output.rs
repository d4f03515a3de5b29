//! What recon shows: tables on stdout, JSON on stdout with --json, and everything else
//! (logs, warnings, progress) on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
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
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
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
