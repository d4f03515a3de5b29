//! Microsoft 365 through the distributors: Pax8 and Sherweb against their sandbox fakes.
//! Subscriptions of one product add up and show their parts, a committed decrease is held
//! with its end date, a cancelled subscription is 0, costs and prices are compared (findings,
//! never writes), and no client secret, subscription key or token is ever shown or stored.

use crate::harness::{Env, line};
use recon_sandbox::{PAX8_M365_BP, Sandbox, SandboxOptions};
use serde_json::Value;
use std::time::Duration;

fn distributors(sandbox: Sandbox) -> Env {
    distributors_with(sandbox, "")
}

/// `sync_keys` go in the `[sync]` section (the config's last).
fn distributors_with(sandbox: Sandbox, sync_keys: &str) -> Env {
    let text = format!("{}{sync_keys}", sandbox.config_toml_for(&["pax8", "sherweb"]));
    Env::with_distributors(sandbox, &text)
}

fn codes(line: &Value) -> Vec<&str> {
    line["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["code"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn distributor_seats_add_up_commitments_hold_decreases_and_costs_are_findings() {
    let env = distributors(Sandbox::start().unwrap());
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    // Monthly + annual of one product add up, and the parts are shown.
    let obrien = line(&plan, "O'Brien & Sons");
    assert_eq!(
        (obrien["action"].as_str(), obrien["before"].as_i64(), obrien["after"].as_i64()),
        (Some("update"), Some(42), Some(45))
    );
    let parts = obrien["sources"][0]["parts"].as_array().unwrap();
    let terms: Vec<(&str, i64)> =
        parts.iter().map(|p| (p["term"].as_str().unwrap(), p["quantity"].as_i64().unwrap())).collect();
    assert_eq!(terms, vec![("Monthly", 10), ("Annual", 35)]);
    // A decrease under an annual commitment is held with its end date, whatever the policy.
    for company in ["Greenfield Accounting LLC", "Sunrise Dermatology"] {
        let held = line(&plan, company);
        assert_eq!(held["action"], "held", "{held}");
        assert!(held["reason"].as_str().unwrap().contains("committed until"), "{held}");
    }
    // A cancelled subscription: its seats are 0, and the line goes down (monthly, no commitment).
    let redwood = line(&plan, "Redwood Insurance Agency");
    assert_eq!((redwood["action"].as_str(), redwood["after"].as_i64()), (Some("update"), Some(0)));
    // Costs: the vendor's beside the PSA's, and the price beside the cost.
    assert_eq!(codes(line(&plan, "Smith & Whitfield Attorneys")), vec!["cost_differs"]);
    assert_eq!(codes(line(&plan, "Coastal Orthodontics")), vec!["cost_differs", "below_cost"]);
    assert!(codes(line(&plan, "Café Lumière")).is_empty(), "a matching cost is no finding");
    // An increase through Sherweb.
    let bell = line(&plan, "Bellweather Architects");
    assert_eq!((bell["action"].as_str(), bell["after"].as_i64()), (Some("update"), Some(41)));

    // The push writes quantities only: prices and costs stay as they were; held lines wait.
    let out = env.recon(&["--json", "sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "held changes: exit 4");
    let additions = env.sandbox.connectwise_additions();
    let addition = |id: i64| additions.iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(addition(7006)["quantity"], 45.0, "O'Brien & Sons");
    assert_eq!(addition(7025)["quantity"], 12.0, "Greenfield's committed seats stay");
    assert_eq!(
        (addition(7030)["unitCost"].as_f64(), addition(7030)["unitPrice"].as_f64()),
        (Some(20.0), Some(22.0))
    );

    // The report shows the findings and the commitment that ends within 30 days.
    let report: Value = serde_json::from_str(&env.run(&["report", "--format", "json"], 0)).unwrap();
    let found: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["company"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    assert!(found.contains(&("Coastal Orthodontics", "below_cost")), "{found:?}");
    assert!(found.contains(&("Smith & Whitfield Attorneys", "cost_differs")), "{found:?}");
    let ending: Vec<&str> = report["commitments_ending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["company"].as_str().unwrap())
        .collect();
    assert_eq!(ending, vec!["Peña Construction"]);
    let csv = env.run(&["report", "--format", "csv"], 0);
    assert!(csv.lines().next().unwrap().contains("finding_codes"));
    assert!(csv.contains("cost_differs;below_cost"), "{csv}");
    let page = env.run(&["report", "--format", "html"], 0);
    assert!(
        page.contains("Pricing and margin issues (2)")
            && page.contains("Commitments ending in the next 30 days (1)")
    );

    // The mapping may let committed decreases through: then it is an update like any other.
    env.run(
        &[
            "map",
            "services",
            "--vendor",
            "pax8",
            "--set",
            PAX8_M365_BP,
            "--product",
            "M365-BP",
            "--committed-decreases",
            "apply",
        ],
        0,
    );
    let again = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(line(&again, "Greenfield Accounting LLC")["action"], "update");
    assert_eq!(line(&again, "Sunrise Dermatology")["action"], "held", "the Sherweb mapping still holds");
}

#[test]
fn an_unknown_seat_count_is_never_zero_and_a_conflicting_subscription_is_never_merged() {
    // One failed customer of ten must not fail the whole vendor here.
    let env = distributors_with(Sandbox::start().unwrap(), "max_failed_accounts_percent = 50\n");
    // O'Brien's annual subscription loses its quantity; St. Mary's gets a second record with
    // the same id and another quantity.
    assert!(env.sandbox.set_pax8_subscription("s-1002", "quantity", Value::Null));
    env.sandbox.push_pax8_subscription(serde_json::json!({
        "id": "s-1009", "companyId": "c0264", "productId": PAX8_M365_BP, "quantity": 99,
        "status": "Active", "billingTerm": "Monthly", "partnerCost": 20.0,
    }));
    let out = env.recon(&["--json", "sync", "--dry-run"]).output().unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let obrien = line(&plan, "O'Brien & Sons");
    assert_eq!(obrien["action"], "skipped", "10 + an unknown is unknown, never 10: {obrien}");
    assert_eq!(obrien["reason_code"], "usage_unknown");
    let mary = line(&plan, "St. Mary's Academy");
    assert_eq!(mary["action"], "skipped", "{mary}");
    assert!(mary["reason"].as_str().unwrap().contains("listed twice with different records"), "{mary}");
    // A cancelled subscription beside an active one of the same product: only the active counts.
    assert!(env.sandbox.set_pax8_subscription("s-1002", "quantity", serde_json::json!(35)));
    assert!(env.sandbox.set_pax8_subscription("s-1001", "status", serde_json::json!("Cancelled")));
    let plan = env.run_json(&["sync", "--dry-run"], 1);
    assert_eq!(line(&plan, "O'Brien & Sons")["after"], 35);
}

#[test]
fn a_refused_token_names_the_keys_to_renew_and_an_expired_one_is_fetched_again() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        latency: Duration::from_millis(600),
        ..SandboxOptions::default()
    })
    .unwrap();
    sandbox.set_distributor_token_lifetime(Duration::from_secs(1));
    let env = distributors(sandbox);
    let issued = env.sandbox.distributor_tokens_issued();
    env.run(&["sync", "--dry-run"], 0);
    assert!(env.sandbox.distributor_tokens_issued() > issued + 2, "expired tokens were replaced");

    // What each vendor answers, from its registration.
    let rows = env.run_json(&["check"], 0);
    let answers = |name: &str| {
        rows.as_array().unwrap().iter().find(|r| r["target"] == name).unwrap()["answers"].clone()
    };
    assert_eq!(
        answers("pax8"),
        serde_json::json!(["live counts", "invoiced months", "costs", "commitments"])
    );

    let wrong =
        env.sandbox.config_toml_for(&["pax8"]).replace("sandbox-pax8-client-secret", "not-the-secret");
    env.set_config(&wrong);
    let out = env.recon(&["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("renew the API credentials in Pax8")
            && text.contains("[vendors.pax8] client_id and client_secret"),
        "{text}"
    );
}

#[test]
fn no_distributor_secret_or_token_leaks() {
    let keys = recon_sandbox::Credentials {
        pax8_client_secret: "CANARY-pax8-secret-7d21".into(),
        sherweb_client_secret: "CANARY-sherweb-secret-44ac".into(),
        sherweb_subscription_key: "CANARY-sherweb-key-0be9".into(),
        ..recon_sandbox::Credentials::default()
    };
    let sandbox =
        Sandbox::start_with(SandboxOptions { credentials: keys, ..SandboxOptions::default() }).unwrap();
    let text = sandbox.config_toml_for(&["pax8", "sherweb"]);
    let env = Env::with_config(sandbox, &text);
    let mut seen = String::new();
    for args in [
        vec!["-v", "check"],
        vec!["-v", "connect", "pax8"],
        vec!["-v", "connect", "sherweb"],
        vec!["-v", "map", "services", "--vendor", "pax8", "--set", PAX8_M365_BP, "--product", "M365-BP"],
        vec!["-v", "--json", "sync", "--yes"],
        vec!["-v", "report", "--format", "json"],
    ] {
        let out = env.recon(&args).output().unwrap();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    seen.push_str(&String::from_utf8_lossy(&std::fs::read(&env.db).unwrap()));
    for canary in [
        "CANARY-pax8-secret-7d21",
        "CANARY-sherweb-secret-44ac",
        "CANARY-sherweb-key-0be9",
        "pax8-token-",
        "sherweb-token-",
    ] {
        assert!(!seen.contains(canary), "{canary} leaked");
    }
}

#[test]
fn with_update_costs_a_differing_cost_is_a_held_change_of_the_line_cost_only() {
    let env = distributors_with(Sandbox::start().unwrap(), "update_costs = true\n");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let cost_lines: Vec<&Value> =
        plan["lines"].as_array().unwrap().iter().filter(|l| l["new_unit_cost"].is_number()).collect();
    let companies: Vec<&str> = cost_lines.iter().map(|l| l["company"].as_str().unwrap()).collect();
    assert_eq!(companies, vec!["Coastal Orthodontics", "Smith & Whitfield Attorneys"], "{plan:#}");
    assert!(cost_lines.iter().all(|l| l["action"] == "held" && l["before"] == l["after"]));
    assert_eq!(cost_lines[1]["new_unit_cost"], 20.9);
    // The push writes no cost: a cost change always waits for a person.
    env.run(&["sync", "--yes"], 4);
    let addition = |id: i64| env.sandbox.connectwise_additions().into_iter().find(|a| a["id"] == id).unwrap();
    assert_eq!(addition(7014)["unitCost"], 20.0);
    let held = env.run_json(&["review"], 0);
    let smith = held
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["company"] == "Smith & Whitfield Attorneys" && c["new_unit_cost"].is_number())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    env.run(&["approve", &smith.to_string()], 0);
    assert_eq!(
        (addition(7014)["unitCost"].as_f64(), addition(7014)["quantity"].as_f64()),
        (Some(20.9), Some(15.0))
    );
    // The cost now matches: no finding, no cost change for Smith & Whitfield.
    let again = env.run_json(&["sync", "--dry-run"], 0);
    let smith_lines: Vec<&Value> = again["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["company"] == "Smith & Whitfield Attorneys")
        .collect();
    assert_eq!(smith_lines.len(), 1, "{smith_lines:#?}");
    assert!(smith_lines[0]["findings"].is_null(), "{smith_lines:#?}");
    // Undo of the approval sets the cost back.
    let runs = env.run_json(&["history"], 0);
    let approval =
        runs.as_array().unwrap().iter().find(|r| r["kind"] == "approve").unwrap()["id"].as_i64().unwrap();
    env.run(&["undo", &approval.to_string(), "--yes"], 0);
    assert_eq!(addition(7014)["unitCost"], 20.0);
}
