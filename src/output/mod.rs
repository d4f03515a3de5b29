//! What recon shows: tables on stdout, JSON on stdout with --json, and everything else
//! (logs, warnings, progress) on stderr.

pub mod held_table;
pub mod plan_table;
pub mod wording;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tabled::Table;
use tabled::settings::Style;
use tabled::settings::object::Columns;
use wording::Wording;

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
        // Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
        .with_ansi(
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
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

/// A table with a style that reads well in a terminal and in cron mail alike, fitted to the
/// terminal's width (or `COLUMNS`): the widest columns, the free text (names, notes), wrap at
/// word boundaries; narrow ones (actions, quantities, money) keep their width. Output to a
/// pipe or a file is not wrapped, unless `COLUMNS` says how wide.
pub fn table<I, T>(rows: I, w: Wording) -> String
where
    I: IntoIterator<Item = T>,
    T: tabled::Tabled,
{
    let rows: Vec<T> = rows.into_iter().collect();
    let (natural, words) = column_widths(&rows, w);
    let mut table = Table::new(&rows);
    let header = move |h: &str| header_word(w, h);
    table.modify(tabled::settings::object::Rows::first(), tabled::settings::Format::content(header));
    match target_width() {
        Some(width) if !fits(&natural, width) => {
            let fitted = fitted_widths(&natural, &words, width, BLANK_CHROME);
            // Too wide for the terminal: no borders (two spaces between columns), then the
            // free-text columns wrap between words (a name or an id is never cut; a table
            // whose words cannot fit is wider than the terminal rather than cut).
            table.with(Style::empty());
            for (column, fitted) in fitted.into_iter().enumerate() {
                if fitted < natural[column] {
                    let wrap = move |text: &str| {
                        text.lines().map(|l| wrap_to(l, 0, fitted)).collect::<Vec<_>>().join("\n")
                    };
                    table.modify(Columns::one(column), tabled::settings::Format::content(wrap));
                }
            }
            // Without borders, the padding after the last column is only trailing spaces.
            table.to_string().lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
        }
        _ => {
            table.with(Style::sharp());
            table.to_string()
        }
    }
}

/// Rows of cells as aligned text lines, two spaces between columns; `right[i]` aligns
/// column i to the right (numbers). Trailing spaces are trimmed.
pub fn columns(rows: &[Vec<String>], right: &[bool]) -> Vec<String> {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                if right.get(i).copied().unwrap_or(false) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// `text` wrapped at word boundaries to the terminal's width (or `COLUMNS`), later lines
/// indented by `indent` spaces; unchanged for a pipe.
pub fn wrapped(text: &str, indent: usize) -> String {
    match target_width() {
        Some(width) => wrap_to(text, indent, width),
        None => text.to_string(),
    }
}

/// `text` wrapped at spaces to `width` columns, later lines indented by `indent`; a word
/// longer than a line is never cut (an id stays copyable).
fn wrap_to(text: &str, indent: usize, width: usize) -> String {
    // A text that starts indented keeps its indent on its first line.
    let body = text.trim_start_matches(' ');
    let mut out = " ".repeat(text.len() - body.len());
    let mut line_len = out.len();
    let mut first = true;
    for word in body.split(' ') {
        let len = word.chars().count();
        if line_len > indent && line_len + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            line_len = indent;
        } else if !first {
            out.push(' ');
            line_len += 1;
        }
        first = false;
        out.push_str(word);
        line_len += len;
    }
    out
}

/// Whether the rows fit the terminal (or `COLUMNS`) as a bordered table; always for a pipe.
pub fn table_fits<T: tabled::Tabled>(rows: &[T], w: Wording) -> bool {
    target_width().is_none_or(|width| fits(&column_widths(rows, w).0, width))
}

/// A bordered table costs a border and two spaces of padding a column, and one border more.
const SHARP_CHROME: (usize, usize) = (3, 1);
/// A borderless one, a space of padding on each side of a column.
const BLANK_CHROME: (usize, usize) = (2, 0);

fn fits(natural: &[usize], width: usize) -> bool {
    natural.iter().sum::<usize>() + natural.len() * SHARP_CHROME.0 + SHARP_CHROME.1 <= width
}

/// A column header in the words of the PSA in use: "agreement" is ConnectWise's word for
/// what Autotask calls a contract.
fn header_word(w: Wording, header: &str) -> String {
    match header {
        "agreement" => w.container.to_string(),
        "active agreements" => format!("active {}s", w.container),
        other => other.to_string(),
    }
}

/// Each column's natural width (the longest line of its header and cells) and its longest
/// word, below which it is never wrapped.
fn column_widths<T: tabled::Tabled>(rows: &[T], w: Wording) -> (Vec<usize>, Vec<usize>) {
    let width_of = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let word_of = |text: &str| text.split_whitespace().map(|w| w.chars().count()).max().unwrap_or(0);
    let headers: Vec<String> = T::headers().iter().map(|h| header_word(w, h)).collect();
    let mut natural: Vec<usize> = headers.iter().map(|h| width_of(h)).collect();
    let mut words: Vec<usize> = headers.iter().map(|h| word_of(h)).collect();
    for row in rows {
        for (i, cell) in row.fields().iter().enumerate() {
            if let (Some(n), Some(w)) = (natural.get_mut(i), words.get_mut(i)) {
                *n = (*n).max(width_of(cell));
                *w = (*w).max(word_of(cell));
            }
        }
    }
    (natural, words)
}

/// The width each column gets in `total` characters: first the free-text columns (names,
/// notes: wider than 10) give up width, the widest first, down to 8 or their longest word;
/// then, if that is not enough, any column down to its longest word (a heading wraps, a
/// number or an id never does). A table that still does not fit stays wider than `total`.
fn fitted_widths(
    natural: &[usize],
    words: &[usize],
    total: usize,
    (per_column, extra): (usize, usize),
) -> Vec<usize> {
    const NARROW: usize = 10;
    const MIN: usize = 8;
    let mut widths = natural.to_vec();
    let mut used: usize = widths.iter().sum::<usize>() + natural.len() * per_column + extra;
    // Each pass: the floor of every column it may shrink (`None`: left alone).
    let free_text: Vec<Option<usize>> =
        (0..natural.len()).map(|i| (natural[i] > NARROW).then(|| words[i].max(MIN))).collect();
    let any: Vec<Option<usize>> = words.iter().map(|w| Some((*w).max(1))).collect();
    for floors in [free_text, any] {
        while used > total {
            let widest = (0..widths.len())
                .filter(|&i| floors[i].is_some_and(|f| widths[i] > f))
                .max_by_key(|&i| (widths[i], std::cmp::Reverse(i)));
            let Some(i) = widest else { break };
            widths[i] -= 1;
            used -= 1;
        }
    }
    widths
}

/// How wide tables may be: `COLUMNS` when set, else the terminal's width, else unlimited.
fn target_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()) {
        return Some(columns.max(40));
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(terminal_size::Width(w), _)| usize::from(w).max(40))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_the_first_indent_and_whole_words() {
        for (text, indent, want) in [
            ("one two three", 0, "one two\nthree"),
            ("  one two three", 4, "  one two\n    three"),
            ("ab 0123456789abcdef z", 0, "ab\n0123456789abcdef\nz"),
            ("short", 0, "short"),
        ] {
            assert_eq!(wrap_to(text, indent, 9), want, "{text:?}");
        }
    }

    #[test]
    fn narrow_columns_keep_their_width_and_free_text_shares_the_rest() {
        // action, company, product, qty, qty, change, money, note; and their longest words
        let natural = [9, 30, 14, 7, 10, 6, 8, 60];
        let words = [9, 12, 12, 3, 3, 3, 8, 11];
        let fitted = fitted_widths(&natural, &words, 120, SHARP_CHROME);
        assert_eq!(fitted.iter().sum::<usize>() + natural.len() * 3 + 1, 120, "{fitted:?}");
        assert_eq!(
            (fitted[0], fitted[3], fitted[4], fitted[5], fitted[6]),
            (9, 7, 10, 6, 8),
            "numbers never cut"
        );
        assert!(fitted[7] > fitted[1] && fitted[1] >= 8, "the widest gives up most: {fitted:?}");
        assert_eq!(
            fitted_widths(&natural, &words, 100, SHARP_CHROME),
            [9, 12, 12, 7, 10, 6, 8, 11],
            "free text never below its longest word"
        );
        assert_eq!(
            fitted_widths(&natural, &words, 90, SHARP_CHROME),
            [9, 12, 12, 4, 4, 5, 8, 11],
            "then the headings of narrow columns wrap, the widest first"
        );
        assert_eq!(
            fitted_widths(&natural, &words, 40, SHARP_CHROME),
            words,
            "and no further: a word is never cut"
        );
        assert_eq!(
            fitted_widths(&[5, 10], &[5, 10], 80, SHARP_CHROME),
            [5, 10],
            "a table that fits is left alone"
        );
        let blank = fitted_widths(&natural, &words, 100, BLANK_CHROME);
        assert_eq!(blank.iter().sum::<usize>() + natural.len() * 2, 100, "without borders: {blank:?}");
    }
}
