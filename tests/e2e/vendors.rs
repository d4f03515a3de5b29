//! The SaaS Alerts, NordLayer, NordPass and CSV adapters against the sandbox: connect,
//! paging, quantities as the wire sends them, bad keys, bad files, and one sync across
//! every vendor.

use crate::harness::Env;
use recon_sandbox::{self, ALL_VENDORS};
use serde_json::Value;
use std::collections::BTreeSet;

/// Connect each vendor and map all of its services.
fn connect_and_map(env: &Env, vendors: &[&str]) {
    for vendor in vendors {
        env.run(&["connect", vendor], 0);
    }
    for (vendor, service, product) in recon_sandbox::SERVICE_PRODUCTS {
        if vendors.contains(&vendor) {
            env.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product], 0);
        }
    }
}

fn lines(plan: &Value) -> Vec<Value> {
    plan["lines"].as_array().expect("plan lines").clone()
}

fn line<'a>(lines: &'a [Value], company: &str, product: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l["company"] == company && l["product"] == product)
}

fn source_vendors(plan: &Value) -> BTreeSet<String> {
    lines(plan)
        .iter()
        .flat_map(|l| l["sources"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["vendor"].as_str().map(str::to_string))
        .collect()
}

fn before_after(line: &Value) -> (Option<&str>, Option<i64>, Option<i64>) {
    (line["action"].as_str(), line["before"].as_i64(), line["after"].as_i64())
}

#[test]
fn connect_works_for_saas_alerts_nordlayer_nordpass_and_a_csv_vendor() {
    let env = Env::new(&["saas-alerts", "nordlayer", "nordpass", "backup"]);
    for (vendor, accounts, services) in [
        ("saas-alerts", 20, vec!["billable-users"]),
        ("nordlayer", 15, vec!["licenses", "servers"]),
        ("nordpass", 10, vec!["business", "enterprise"]),
        ("backup", 7, vec!["seats"]),
    ] {
        let report = env.run_json(&["connect", vendor], 0);
        assert_eq!(report["accounts"].as_u64(), Some(accounts), "{vendor}: {report}");
        assert_eq!(report["services"], serde_json::json!(services), "{vendor}");
        assert!(report["auto_matched"].as_u64().unwrap() > 0, "{vendor}: {report}");
    }
    // Account ids are the vendor's own: the CSV's account_id, NordPass's Organization ID.
    let backup = env.run_json(&["map", "accounts", "--vendor", "backup", "--search", "keystone"], 0);
    assert_eq!(backup[0]["account"], "Keystone Tool & Die, Inc.");
    assert_eq!(backup[0]["account_id"], "bk-1003");
    assert_eq!(backup[0]["company"], "Keystone Tool & Die, Inc.");
    let nordpass = env.run_json(&["map", "accounts", "--vendor", "nordpass", "--search", "acme"], 0);
    assert_eq!(nordpass[0]["account_id"], "3670f0a2-6566-95a7-e260-2a4e6a8bd1c4");
}

#[test]
fn nordlayer_pages_by_limit_and_offset_until_a_short_page() {
    let env = Env::new(&["nordlayer"]);
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace("[vendors.nordlayer]\n", "[vendors.nordlayer]\npage_size = 5\n"));
    let report = env.run_json(&["connect", "nordlayer"], 0);
    assert_eq!(report["accounts"].as_u64(), Some(15), "{report}");
    let mut offsets: Vec<String> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.server == "nordlayer" && r.path_and_query.starts_with("/msp/v1/organizations?"))
        .map(|r| r.path_and_query)
        .collect();
    offsets.sort();
    assert_eq!(
        offsets,
        [0, 10, 15, 5].map(|o| format!("/msp/v1/organizations?limit=5&offset={o}")),
        "15 organizations at 5 a page: three full pages, then an empty one"
    );
    let usage_calls = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.server == "nordlayer" && r.path_and_query.ends_with("/usage"))
        .count();
    assert_eq!(usage_calls, 15);
}

#[test]
fn saas_alerts_reads_numeric_strings_and_a_missing_count_is_skipped_not_zero() {
    let env = Env::new(&["saas-alerts"]);
    connect_and_map(&env, &["saas-alerts"]);
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = lines(&plan);
    // billingUsers is the string "12": an update 10 -> 12.
    let northside = line(&planned, "Northside Family Dentistry", "SAASALERTS-USERS").unwrap();
    assert_eq!(before_after(northside), (Some("update"), Some(10), Some(12)));
    // billingUsers is the string "57": unchanged at 57.
    let blue_ridge = line(&planned, "Blue Ridge Credit Union", "SAASALERTS-USERS").unwrap();
    assert_eq!(before_after(blue_ridge), (Some("unchanged"), Some(57), Some(57)));
    // Precision Plastics Corp. has no billingUsers: skipped, naming the field, never a guessed 0.
    let precision = line(&planned, "Precision Plastics Corp.", "SAASALERTS-USERS").unwrap();
    assert_eq!(before_after(precision), (Some("skipped"), None, None), "{plan}");
    let reason = precision["reason"].as_str().unwrap();
    assert!(reason.contains("billingUsers") && reason.contains("Precision Plastics Corp."), "{reason}");
    let named = |name: &str| {
        planned.iter().any(|l| l["sources"].as_array().unwrap().iter().any(|s| s["account_name"] == name))
    };
    assert!(!named("Precision Plastics Corp."), "no quantity comes from it");
    assert!(named("Acme Dental"));
}

#[test]
fn a_rejected_key_names_the_vendor_and_hides_the_key() {
    for (vendor, key) in
        [("saas-alerts", recon_sandbox::SAAS_ALERTS_KEY), ("nordlayer", recon_sandbox::NORDLAYER_KEY)]
    {
        let env = Env::new(&[vendor]);
        let text = std::fs::read_to_string(&env.config).unwrap();
        env.set_config(&text.replace(key, "wrong-key-canary"));
        let err = env.stderr_of(&["connect", vendor], 1);
        assert!(err.contains(vendor) && err.contains("401"), "{err}");
        assert!(!err.contains("wrong-key-canary"), "{err}");
        let accounts = env.run_json(&["map", "accounts", "--vendor", vendor], 0);
        assert_eq!(accounts, serde_json::json!([]));
    }
}

#[test]
fn a_csv_with_bad_rows_lists_every_line_and_imports_nothing() {
    let env = Env::new(&["backup"]);
    let file = env.dir.path().join("bad backup.csv");
    std::fs::write(
        &file,
        "\u{FEFF}Account;Service;Quantity;Account_ID\n\
         Acme Dental;seats;14;bk-1001\n\
         O'Brien & Sons;seats;-2;bk-1002\n\
         Westbrook Chiropractic;seats;4.5;bk-1004\n\
         Acme Dental;seats;1,5;bk-1001\n\
         ;seats;3;bk-1009\n\
         Vista Dental Lab;seats;six;bk-1006\n\
         Jensen Roofing;seats;4;bk-1007\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap();
    let csv_path = env.sandbox.backup_csv_path().to_string_lossy().to_string();
    env.set_config(&text.replace(&csv_path, &file.to_string_lossy()));

    let err = env.stderr_of(&["connect", "backup"], 1);
    assert!(err.contains("backup") && err.contains("bad backup.csv"), "{err}");
    assert!(err.contains("5 problems; nothing was imported"), "{err}");
    for (n, what) in [
        (3, "negative"),
        (4, "fractional"),
        (5, "fractional"),
        (6, "`account` is empty"),
        (7, "not a number"),
    ] {
        assert!(err.contains(&format!("line {n}: ")) && err.contains(what), "line {n} ({what}): {err}");
    }
    assert!(!err.contains("line 2:") && !err.contains("line 8:"), "{err}");
    let accounts = env.run_json(&["map", "accounts", "--vendor", "backup"], 0);
    assert_eq!(accounts, serde_json::json!([]), "nothing stored from a rejected file");
    let status = env.run_json(&["status"], 0);
    assert_ne!(status[0]["status"], "pending", "{status}");
}

#[test]
fn one_dry_run_plans_lines_from_every_vendor() {
    let env = Env::new(&ALL_VENDORS);
    connect_and_map(&env, &ALL_VENDORS);
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert!(env.cw_writes().is_empty());
    assert_eq!(source_vendors(&plan), ALL_VENDORS.iter().map(|v| v.to_string()).collect());
    assert!(plan["vendor_errors"].as_object().unwrap().is_empty(), "{}", plan["vendor_errors"]);
    let planned = lines(&plan);
    let check = |company: &str, product: &str, want: (&str, Option<i64>, i64)| {
        let l = line(&planned, company, product).unwrap_or_else(|| panic!("no {company} / {product}"));
        assert_eq!(before_after(l), (Some(want.0), want.1, Some(want.2)), "{company} / {product}: {l}");
    };
    check("Acme Dental", "NORDLAYER-LIC", ("unchanged", Some(12), 12));
    check("Silverline Logistics LLC", "NORDLAYER-SRV", ("update", Some(1), 2));
    check("Beacon Hill Property Management", "NORDLAYER-SRV", ("add", None, 1));
    check("Smith & Whitfield Attorneys", "NORDPASS-ENT", ("update", Some(18), 20));
    check("Blue Ridge Credit Union", "NORDPASS-ENT", ("add", None, 57));
    check("Keystone Tool & Die, Inc.", "BACKUP-SEATS", ("update", Some(30), 33));
    check("Vista Dental Lab", "BACKUP-SEATS", ("update", Some(8), 6));
    check("Atlas Freight Lines", "SAASALERTS-USERS", ("update", Some(20), 25));
    // Lite plans have no servers: no server line even though their usage answers 0.
    for lite in ["Pinecrest Elementary School", "Northside Family Dentistry", "Apex Physical Therapy"] {
        assert!(line(&planned, lite, "NORDLAYER-SRV").is_none(), "{lite}");
    }
}

#[test]
fn vendor_flags_sync_only_those_vendors() {
    let env = Env::new(&ALL_VENDORS);
    connect_and_map(&env, &ALL_VENDORS);
    let before = env.sandbox.requests().len();
    let plan = env.run_json(&["sync", "--dry-run", "--vendor", "nodeware", "--vendor", "backup"], 0);
    assert_eq!(source_vendors(&plan), BTreeSet::from(["backup".to_string(), "nodeware".to_string()]));
    let called: BTreeSet<String> =
        env.sandbox.requests()[before..].iter().map(|r| r.server.clone()).collect();
    assert_eq!(called, BTreeSet::from(["connectwise".to_string(), "nodeware".to_string()]));
}

#[test]
fn one_failing_vendor_leaves_the_others_planned_and_exits_1() {
    let env = Env::new(&ALL_VENDORS);
    connect_and_map(&env, &ALL_VENDORS);
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace(recon_sandbox::SAAS_ALERTS_KEY, "wrong-key-canary"));
    let out = env.recon(&["--json", "sync", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("wrong-key-canary") && !stderr.contains("wrong-key-canary"));
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    let errors = plan["vendor_errors"].as_object().unwrap();
    assert_eq!(errors.keys().collect::<Vec<_>>(), vec!["saas-alerts"], "{errors:?}");
    assert!(errors["saas-alerts"].as_str().unwrap().contains("401"), "{errors:?}");
    let expected: BTreeSet<String> =
        ALL_VENDORS.iter().filter(|v| **v != "saas-alerts").map(|v| v.to_string()).collect();
    assert_eq!(source_vendors(&plan), expected);
}

#[test]
fn file_vendors_accept_a_past_period_and_live_ones_refuse_it() {
    let env = Env::new(&["nordpass", "backup", "saas-alerts"]);
    connect_and_map(&env, &["nordpass", "backup", "saas-alerts"]);
    let plan = env.run_json(
        &["sync", "--dry-run", "--period", "previous", "--vendor", "nordpass", "--vendor", "backup"],
        0,
    );
    assert_eq!(source_vendors(&plan), BTreeSet::from(["backup".to_string(), "nordpass".to_string()]));
    // A live vendor in the run: a usage error before any request, naming it.
    let requests = env.sandbox.requests().len();
    let out = env.recon(&["--json", "sync", "--dry-run", "--period", "previous"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("saas-alerts report only current usage"), "{stderr}");
    assert_eq!(env.sandbox.requests().len(), requests, "nothing was fetched");
}
