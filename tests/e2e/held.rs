//! Held changes wait for a person across syncs of other vendors: a run supersedes only the
//! held changes whose lines it planned afresh, from the vendors it fetched (issue 25).

use crate::harness::Env;
use recon_sandbox::{SYNC_PUSH_EVERYTHING, Sandbox};
use serde_json::Value;
use std::collections::BTreeSet;

/// Nodeware and Huntress connected and mapped, with `policy` as the `[sync]` section.
fn env_with(policy: &str, extra_maps: &[(&str, &str, &str)]) -> Env {
    let sandbox = Sandbox::start().unwrap();
    let text = sandbox.config_toml_for(&["nodeware", "huntress"]).replace(SYNC_PUSH_EVERYTHING, policy);
    let env = Env::with_config(sandbox, &text);
    env.run(&["connect", "nodeware"], 0);
    env.run(&["connect", "huntress"], 0);
    let maps =
        recon_sandbox::SERVICE_PRODUCTS.iter().filter(|(v, _, _)| ["nodeware", "huntress"].contains(v));
    // An extra mapping of a service already mapped replaces it: --yes, as a script must say.
    for (vendor, service, product) in maps.chain(extra_maps) {
        env.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product, "--yes"], 0);
    }
    env
}

/// The ids of the held changes `recon review` lists.
fn waiting(env: &Env) -> BTreeSet<i64> {
    let held = env.run_json(&["review"], 0);
    held.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[test]
fn a_sync_of_one_vendor_keeps_another_vendors_held_changes_waiting() {
    let env = env_with("\n[sync]\ndecreases = \"review\"\nmax_change_percent = false\n", &[]);
    env.run(&["sync", "--vendor", "nodeware", "--yes"], 4);
    let nodeware = waiting(&env);
    assert_eq!(nodeware.len(), 3, "Smith & Whitfield, Blue Ridge, Silverline: {nodeware:?}");
    // Huntress's run holds its own decreases and leaves Nodeware's waiting, with their ids.
    env.run(&["sync", "--vendor", "huntress", "--yes"], 4);
    let after = waiting(&env);
    assert!(nodeware.is_subset(&after), "nodeware's held changes still wait: {nodeware:?} / {after:?}");
    assert!(after.len() > nodeware.len(), "and huntress's wait beside them");
    // A full sync plans every line afresh: the same proposals keep their ids, none doubles.
    env.run(&["sync", "--yes"], 4);
    assert_eq!(waiting(&env), after);
}

#[test]
fn a_line_fed_by_two_vendors_keeps_its_held_change_when_only_one_is_synced() {
    // Huntress's EDR agents feed the NODEWARE-VMS lines too: Acme's line is 43 + 12 = 55, an
    // increase held for review.
    let env = env_with(
        "\n[sync]\nincreases = \"review\"\ndecreases = \"review\"\nmax_change_percent = false\n",
        &[("huntress", "edr-agents", "NODEWARE-VMS")],
    );
    env.run(&["sync", "--yes"], 4);
    let held: Value = env.run_json(&["review"], 0);
    let acme = held
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["company"] == "Acme Dental" && c["product"] == "NODEWARE-VMS")
        .unwrap_or_else(|| panic!("{held:#}"))["id"]
        .as_i64()
        .unwrap();
    // A Nodeware-only run cannot plan that line (Huntress's share is unknown): it still waits.
    env.run(&["sync", "--vendor", "nodeware", "--yes"], 4);
    assert!(waiting(&env).contains(&acme), "the line fed by both keeps its held change {acme}");
}
