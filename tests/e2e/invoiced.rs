//! Month-addressed usage: what Pax8 and Sherweb invoiced for a past month, read from their
//! sandbox fakes (a paid month, a re-issued month with a credit note, a total that does not
//! add up, a month still pending or open), billed by `sync --period M` and compared with
//! the PSA by `recon audit`.

use crate::harness::{Env, line};
use recon_sandbox::Sandbox;
use serde_json::Value;

/// The month `back` months before this one, as `YYYY-MM`.
fn month(back: u32) -> String {
    let today = chrono::Utc::now().date_naive();
    let first =
        chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), chrono::Datelike::month(&today), 1)
            .unwrap();
    first.checked_sub_months(chrono::Months::new(back)).unwrap().format("%Y-%m").to_string()
}

fn distributors(sandbox: Sandbox) -> Env {
    distributors_with(sandbox, "")
}

/// `extra` sections go after the config's own.
fn distributors_with(sandbox: Sandbox, extra: &str) -> Env {
    let text = format!("{}{extra}", sandbox.config_toml_for(&["pax8", "sherweb"]));
    Env::with_distributors(sandbox, &text)
}

fn row<'a>(audit: &'a Value, customer: &str) -> &'a Value {
    audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["company"] == customer || r["account_name"] == customer)
        .unwrap_or_else(|| panic!("no audit row for {customer}: {audit:#}"))
}

#[test]
fn last_month_is_billed_and_audited_from_the_vendors_invoices() {
    let env = distributors(Sandbox::start().unwrap());
    let period = month(1);
    let plan = env.run_json(&["sync", "--dry-run", "--period", &period], 0);
    // O'Brien: Pax8 invoiced 45 seats for the month; the PSA bills 42.
    let obrien = line(&plan, "O'Brien & Sons");
    assert_eq!((obrien["before"].as_i64(), obrien["after"].as_i64()), (Some(42), Some(45)), "{obrien}");
    let obrien_line = obrien["addition_id"].clone();
    // Greenfield: the live count is 10, but Pax8 invoiced the 12 committed seats: unchanged.
    assert_eq!(line(&plan, "Greenfield Accounting LLC")["action"], "unchanged");

    let audit = env.run_json(&["audit", "--period", &period], 5);
    assert_eq!(audit["period"], period);
    let vendors: Vec<(&str, &str)> = audit["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["vendor"].as_str().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(vendors, vec![("pax8", "audited"), ("sherweb", "audited")], "{audit:#}");
    let obrien = row(&audit, "O'Brien & Sons");
    assert_eq!(obrien["finding"], "under_billed", "{obrien}");
    assert_eq!((obrien["vendor_quantity"].as_i64(), obrien["psa_quantity"].as_i64()), (Some(45), Some(42)));
    assert_eq!(obrien["vendor_cost"], 900.0);
    // A charge for a customer nobody maps: money paid, billed to nobody.
    let tri = row(&audit, "Tri-County Vet Partners");
    assert_eq!(
        (tri["finding"].as_str(), tri["gap_amount"].as_f64()),
        (Some("unmapped"), Some(180.0)),
        "{tri}"
    );
    // Mapped customers Pax8 did not invoice for the month: what the PSA bills them is not
    // charged by the vendor (Redwood's subscription was cancelled).
    let redwood = row(&audit, "Redwood Insurance Agency");
    assert_eq!(redwood["finding"], "not_charged", "{redwood}");
    assert_eq!(redwood["vendor_quantity"].as_i64(), Some(0));
    assert!(redwood["psa_quantity"].as_f64().unwrap() > 0.0 && redwood["gap_amount"].as_f64().unwrap() > 0.0);
    // Largest money first; the leak is under-billed plus unmapped.
    let amounts: Vec<f64> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["finding"] != "matched")
        .map(|r| r["gap_amount"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");
    let t = &audit["totals"];
    let sum = t["under_billed"].as_f64().unwrap() + t["unmapped"].as_f64().unwrap();
    assert!((t["leak"].as_f64().unwrap() - sum).abs() < 0.001, "{t}");

    // The same as CSV and as a table a person reads.
    let csv = env.run(&["audit", "--period", &period, "--format", "csv"], 5);
    assert!(csv.starts_with("period,finding,vendor,"), "{csv}");
    assert!(csv.contains("unmapped,pax8,c0999,Tri-County Vet Partners"), "{csv}");
    let table = env.run(&["audit", "--period", &period], 5);
    assert!(table.contains("paid to vendors and not billed"), "{table}");
    let obrien_row = table.lines().find(|l| l.contains("O'Brien & Sons")).unwrap_or_default();
    assert!(obrien_row.contains("under-billed") && obrien_row.contains("66.00"), "{table}");

    // The owner's page shows the month's leak on top, then its gaps.
    let page = env.run(&["report", "--format", "html"], 0);
    let section = &page[page.find("id=\"audit\"").expect("an audit section")..];
    assert!(section.contains(&period) && section.contains("Tri-County Vet Partners"), "{section}");
    let leak = format!("{:.2}", t["leak"].as_f64().unwrap());
    assert!(section.contains(&leak), "the leak {leak} on the page: {section}");

    // A real sync of the month bills what was invoiced.
    let pushed = env.run_json(&["sync", "--yes", "--period", &period, "--vendor", "pax8"], 0);
    assert_eq!(pushed["applied"].as_u64(), Some(1), "{pushed:#}");
    let obrien = env.sandbox.connectwise_additions().into_iter().find(|a| a["id"] == obrien_line);
    assert_eq!(obrien.unwrap()["quantity"].as_f64(), Some(45.0));
    // Audited again: O'Brien is billed as invoiced now.
    let audit = env.run_json(&["audit", "--period", &period, "--vendor", "pax8"], 5);
    assert_eq!(row(&audit, "O'Brien & Sons")["finding"], "matched");
}

#[test]
fn a_reissued_invoice_and_a_credit_note_replace_never_add() {
    let env = distributors(Sandbox::start().unwrap());
    let period = month(2);
    // The void invoice said 46 for O'Brien, its re-issue 45, and a credit note took 2 back.
    let plan = env.run_json(&["sync", "--dry-run", "--period", &period, "--vendor", "pax8"], 0);
    assert_eq!(line(&plan, "O'Brien & Sons")["after"].as_i64(), Some(43), "{plan:#}");
    let audit = env.run_json(&["audit", "--period", &period, "--vendor", "pax8"], 5);
    let docs = &audit["vendors"][0]["documents"];
    assert_eq!(docs, &serde_json::json!(["CN-P8-2", "INV-P8-2R"]), "the void invoice is not counted");
    // Read again: still 43, never added twice.
    let again = env.run_json(&["audit", "--period", &period, "--vendor", "pax8"], 5);
    assert_eq!(row(&again, "O'Brien & Sons")["vendor_quantity"].as_i64(), Some(43));
}

#[test]
fn a_month_not_available_or_not_adding_up_bills_nothing() {
    let env = distributors(Sandbox::start().unwrap());
    // Three months back, Pax8's invoice states 10.00 more than its items: the vendor fails.
    let bad = month(3);
    let out = env.recon(&["sync", "--yes", "--period", &bad, "--vendor", "pax8"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("INV-P8-3 states a total of") && err.contains("nothing from it is used"), "{err}");
    let writes =
        env.sandbox.requests().into_iter().filter(|r| r.server == "connectwise" && r.method != "GET").count();
    assert_eq!(writes, 0, "nothing pushed from a bad invoice");
    // This month: Pax8's invoice is pending and Sherweb's period open: not available, not 0.
    let now = month(0);
    let audit = env.run_json(&["audit", "--period", &now], 1);
    for v in audit["vendors"].as_array().unwrap() {
        assert_eq!(v["state"], "not_available", "{v}");
    }
    assert!(audit["rows"].as_array().unwrap().is_empty(), "{audit:#}");
    // Sherweb has nothing three months back: not available either.
    let out = env.recon(&["audit", "--period", &bad, "--vendor", "sherweb"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no payable charges"), "{out:?}");
}

/// Sophos Central Partner with its sandbox fake, its endpoints mapped to the EDR line.
fn sophos(sandbox: Sandbox) -> Env {
    let text = sandbox.config_toml_for(&["sophos"]);
    let env = Env::with_config(sandbox, &text);
    env.run(&["connect", "sophos"], 0);
    env.run(
        &[
            "map",
            "services",
            "--vendor",
            "sophos",
            "--set",
            recon_sandbox::SOPHOS_CIXA,
            "--product",
            "HUNTRESS-EDR",
        ],
        0,
    );
    env
}

#[test]
fn sophos_bills_a_month_from_its_billing_usage_and_a_month_without_data_is_not_zero() {
    let keys = recon_sandbox::Credentials {
        sophos_client_secret: "CANARY-sophos-secret-5c0e".into(),
        ..recon_sandbox::Credentials::default()
    };
    let sandbox =
        Sandbox::start_with(recon_sandbox::SandboxOptions { credentials: keys, ..Default::default() })
            .unwrap();
    let env = sophos(sandbox);
    let mut seen = String::new();
    // This month has no usage yet (404): every tenant's count is unknown, nothing is planned.
    let now = env.run_json(&["sync", "--dry-run"], 0);
    assert!(crate::harness::writes(&now).is_empty(), "{now:#}");
    seen.push_str(&now.to_string());

    let period = month(1);
    let plan = env.run_json(&["sync", "--dry-run", "--period", &period], 0);
    let acme = line(&plan, "Acme Dental");
    assert_eq!((acme["before"].as_i64(), acme["after"].as_i64()), (Some(12), Some(14)), "{acme}");
    let audit = env.run_json(&["-v", "audit", "--period", &period], 5);
    seen.push_str(&audit.to_string());
    let finding = |c: &str| {
        (row(&audit, c)["finding"].as_str().unwrap().to_string(), row(&audit, c)["gap_amount"].as_f64())
    };
    assert_eq!(finding("Acme Dental"), ("under_billed".into(), Some(9.0)));
    assert_eq!(finding("Silverline Logistics LLC"), ("over_billed".into(), Some(9.0)));
    assert_eq!(finding("Redwood Insurance Agency").0, "matched");
    // A tenant no company is called: unmapped, its money unknown (Sophos gives none).
    assert_eq!(finding("Lakeside Pediatrics"), ("unmapped".into(), None));

    let out = env.recon(&["audit", "--period", &month(0)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("Sophos has no billing usage for"), "{err}");
    seen.push_str(&err);

    // Credentials of a tenant, not a partner: said, with what to create instead.
    env.sandbox.set_sophos_id_type("tenant");
    let out = env.recon(&["connect", "sophos"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("not a partner") && err.contains("Sophos Central Partner"), "{err}");
    seen.push_str(&err);
    let db = std::fs::read(&env.db).unwrap();
    assert!(!seen.contains("CANARY-sophos") && !String::from_utf8_lossy(&db).contains("CANARY-sophos"));
}

#[test]
fn a_leak_above_the_threshold_is_posted_to_the_webhook_once() {
    let period = month(1);
    for (above, posted) in [(100, 1), (1000, 0)] {
        let hook = crate::report::receiver(200);
        let extra =
            format!("\n[notify]\nwebhook_url = \"{}\"\n\n[audit]\nnotify_above = {above}\n", hook.url);
        let env = distributors_with(Sandbox::start().unwrap(), &extra);
        let audit = env.run_json(&["audit", "--period", &period], 5);
        let bodies = hook.bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), posted, "notify_above = {above}: {bodies:?}");
        if let Some(body) = bodies.first() {
            assert_eq!(body["events"], serde_json::json!(["audit_leak"]));
            assert_eq!(body["totals"]["leak"], audit["totals"]["leak"]);
            assert!(body["text"].as_str().unwrap().contains("paid to vendors and not billed"), "{body}");
        }
    }
}
