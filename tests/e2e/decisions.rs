//! Decisions that stick and numbers that tell the truth (issue 26), on ConnectWise and on
//! Autotask: what an undo is worth, an unmap that stays unmapped, a remap that says what it
//! replaces, and usage nobody bills.

use crate::harness::Env;
use recon_sandbox::Sandbox;
use serde_json::Value;

/// The PSAs these hold on: recon's own words for them, as `--psa` takes them.
const PSAS: [&str; 2] = ["connectwise", "autotask"];

/// A sandbox of `psa` with only Nodeware configured (the push-everything policy), Nodeware
/// connected and its `vms` service mapped to NODEWARE-VMS.
fn nodeware_on(psa: &str) -> Env {
    let sandbox = Sandbox::start().unwrap();
    let text = match psa {
        "autotask" => sandbox.autotask_config_toml_for(&["nodeware"]),
        _ => sandbox.config_toml_for(&["nodeware"]),
    };
    Env::with_nodeware(sandbox, &text)
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
