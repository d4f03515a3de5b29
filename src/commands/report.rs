//! `recon report [RUN]`: a run as an HTML page, CSV or JSON, from the ledger alone (offline).

use super::{Context, EXIT_OK, usage};
use crate::cli::ReportArgs;
use crate::report::{self, Format, Report};
use anyhow::Context as _;
use std::io::{IsTerminal, Write};

pub fn run(ctx: &Context, args: &ReportArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.output {
        check_page_path("--output", path)?;
    }
    let config = if ctx.config_path.exists() { Some(ctx.config()?) } else { None };
    let store = ctx.store_to_read(config.as_ref())?;
    let id = match args.run {
        Some(id) => id,
        None => store
            .latest_sync_run()?
            .ok_or_else(|| usage("there is no sync run to report yet; run `recon sync --dry-run` first"))?,
    };
    let words = config.as_ref().map_or(crate::output::wording::Wording::NEUTRAL, super::wording);
    let report = Report::load(&store, id, words)?.ok_or_else(|| usage(format!("there is no run {id}")))?;
    let format = format_for(args.format, args.output.as_deref(), ctx.json);
    // A page of HTML on a terminal is noise: say where it can go instead.
    if args.output.is_none() && format == Format::Html && std::io::stdout().is_terminal() {
        return Err(usage(format!(
            "the report of run {id} is an HTML page; write it to a file with `recon report {id} --output \
             report.html` (then open it in a browser), or see it here with --format csv or --json"
        )));
    }
    let bytes = report::render(&report, format)?;
    match &args.output {
        Some(path) => {
            report::write_file(path, &bytes)
                .with_context(|| format!("writing the report to {}", path.display()))?;
            if !ctx.quiet && !ctx.json {
                crate::out!("Wrote the report of run {id} to {}.", path.display());
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(&bytes).and_then(|()| out.flush()) {
                // A reader that stops early (`| head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("writing the report to standard output")?,
            }
        }
    }
    Ok(EXIT_OK)
}

/// The format of a report: `--format`, else the `--output` file's extension (.html, .htm,
/// .csv, .json), else JSON for `--json`, else HTML.
fn format_for(given: Option<Format>, output: Option<&std::path::Path>, json: bool) -> Format {
    let by_extension = output.and_then(|p| p.extension()).and_then(|e| e.to_str()).and_then(|e| {
        match e.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(Format::Html),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    });
    given.or(by_extension).unwrap_or(if json { Format::Json } else { Format::Html })
}

/// What `after_run` did: the page it wrote, and whether writing it failed.
pub struct AfterRun {
    pub page: Option<std::path::PathBuf>,
    pub page_failed: bool,
}

/// The end of a run: write its page when asked (`sync --report`), and after a real run post
/// the notification its events call for. A notification that is not delivered is a warning
/// kept in the run record; it never changes the exit code. A page that cannot be written
/// is a failure (cron expected a file).
pub fn after_run(
    ctx: &Context,
    config: &crate::config::Config,
    notify: Option<&crate::report::notify::NotifySettings>,
    store: &mut crate::store::Store,
    run_id: i64,
    page: Option<&std::path::Path>,
) -> anyhow::Result<AfterRun> {
    let mut done = AfterRun { page: None, page_failed: false };
    // Reading the run back costs a pass over its lines: only when something will use it.
    if page.is_none() && notify.is_none() {
        return Ok(done);
    }
    let Some(report) = Report::load(store, run_id, super::wording(config))? else { return Ok(done) };
    if let Some(path) = page {
        match report::write_file(path, report::html::page(&report).as_bytes()) {
            Ok(()) => done.page = Some(path.to_path_buf()),
            Err(e) => {
                ctx.failure(&format!("writing the report to {} failed: {e}", path.display()));
                done.page_failed = true;
            }
        }
    }
    let Some(notify) = notify else { return Ok(done) };
    let events: Vec<_> =
        report::notify::events(&report).into_iter().filter(|e| notify.on.contains(e)).collect();
    if events.is_empty() {
        return Ok(done);
    }
    let shown_path = done.page.as_ref().map(|p| p.display().to_string());
    let body = report::notify::message(&report, notify.format, &events, shown_path.as_deref());
    if let Err(e) =
        report::notify::post(notify, &body, std::time::Duration::from_secs(config.http.connect_timeout_secs))
    {
        let notice = format!("the {} notification was not delivered: {e}", notify.format);
        ctx.warn(&notice);
        let mut details = report.details;
        details.notices.push(notice);
        store.set_run_details(run_id, &details)?;
    }
    Ok(done)
}

/// `--report PATH` (and `report --output PATH`) is checked before the run: its folder must exist, so a typo is said
/// before anything is pushed, not after.
pub fn check_page_path(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(usage(format!("{flag} {}: the folder {} does not exist", path.display(), dir.display())));
    }
    if path.is_dir() {
        return Err(usage(format!(
            "{flag} {}: that is a folder; give a file name, e.g. report.html",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_format_is_the_flag_then_the_extension_then_json_or_html() {
        let cases = [
            (None, None, false, Format::Html),
            (None, None, true, Format::Json),
            (None, Some("month.csv"), false, Format::Csv),
            (None, Some("month.CSV"), true, Format::Csv),
            (None, Some("month.json"), false, Format::Json),
            (None, Some("month.htm"), true, Format::Html),
            (None, Some("month.txt"), false, Format::Html),
            (Some(Format::Html), Some("month.csv"), false, Format::Html),
        ];
        for (given, output, json, want) in cases {
            assert_eq!(format_for(given, output.map(Path::new), json), want, "{given:?} {output:?} {json}");
        }
    }
}
