//! Review that sticks, billing rules per mapping, and guards against a second writer
//! (issue 13), each against the sandbox with the real binary.

use crate::harness::Env;
use serde_json::{Value, json};

/// Smith & Whitfield: addition 7103 (NODEWARE-VMS) holds 25; Nodeware says 18 (a decrease).
const SMITH_ADDITION: i64 = 7103;
/// O'Brien & Sons: addition 7100 holds 50; Nodeware says 59 (an increase).
const OBRIEN_ADDITION: i64 = 7100;
const OBRIEN_ID: &str = "19a60ff3426105fcd973cc356dd312ca";
/// Café Lumière: no NODEWARE-VMS addition on agreement 3005; Nodeware says 13.
const CAFE_AGREEMENT: i64 = 3005;

/// Nodeware connected and mapped, with `policy` as the `[sync]` section.
fn nodeware_with(policy: &str, map_args: &[&str]) -> Env {
    let env = Env::new(&["nodeware"]);
    if !policy.is_empty() {
        env.set_policy(policy);
    }
    env.run(&["connect", "nodeware"], 0);
    let mut args = vec!["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"];
    args.extend_from_slice(map_args);
    env.run(&args, 0);
    env
}

fn addition(env: &Env, id: i64) -> Value {
    env.sandbox.connectwise_additions().into_iter().find(|a| a["id"] == id).unwrap()
}

fn line<'a>(plan: &'a Value, company: &str) -> &'a Value {
    plan["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["company"] == company && l["product"] == "NODEWARE-VMS")
        .unwrap()
}

fn held_id(env: &Env, company: &str) -> i64 {
    let held = env.run_json(&["review"], 0);
    held.as_array().unwrap().iter().find(|c| c["company"] == company).unwrap()["id"].as_i64().unwrap()
}

#[test]
fn a_held_change_keeps_its_id_and_a_dry_run_exits_0() {
    let env = nodeware_with("[sync]\ndecreases = \"review\"", &[]);
    let dry = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(
        line(&dry, "Smith & Whitfield Attorneys")["action"],
        "held",
        "a dry run shows what would be held"
    );
    env.run(&["sync", "--yes"], 4);
    let first = held_id(&env, "Smith & Whitfield Attorneys");
    env.run(&["sync", "--yes"], 4);
    env.run(&["sync", "--yes"], 4);
    assert_eq!(held_id(&env, "Smith & Whitfield Attorneys"), first, "the same proposal keeps its id");
    assert_eq!(env.run_json(&["review"], 0).as_array().unwrap().len(), 3, "held once each, not duplicated");
    // Yesterday's id still works.
    env.run(&["approve", &first.to_string()], 0);
    assert_eq!(addition(&env, SMITH_ADDITION)["quantity"], 18);
    // A new proposal for the line supersedes the old one.
    let blue = held_id(&env, "Blue Ridge Credit Union");
    assert!(env.sandbox.set_vendor_quantity(
        "nodeware",
        "00959f2761210c1e7cc5b8ac178adc60",
        "internal",
        json!(55)
    ));
    let plan = env.run_json(&["sync", "--yes"], 4);
    assert_eq!(line(&plan, "Blue Ridge Credit Union")["after"], 63, "{plan}");
    assert_ne!(held_id(&env, "Blue Ridge Credit Union"), blue, "another quantity is another proposal");
    let table = env.run(&["review"], 0);
    assert!(table.contains(&format!("supersedes change {blue}")), "review says so:\n{table}");
}

#[test]
fn a_rejection_sticks_until_the_vendor_moves() {
    let env = nodeware_with("[sync]\ndecreases = \"review\"", &[]);
    env.run(&["sync", "--yes"], 4);
    let smith = held_id(&env, "Smith & Whitfield Attorneys");
    env.run(&["reject", &smith.to_string()], 0);
    let plan = env.run_json(&["sync", "--yes"], 4);
    let line = line(&plan, "Smith & Whitfield Attorneys");
    assert_eq!((line["action"].as_str(), line["reason_code"].as_str()), (Some("skipped"), Some("rejected")));
    assert!(
        env.run_json(&["review"], 0)
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["company"] != "Smith & Whitfield Attorneys")
    );
    let all = env.run_json(&["review", "--all"], 0);
    assert!(all.as_array().unwrap().iter().any(|c| c["id"] == smith && c["state"] == "rejected"), "{all}");
    assert_eq!(addition(&env, SMITH_ADDITION)["quantity"], 25);
    // The vendor moves: planned afresh.
    assert!(env.sandbox.set_vendor_quantity(
        "nodeware",
        "2237b90ea77267799e5d575c01e1bf58",
        "internal",
        json!(10)
    ));
    let plan = env.run_json(&["sync", "--yes"], 4);
    assert_eq!(line_action(&plan, "Smith & Whitfield Attorneys"), "held");
}

fn line_action(plan: &Value, company: &str) -> String {
    line(plan, company)["action"].as_str().unwrap().to_string()
}

#[test]
fn a_refused_approve_leaves_review_and_the_next_sync_plans_from_connectwise() {
    let env = nodeware_with("[sync]\ndecreases = \"review\"", &[]);
    env.run(&["sync", "--yes"], 4);
    let smith = held_id(&env, "Smith & Whitfield Attorneys");
    assert!(env.sandbox.update_connectwise("addition", SMITH_ADDITION, json!({"quantity": 30})));
    let out = env.recon(&["approve", &smith.to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ConnectWise now holds 30"), "{text}");
    assert!(
        env.run_json(&["review"], 0).as_array().unwrap().iter().all(|c| c["id"] != smith),
        "it left review"
    );
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(
        line(&plan, "Smith & Whitfield Attorneys")["before"],
        30,
        "planned from what ConnectWise holds now"
    );
}

#[test]
fn an_excluded_account_is_never_mapped_matched_or_billed() {
    let env = nodeware_with("", &[]);
    let out = env.run(
        &[
            "map",
            "accounts",
            "--vendor",
            "nodeware",
            "--exclude",
            "O'Brien & Sons",
            "--reason",
            "our own office",
        ],
        0,
    );
    assert!(out.contains("Excluded") && out.contains("our own office"), "{out}");
    let listed = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    let obrien = listed.as_array().unwrap().iter().find(|a| a["account_id"] == OBRIEN_ID).unwrap();
    assert_eq!(
        (obrien["how"].as_str(), obrien["note"].as_str()),
        (Some("excluded"), Some("excluded: our own office"))
    );
    let unmatched = env.run_json(&["map", "accounts", "--vendor", "nodeware", "--unmatched"], 0);
    assert!(unmatched.as_array().unwrap().iter().all(|a| a["account_id"] != OBRIEN_ID), "not unmatched");
    env.run(&["map", "accounts", "--vendor", "nodeware", "--auto"], 0);
    env.run(&["connect", "nodeware"], 0);
    let plan = env.run_json(&["sync", "--yes"], 0);
    assert!(
        plan["lines"].as_array().unwrap().iter().all(|l| l["company"] != "O'Brien & Sons"),
        "never planned"
    );
    assert_eq!(addition(&env, OBRIEN_ADDITION)["quantity"], 50, "never billed");
    let refused = env
        .recon(&["map", "accounts", "--vendor", "nodeware", "--set", OBRIEN_ID, "--company", "254"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    env.run(&["map", "accounts", "--vendor", "nodeware", "--include", OBRIEN_ID], 0);
    env.run(&["map", "accounts", "--vendor", "nodeware", "--auto"], 0);
    env.run(&["sync", "--yes"], 0);
    assert_eq!(addition(&env, OBRIEN_ADDITION)["quantity"], 59, "billed again once included");
}

#[test]
fn a_minimum_and_a_bill_setting_per_service_mapping() {
    let env = nodeware_with("", &["--minimum", "20", "--bill-customer", "DoNotBill"]);
    let services = env.run(&["map", "services", "--vendor", "nodeware"], 0);
    assert!(services.contains("20") && services.contains("DoNotBill"), "{services}");
    let plan = env.run_json(&["sync", "--yes"], 0);
    let cafe = line(&plan, "Café Lumière");
    assert_eq!(
        (cafe["action"].as_str(), cafe["after"].as_i64(), cafe["minimum"].as_i64()),
        (Some("add"), Some(20), Some(20))
    );
    assert_eq!(cafe["sources"][0]["quantity"], 13, "the vendor's own figure is kept");
    let created: Vec<Value> = env
        .sandbox
        .connectwise_additions()
        .into_iter()
        .filter(|a| a["agreementId"] == CAFE_AGREEMENT && a["product"]["identifier"] == "NODEWARE-VMS")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0]["quantity"].as_i64(), created[0]["billCustomer"].as_str()),
        (Some(20), Some("DoNotBill"))
    );
}

#[test]
fn a_money_threshold_and_a_per_vendor_override() {
    // O'Brien 50 -> 59 at 3.00 is +27.00 a month; Smith 25 -> 18 is -21.00.
    let env = nodeware_with(
        "[sync]\ndecreases = \"apply\"\nmax_change_percent = false\nmax_change_amount = 25",
        &[],
    );
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let obrien = line(&plan, "O'Brien & Sons");
    assert_eq!(obrien["action"], "held");
    assert!(obrien["reason"].as_str().unwrap().contains("exceeds max_change_amount = 25"), "{obrien}");
    assert_eq!(line_action(&plan, "Smith & Whitfield Attorneys"), "update");
    // The vendor's own section lifts the limit.
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&format!("{text}\n[sync.vendors.nodeware]\nmax_change_amount = false\n"));
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(line_action(&plan, "O'Brien & Sons"), "update");
}

#[test]
fn an_addition_changed_outside_recon_is_held_or_applied_as_configured() {
    let env = nodeware_with("[sync]\ndecreases = \"apply\"\nmax_change_percent = false", &[]);
    env.run(&["sync", "--yes"], 0);
    assert_eq!(addition(&env, OBRIEN_ADDITION)["quantity"], 59);
    // Another integration sets it to 61; Nodeware still says 59.
    assert!(env.sandbox.update_connectwise("addition", OBRIEN_ADDITION, json!({"quantity": 61})));
    let plan = env.run_json(&["sync", "--yes"], 4);
    let obrien = line(&plan, "O'Brien & Sons");
    assert_eq!(obrien["action"], "held");
    let run = plan["run_id"].as_i64().unwrap() - 1;
    assert!(
        obrien["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("changed in the PSA since run {run} (was 59, now 61)")),
        "{obrien}"
    );
    assert_eq!(addition(&env, OBRIEN_ADDITION)["quantity"], 61, "not overwritten");
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(
        &text
            .replace("max_change_percent = false", "max_change_percent = false\noutside_changes = \"apply\""),
    );
    env.run(&["sync", "--yes"], 0);
    assert_eq!(addition(&env, OBRIEN_ADDITION)["quantity"], 59, "outside_changes = apply overwrites");
}

#[test]
fn free_seats_in_a_file_export_are_not_billed_and_are_named() {
    let env = Env::new(&["nordpass"]);
    let export = std::fs::read_to_string(env.sandbox.nordpass_csv_path()).unwrap();
    // Add NordPass's licence-type column: Acme Dental is on a trial.
    let mut rows: Vec<String> = Vec::new();
    for (i, row) in export.lines().enumerate() {
        let kind = match i {
            0 => "Type",
            _ if row.starts_with("Acme Dental,") => "Trial",
            _ => "Standard",
        };
        rows.push(format!("{row},{kind}"));
    }
    let file = env.dir.path().join("nordpass-usage.csv");
    std::fs::write(&file, rows.join("\n") + "\n").unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(
        &text
            .replace(&env.sandbox.nordpass_csv_path().to_string_lossy().to_string(), &file.to_string_lossy()),
    );
    env.run(&["connect", "nordpass"], 0);
    for (vendor, service, product) in recon_sandbox::SERVICE_PRODUCTS {
        if vendor == "nordpass" {
            env.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product], 0);
        }
    }
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let notes = plan["vendor_notes"]["nordpass"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("\"Acme Dental\" (business) is Trial and not billed")),
        "{notes:?}"
    );
    let acme: Vec<&Value> =
        plan["lines"].as_array().unwrap().iter().filter(|l| l["company"] == "Acme Dental").collect();
    assert!(acme.iter().all(|l| !matches!(l["action"].as_str(), Some("add" | "update"))), "{acme:?}");
    assert!(
        plan["lines"].as_array().unwrap().iter().any(|l| l["company"] == "Smith & Whitfield Attorneys"),
        "the others bill"
    );
}
