//! `recon check`: validate the config and try every credential once.

use super::{Context, EXIT_OK, EXIT_RUN_ERROR, EXIT_USAGE};
use crate::output::wording::plural;
use crate::period::Period;
use serde::Serialize;
use tabled::Tabled;

#[derive(Serialize, Tabled)]
struct CheckRow {
    target: String,
    #[tabled(rename = "result", display = "ok_or_failed")]
    ok: bool,
    detail: String,
    /// What a vendor answers (`live counts`, `invoiced months`, ...): in `--json` only.
    #[tabled(skip)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    answers: Vec<&'static str>,
}

fn ok_or_failed(ok: &bool) -> &'static str {
    if *ok { "ok" } else { "failed" }
}

pub fn run(ctx: &Context) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let w = super::wording(&config);
    let http = ctx.http(&config)?;
    let mut rows = Vec::new();
    // The PSA's credentials, and one read of each thing recon uses (so a missing
    // permission is named).
    // A config that lacks a part (no PSA section, no vendor) is a usage error (exit 2), as
    // every other config error is; the rest is still tried and shown.
    let mut incomplete = false;
    match config.psa() {
        Err(e) => {
            incomplete = true;
            rows.push(CheckRow { target: "psa".into(), ok: false, detail: e.message, answers: Vec::new() });
        }
        Ok(psa) => {
            let result = psa.settings.connect(&http).and_then(|client| client.check());
            let target = psa.kind.key().to_string();
            rows.push(match result {
                Ok(detail) => CheckRow { target, ok: true, detail, answers: Vec::new() },
                Err(e) => CheckRow { target, ok: false, detail: e.to_string(), answers: Vec::new() },
            });
        }
    }
    if config.vendors.is_empty() {
        incomplete = true;
        rows.push(CheckRow {
            target: "vendors".into(),
            ok: false,
            detail: format!(
                "no vendor is configured in {}: add a [vendors.<name>] section (`recon init` writes an example of each)",
                config.path.display()
            ),
            answers: Vec::new(),
        });
    }
    let current = Period::containing(ctx.today());
    for vendor in config.vendors.values() {
        rows.push(match crate::vendors::fetch(vendor, &http, current, current) {
            Ok(s) => {
                // Credentials work; what the data lacks is said, not hidden.
                let mut detail = format!(
                    "{}, {}",
                    plural(s.listed_accounts(), "account"),
                    plural(s.services.len(), "service")
                );
                let failed = s.failed_accounts().len();
                let unknown = s.problems.iter().filter(|p| !p.kind.is_failure()).count();
                if failed > 0 {
                    detail.push_str(&format!("; {} unreadable or conflicting", plural(failed, "account")));
                }
                if unknown > 0 {
                    detail.push_str(&format!("; {} missing", plural(unknown, "count")));
                }
                CheckRow {
                    target: vendor.name.clone(),
                    ok: true,
                    detail,
                    answers: vendor.kind.capabilities().words(),
                }
            }
            Err(e) => CheckRow {
                target: vendor.name.clone(),
                ok: false,
                detail: e.to_string(),
                answers: vendor.kind.capabilities().words(),
            },
        });
    }
    let all_ok = rows.iter().all(|r| r.ok);
    if ctx.json {
        crate::output::print_json(&rows)?;
    } else {
        crate::out!("{}", crate::output::table(&rows, w));
    }
    Ok(match (incomplete, all_ok) {
        (true, _) => EXIT_USAGE,
        (false, true) => EXIT_OK,
        (false, false) => EXIT_RUN_ERROR,
    })
}
