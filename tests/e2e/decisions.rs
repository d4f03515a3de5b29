//! Decisions that stick and numbers that tell the truth (issue 26), on ConnectWise and on
//! Autotask: what an undo is worth, an unmap that stays unmapped, a remap that says what it
//! replaces, and usage nobody bills.

use crate::harness::{Env, PSAS};
use serde_json::Value;

/// A sandbox of `psa` with only Nodeware configured (the push-everything policy), Nodeware
/// connected and its `vms` service mapped to NODEWARE-VMS.
fn nodeware_on(psa: &str) -> Env {
    vendors_on(psa, &["nodeware"])
}

/// The same with these vendors configured (Nodeware among them, the only one connected).
fn vendors_on(psa: &str, vendors: &[&str]) -> Env {
    let env = Env::on(psa, vendors);
    env.connect_nodeware();
    env
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn an_undo_carries_the_money_of_what_it_reverses() {
    for psa in PSAS {
        let env = nodeware_on(psa);
        let sync = env.run_json(&["sync", "--yes"], 0);
        let pushed = number(&sync["totals"]["net"]);
        assert!(pushed > 0.0, "{psa}: the sync adds revenue: {}", sync["totals"]);
        let run = sync["run_id"].to_string();

        let shown = env.run(&["undo", &run], 0);
        assert!(shown.contains(&format!("net -{pushed:.2}")), "{psa}: {shown}");
        let undo = env.run_json(&["undo", &run, "--yes"], 0);
        let undo_run = undo["run_id"].to_string();

        let history = env.run_json(&["history", &undo_run], 0);
        let totals = &history["applied_totals"];
        assert_eq!(number(&totals["net"]), -pushed, "{psa}: {totals}");
        assert_eq!(totals["unpriced"], 0, "{psa}");
        assert_eq!(number(&totals["by_vendor"]["nodeware"]), -pushed, "{psa}: {totals}");
        let by_company: f64 = totals["by_company"].as_object().unwrap().values().map(number).sum();
        assert!((by_company + pushed).abs() < 0.005, "{psa}: the companies add up: {totals}");
        for change in history["changes"].as_array().unwrap().iter().filter(|c| c["state"] == "applied") {
            let price = number(&change["unit_price"]);
            let moved = number(&change["billed_after"]) - number(&change["billed_before"]);
            assert_eq!(number(&change["revenue_change"]), price * moved, "{psa}: {change}");
        }

        let page = env.dir.path().join("undo.html");
        env.run(&["report", &undo_run, "--output", page.to_str().unwrap()], 0);
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(!html.contains("No revenue change"), "{psa}: the page shows the money");
        assert!(html.contains(&format!("{pushed:.2}")), "{psa}: the page says {pushed:.2}");
    }
}

/// The row of `map accounts --json` for the account named `name`.
fn account_row(env: &Env, name: &str) -> Value {
    let rows = env.run_json(&["map", "accounts"], 0);
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["account"] == name)
        .unwrap_or_else(|| panic!("{name}: {rows}"))
        .clone()
}

#[test]
fn an_unmap_of_an_auto_matched_account_sticks_until_it_is_set() {
    for psa in PSAS {
        let env = nodeware_on(psa);
        assert_eq!(account_row(&env, "Acme Dental")["how"], "auto", "{psa}");

        let said = env.run(&["map", "accounts", "--unmap", "Acme Dental"], 0);
        assert!(said.contains("never auto-matched") && said.contains("--exclude"), "{psa}: {said}");

        let again = env.run_json(&["connect", "nodeware"], 0);
        assert_eq!(again["auto_matched"], 0, "{psa}: {again}");
        assert_eq!(again["unmapped_by_hand"], serde_json::json!(["Acme Dental (Acme Dental)"]), "{psa}");
        let auto = env.run_json(&["map", "accounts", "--auto"], 0);
        assert_eq!(auto["auto_matched"], 0, "{psa}: {auto}");
        let row = account_row(&env, "Acme Dental");
        assert_eq!(
            (row["company"].as_str(), row["how"].as_str()),
            (Some("-"), Some("unmapped")),
            "{psa}: {row}"
        );
        let listed = env.run(&["map", "accounts", "--unmatched"], 0);
        assert!(listed.contains("unmapped by hand from Acme Dental"), "{psa}: {listed}");
        // Its usage is not billed to that company: the plan has no line for it.
        let plan = env.run_json(&["sync", "--dry-run"], 0);
        let lines = plan["lines"].as_array().unwrap();
        assert!(!lines.iter().any(|l| l["company"] == "Acme Dental"), "{psa}: {plan}");

        // A --set of the pair is a person's decision again: mapped, and auto-matching may keep it.
        env.run(&["map", "accounts", "--set", "Acme Dental", "--company", "Acme Dental"], 0);
        assert_eq!(account_row(&env, "Acme Dental")["how"], "manual", "{psa}");
        env.run(&["connect", "nodeware"], 0);
        assert_eq!(account_row(&env, "Acme Dental")["company"], "Acme Dental", "{psa}");
    }
}

#[test]
fn unmatched_accounts_keep_their_ids_whole_at_80_and_120_columns() {
    for psa in PSAS {
        let env = nodeware_on(psa);
        let unmatched = env.run_json(&["map", "accounts", "--unmatched"], 0);
        let ids: Vec<&str> =
            unmatched.as_array().unwrap().iter().map(|r| r["account_id"].as_str().unwrap()).collect();
        assert!(ids.len() >= 3, "{psa}: {unmatched}");
        for columns in ["80", "120"] {
            let out =
                env.recon(&["map", "accounts", "--unmatched"]).env("COLUMNS", columns).output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            for id in &ids {
                assert!(text.lines().any(|l| l.contains(id)), "{psa} at {columns}: {id} cut:\n{text}");
            }
            for line in text.lines() {
                let width = line.chars().count();
                let indent = width - line.trim_start().chars().count();
                assert!(width <= columns.parse().unwrap(), "{psa} at {columns}: too wide: {line:?}");
                assert!(indent == 0 || indent == 4, "{psa} at {columns}: a stray indent: {line:?}\n{text}");
            }
        }
    }
}

/// The product `vms` is mapped to, as `map services --json` lists it ("NODEWARE-VMS (id 501)").
fn vms_product(env: &Env) -> String {
    let rows = env.run_json(&["map", "services"], 0);
    let product = &rows.as_array().unwrap().iter().find(|r| r["service"] == "vms").unwrap()["product"];
    product.as_str().unwrap().split(" (id").next().unwrap().to_string()
}

#[test]
fn a_remap_and_a_disconnect_need_a_yes_from_a_script_and_say_what_they_replace() {
    for psa in PSAS {
        let env = nodeware_on(psa);
        let products = env.run_json(&["products"], 0).as_array().unwrap().len();

        // No terminal, no --yes: nothing changes, not even a product created.
        let err = env.stderr_of(&["map", "services", "--set", "vms", "--product", "HUNTRESS-EDR"], 2);
        assert!(err.contains("was NODEWARE-VMS") && err.contains("--yes"), "{psa}: {err}");
        assert_eq!(vms_product(&env), "NODEWARE-VMS", "{psa}");
        // (Autotask: recon creates no Service there, and says so before asking anything.)
        let err = env.stderr_of(&["map", "services", "--set", "vms", "--create-product", "VMS-NEW"], 2);
        let says = if psa == "autotask" { "cannot create a Service in Autotask" } else { "--yes" };
        assert!(err.contains(says), "{psa}: {err}");
        let now = env.run_json(&["products"], 0).as_array().unwrap().len();
        assert_eq!(now, products, "{psa}: no product was created");

        // Setting the same product again is no replacement: it needs nothing.
        env.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS", "--minimum", "5"], 0);

        let said = env.run(&["map", "services", "--set", "vms", "--product", "HUNTRESS-EDR", "--yes"], 0);
        assert!(said.contains("was NODEWARE-VMS"), "{psa}: {said}");
        assert_eq!(vms_product(&env), "HUNTRESS-EDR", "{psa}");
        let json =
            env.run_json(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS", "--yes"], 0);
        assert_eq!(json["replaced"], "HUNTRESS-EDR", "{psa}: {json}");

        // An account set to another company says what it was.
        let said =
            env.run(&["map", "accounts", "--set", "Acme Dental", "--company", "Coastal Orthodontics"], 0);
        assert!(said.contains("was Acme Dental"), "{psa}: {said}");

        let err = env.stderr_of(&["disconnect", "nodeware"], 2);
        assert!(err.contains("--yes"), "{psa}: {err}");
        let status = env.run_json(&["status"], 0);
        assert!(status.to_string().contains("nodeware"), "{psa}: still connected: {status}");
        assert_eq!(vms_product(&env), "NODEWARE-VMS", "{psa}: the mappings are kept");
        env.run(&["disconnect", "nodeware", "--yes"], 0);
        assert!(env.run_json(&["map", "services"], 0).as_array().unwrap().is_empty(), "{psa}");
    }
}

/// On a terminal, a remap asks; "n" changes nothing.
#[test]
fn on_a_terminal_a_remap_asks_first() {
    let env = nodeware_on("connectwise");
    let (code, screen) = env.on_a_terminal("map services --set vms --product HUNTRESS-EDR", "n\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("was NODEWARE-VMS") && screen.contains("[y/N]"), "{screen}");
    assert!(screen.contains("Nothing changed"), "{screen}");
    assert_eq!(vms_product(&env), "NODEWARE-VMS");
}
