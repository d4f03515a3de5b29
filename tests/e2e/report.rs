//! The month-end report and the notifications (issue 14): the page rendered in a real
//! headless Chromium, the CSV and JSON read back, a loopback webhook receiver.

use crate::browser::Browser;
use crate::harness::Env;
use recon_sandbox::SERVICE_PRODUCTS;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};

const VENDORS: [&str; 2] = ["nodeware", "huntress"];
/// An account name that would be markup if it were not escaped.
const SCRIPT_NAME: &str = "<script>document.title='owned'</script> & Co";

/// Nodeware and Huntress connected and mapped under recon's default `[sync]` policy (so
/// decreases are held), plus `extra` config, and an unmapped Nodeware account named like markup.
fn msp(extra: &str) -> Env {
    let sandbox = recon_sandbox::Sandbox::start().unwrap();
    let text = sandbox.config_toml_for(&VENDORS).replace(recon_sandbox::SYNC_PUSH_EVERYTHING, "");
    let env = Env::with_config(sandbox, &format!("{text}\n{extra}\n"));
    assert!(env.sandbox.push_vendor_record(
        "nodeware",
        json!({"id": "f00dfeed", "name": SCRIPT_NAME, "asset_totals": {"internal": 4, "external": 0}})
    ));
    for vendor in VENDORS {
        env.run(&["connect", vendor], 0);
    }
    for (vendor, service, product) in SERVICE_PRODUCTS.iter().filter(|(v, _, _)| VENDORS.contains(v)) {
        env.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product], 0);
    }
    env
}

fn number(v: &Value) -> Decimal {
    v.to_string().parse().unwrap()
}

#[test]
fn the_page_shows_the_money_a_held_line_and_an_unmapped_account_and_fetches_nothing() {
    let env = msp("");
    let page = env.dir.path().join("month end.html");
    let out = env.run(&["sync", "--yes", "--report", page.to_str().unwrap()], 4);
    assert!(out.contains(&format!("Wrote the report of run 1 to {}", page.display())), "{out}");
    let report = env.run_json(&["report", "1"], 0);
    let held: Vec<&Value> =
        report["lines"].as_array().unwrap().iter().filter(|l| l["action"] == "held").collect();
    assert!(!held.is_empty(), "the default policy holds decreases");
    let applied_net = number(&report["applied_totals"]["net"]);
    assert!(!applied_net.is_zero(), "the run pushed money: {}", report["applied_totals"]);

    let mut browser = Browser::start(1200, 900);
    let rendered = browser.open(&page);
    let own = format!("file://{}", page.display());
    assert!(
        rendered.requests.iter().all(|r| *r == own || r.replace("%20", " ") == own),
        "the page asked for nothing but itself: {:?}",
        rendered.requests
    );
    assert_eq!(browser.evaluate("document.scripts.length"), 0, "no script, not even an escaped name");
    assert_ne!(browser.evaluate("document.title"), "owned");

    let net = browser.visible_text("#net");
    assert_eq!(net, recon::money::display(applied_net, Some("USD"), true, "\u{2212}"), "the headline net");
    let counts = browser.visible_text("#counts");
    let c = &report["counts"];
    assert_eq!(
        counts,
        format!(
            "{} added · {} updated · {} unchanged · {} held · {} skipped",
            c["add"], c["update"], c["unchanged"], c["held"], c["skipped"]
        )
    );
    let held_table = browser.visible_text("table.held");
    let first = held[0];
    assert!(held_table.contains(first["company"].as_str().unwrap()), "{held_table}");
    assert!(held_table.contains(&format!("recon approve {}", first["id"])), "how to decide it: {held_table}");
    let unmapped = browser.visible_text("table.unmapped");
    assert!(unmapped.contains(SCRIPT_NAME), "the markup-like name is text: {unmapped}");
    assert!(unmapped.contains("Sunset Yoga Studio"), "{unmapped}");
    assert!(browser.visible_text("#vendor-chart").contains("nodeware"), "the vendor chart is drawn");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    browser.screenshot(&target.join("report-desktop.png"));

    // On a phone: nothing wider than the screen but the tables, which scroll in their box.
    let mut phone = Browser::start(390, 844);
    phone.open(&page);
    assert_eq!(phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), true);
    assert!(phone.visible_text("#net").contains(&net));
    phone.screenshot(&target.join("report-phone.png"));
    // On paper: the figures and the held lines print.
    phone.call("Emulation.setEmulatedMedia", json!({"media": "print"}));
    assert_eq!(phone.visible_text("#net"), net);
    assert!(phone.visible_text("table.held").contains(first["company"].as_str().unwrap()));
}

#[test]
fn csv_and_json_hold_every_line_of_the_run() {
    let env = msp("");
    env.run(&["sync", "--dry-run"], 0);
    let run = env.run_json(&["history", "1"], 0);
    let changes = run["changes"].as_array().unwrap();

    let csv_text = env.run(&["report", "--format", "csv"], 0);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, recon::report::csv::COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), changes.len(), "one row per line of the plan");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, change) in rows.iter().zip(changes) {
        assert_eq!(row[col("change_id")], change["id"].to_string());
        assert_eq!(row[col("action")], *change["action"].as_str().unwrap());
        assert_eq!(row[col("company")], *change["company"].as_str().unwrap());
        let revenue = &row[col("revenue_change")];
        match &change["revenue_change"] {
            Value::Null => assert_eq!(revenue, ""),
            v => assert_eq!(revenue.parse::<Decimal>().unwrap(), number(v), "{change}"),
        }
        assert_eq!(row[col("currency")], *"USD");
    }
    assert!(csv_text.contains("\r\n"), "RFC 4180 line ends");

    // The JSON: the documented fields, and `--json` alone picks it.
    let json = env.run_json(&["report"], 0);
    for key in [
        "recon_version",
        "run",
        "kind",
        "currency",
        "counts",
        "totals",
        "applied_totals",
        "lines",
        "waiting",
        "failed_vendors",
        "failed_accounts",
        "read_failures",
        "warnings",
        "unmapped_accounts",
        "excluded_accounts",
        "gone_accounts",
        "notices",
        "largest_customers",
    ] {
        assert!(json.get(key).is_some(), "report JSON has {key}");
    }
    assert_eq!(json["kind"], "dry run");
    assert_eq!(json["applied_totals"], Value::Null, "a dry run applied nothing");
    assert_eq!(json["lines"].as_array().unwrap().len(), changes.len());
    assert_eq!(json["currency"], "USD");
    assert!(json["unmapped_accounts"].as_array().unwrap().iter().any(|a| a["name"] == SCRIPT_NAME));
    assert_eq!(json["waiting"], json!([]), "a dry run holds nothing for real");

    // A page written with --output, whole; a run that does not exist is a usage error.
    let page = env.dir.path().join("r.html");
    env.run(&["report", "1", "--output", page.to_str().unwrap()], 0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(!html.contains(SCRIPT_NAME), "names are escaped in the page");
    env.run(&["report", "99"], 2);
    let out = env.recon(&["report", "--output", "/no/such/folder/r.html"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad --output is a usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--output /no/such/folder/r.html: the folder /no/such/folder does not exist")
    );
}

/// A loopback webhook receiver: every body it gets, answering `status`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) bodies: Arc<Mutex<Vec<Value>>>,
}

pub(crate) fn receiver(status: u16) -> Receiver {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut text = String::new();
            let _ = request.as_reader().read_to_string(&mut text);
            kept.lock().unwrap().push(serde_json::from_str(&text).unwrap_or(Value::String(text)));
            let _ = request.respond(tiny_http::Response::empty(status));
        }
    });
    Receiver { url: format!("http://127.0.0.1:{port}/hooks/T0SECRET/B0SECRET/xoxSECRETTOKEN"), bodies }
}

fn notify_config(url: &str, format: &str, on: &str) -> String {
    format!("[notify]\nwebhook_url = \"{url}\"\nformat = \"{format}\"\non = {on}\n")
}

#[test]
fn one_message_per_run_in_each_format_and_none_when_on_excludes_it() {
    for format in ["json", "slack", "teams"] {
        let hook = receiver(200);
        let env = msp(&notify_config(&hook.url, format, "[\"held\", \"failed\"]"));
        env.run(&["sync", "--dry-run"], 0);
        assert!(hook.bodies.lock().unwrap().is_empty(), "{format}: a dry run notifies nobody");
        let page = env.dir.path().join("page.html");
        env.run(&["sync", "--yes", "--report", page.to_str().unwrap()], 4);
        let bodies = hook.bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 1, "{format}: exactly one message: {bodies:?}");
        let body = &bodies[0];
        match format {
            "json" => {
                assert_eq!(body["events"], json!(["held"]), "{body}");
                assert_eq!(body["run_id"], 2);
                assert_eq!(body["result"], "held");
                assert!(body["held"].as_u64().unwrap() > 0);
                assert_eq!(body["report"], page.display().to_string());
                assert!(body["net"].is_number());
            }
            "slack" => {
                let text = body["text"].as_str().unwrap();
                assert!(text.contains("wait for review") && text.contains("recon run 2"), "{text}");
            }
            _ => {
                assert_eq!(body["type"], "message");
                let card = &body["attachments"][0];
                assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
                assert_eq!(card["content"]["type"], "AdaptiveCard");
            }
        }
    }

    // `on` without "held": a held run that failed nothing sends nothing.
    let hook = receiver(200);
    let env = msp(&notify_config(&hook.url, "json", "[\"failed\"]"));
    env.run(&["sync", "--yes"], 4);
    assert!(hook.bodies.lock().unwrap().is_empty(), "not asked for");
}

#[test]
fn an_undelivered_message_is_a_warning_that_changes_nothing_and_the_url_stays_secret() {
    let hook = receiver(500);
    let env = msp(&notify_config(&hook.url, "slack", "[\"held\", \"applied\"]"));
    let output = env.recon(&["sync", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "the exit code is the run's: {stderr}");
    assert!(
        stderr.contains("notification was not delivered: the webhook at 127.0.0.1 answered 500"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRET"), "the URL is a secret: {stderr}");
    assert_eq!(hook.bodies.lock().unwrap().len(), 1, "a 500 is not sent again: it may have arrived");
    assert!(env.sandbox.requests().iter().any(|r| r.method == "PATCH"), "the push happened");

    let history = env.run(&["history", "1"], 0);
    assert!(history.contains("notification was not delivered"), "kept in the run record:\n{history}");
    for file in [env.db.clone(), env.db.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains("SECRET"),
                "{} holds no part of the URL",
                file.display()
            );
        }
    }
    let json = env.run_json(&["report", "1"], 0);
    assert!(json.to_string().contains("was not delivered") && !json.to_string().contains("SECRET"));
}

#[test]
fn a_bad_notify_section_or_report_path_is_refused_before_any_request() {
    let env = msp("");
    let base = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&format!("{base}\n[notify]\nwebhook_url = \"http://hooks.example.com/x\"\n"));
    let output = env.recon(&["sync", "--dry-run"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("[notify] webhook_url must be an https URL") && !stderr.contains("hooks.example"),
        "{stderr}"
    );
    env.set_config(&format!(
        "{base}\n[notify]\nwebhook_url = \"https://hooks.example.com/x\"\non = [\"always\"]\n"
    ));
    let output = env.recon(&["sync", "--dry-run"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"always\" is not an event; expected any of \"held\", \"failed\" or \"applied\""),
        "{stderr}"
    );

    env.set_config(&base);
    let before = env.sandbox.requests().len();
    let output = env.recon(&["sync", "--yes", "--report", "/no/such/folder/page.html"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the folder /no/such/folder does not exist"));
    assert_eq!(env.sandbox.requests().len(), before, "refused before any request");
}

/// What the page looks like at `width`: whether anything is wider than the screen, the
/// right edge of every change's monthly amount and status, the tallest held row, and the
/// height of the smallest chart label on the screen.
fn layout(page: &Path, width: u32) -> Value {
    let mut browser = Browser::start(width, 900);
    browser.open(page);
    browser.evaluate(
        r#"(() => {
            const right = sel => Math.max(0, ...[...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect().right));
            const held = [...document.querySelectorAll('table.lines tr.held')].map(e => e.getBoundingClientRect().height);
            // The height text takes on the screen, whatever scales it (an SVG shrinks its text).
            const labels = [...document.querySelectorAll('.chart .label, .chart .amount')]
                .map(e => e.getBoundingClientRect().height);
            return {
                scroll: document.documentElement.scrollWidth,
                inner: window.innerWidth,
                widest_cell: right('td'),
                monthly: right('table.lines td.c-monthly'),
                status: right('table.lines td.c-status'),
                monthly_shown: [...document.querySelectorAll('table.lines td.c-monthly')].every(e => e.checkVisibility()),
                held_rows: held.length,
                tallest_held: Math.max(0, ...held),
                smallest_label: Math.min(...labels),
            };
        })()"#,
    )
}

#[test]
fn the_page_reads_on_a_phone_without_sideways_scrolling() {
    for psa in crate::harness::PSAS {
        let env = Env::on(psa, &VENDORS);
        env.set_policy("");
        for vendor in VENDORS {
            env.run(&["connect", vendor], 0);
        }
        for (vendor, service, product) in SERVICE_PRODUCTS.iter().filter(|(v, _, _)| VENDORS.contains(v)) {
            env.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product], 0);
        }
        let page = env.dir.path().join("month.html");
        env.run(&["sync", "--yes", "--report", page.to_str().unwrap()], 4);

        for width in [390, 1200] {
            let l = layout(&page, width);
            let inner = l["inner"].as_f64().unwrap();
            assert!(
                l["scroll"].as_f64().unwrap() <= inner,
                "{psa} at {width}: the page scrolls sideways: {l}"
            );
            for edge in ["widest_cell", "monthly", "status"] {
                assert!(l[edge].as_f64().unwrap() <= inner, "{psa} at {width}: {edge} is off-screen: {l}");
            }
            assert_eq!(l["monthly_shown"], true, "{psa} at {width}: {l}");
            assert!(l["held_rows"].as_u64().unwrap() > 0, "{psa}: the default policy holds decreases");
            assert!(
                l["tallest_held"].as_f64().unwrap() <= 150.0,
                "{psa} at {width}: a held row is too tall: {l}"
            );
            assert!(
                l["smallest_label"].as_f64().unwrap() >= 13.0,
                "{psa} at {width}: chart text too small: {l}"
            );
        }
    }
}
