//! Mapping by hand: references by name, identifier or id; ambiguity is an error that lists
//! the candidates; agreements chosen explicitly.

use crate::harness::Env;

fn connected() -> Env {
    let env = Env::new(&["nodeware"]);
    env.connect_nodeware();
    env
}

#[test]
fn an_ambiguous_company_name_lists_the_candidates() {
    let env = connected();
    let out = env
        .recon(&[
            "map",
            "accounts",
            "--vendor",
            "nodeware",
            "--set",
            "Summit Dental",
            "--company",
            "Summit Dental",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("252") && err.contains("253"), "{err}");
    // The id settles it.
    env.run(&["map", "accounts", "--vendor", "nodeware", "--set", "Summit Dental", "--company", "252"], 0);
    let accounts = env.run_json(&["map", "accounts", "--vendor", "nodeware", "--search", "summit"], 0);
    assert_eq!(accounts[0]["how"], "manual");
}

#[test]
fn several_agreements_need_one_chosen() {
    let env = connected();
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let harbor = plan["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["company"] == "Harbor Law Group LLP")
        .unwrap()
        .clone();
    assert_eq!(harbor["action"], "skipped");

    env.run(
        &[
            "map",
            "accounts",
            "--set",
            "harbor law group llp",
            "--company",
            "Harbor Law Group LLP",
            "--agreement",
            "3006",
        ],
        0,
    );
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let harbor = plan["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["company"] == "Harbor Law Group LLP")
        .unwrap()
        .clone();
    assert_eq!(harbor["agreement_id"], 3006);
    assert_ne!(harbor["action"], "skipped");
    assert_eq!(harbor["after"], 32);
}

#[test]
fn unmapping_removes_the_line_and_status_follows() {
    let env = connected();
    env.run(&["map", "accounts", "--unmap", "Acme Dental"], 0);
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert!(!plan["lines"].as_array().unwrap().iter().any(|l| l["company"] == "Acme Dental"));
    env.run(&["map", "services", "--unmap", "vms"], 0);
    assert_eq!(env.run_json(&["status"], 0)[0]["status"], "pending");
}

#[test]
fn unknown_products_and_inactive_products_are_refused() {
    let env = connected();
    let out = env.recon(&["map", "services", "--set", "vms", "--product", "NO-SUCH-THING"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO-SUCH-THING"));
    let out = env.recon(&["map", "services", "--set", "vms", "--product", "OLD-AV"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inactive"));
}

#[test]
fn disconnect_forgets_and_connect_starts_again() {
    let env = connected();
    let out = env.run(&["disconnect", "nodeware", "--yes"], 0);
    assert!(out.contains("Disconnected nodeware"), "{out}");
    assert_eq!(env.run_json(&["status"], 0)[0]["status"], "inactive");
    assert_eq!(env.run_json(&["map", "accounts"], 0).as_array().unwrap().len(), 0);
    env.run(&["connect", "nodeware"], 0);
    let accounts = env.run_json(&["map", "accounts"], 0);
    assert!(accounts.as_array().unwrap().iter().any(|a| a["how"] == "auto"));
}

#[test]
fn unmatched_accounts_get_suggestions_that_are_never_applied() {
    let env = Env::new(&["huntress"]);
    env.run(&["connect", "huntress"], 0);
    let unmatched = env.run_json(&["map", "accounts", "--unmatched"], 0);
    let cafe = unmatched.as_array().unwrap().iter().find(|a| a["account"] == "Cafe Lumiere").unwrap().clone();
    assert_eq!(cafe["company"], "-", "a suggestion is not a mapping");
    let best = &cafe["suggestions"][0];
    assert_eq!(best["name"], "Café Lumière");
    assert!(best["score"].as_u64().unwrap() >= 90, "{best}");
    let table = env.run(&["map", "accounts", "--unmatched", "--search", "cafe"], 0);
    assert!(table.contains("closest: Café Lumière"), "{table}");
}

#[test]
fn auto_matching_never_overwrites_a_manual_mapping() {
    let env = connected();
    env.run(&["map", "accounts", "--set", "Acme Dental", "--company", "Pinecrest Elementary School"], 0);
    env.run(&["map", "accounts", "--unmap", "Coastal Orthodontics"], 0);
    let out = env.run_json(&["map", "accounts", "--vendor", "nodeware", "--auto"], 0);
    // An unmapped pair is a decision too (issue 26): Coastal Orthodontics is not matched again.
    assert_eq!(out["auto_matched"], 0, "{out}");
    assert_eq!(out["unmapped_by_hand"], 1, "{out}");
    let accounts = env.run_json(&["map", "accounts", "--search", "acme dental"], 0);
    assert_eq!(accounts[0]["company"], "Pinecrest Elementary School");
    assert_eq!(accounts[0]["how"], "manual");
}

#[test]
fn companies_lists_active_agreements() {
    let env = connected();
    let found = env.run_json(&["companies", "--search", "summit dental"], 0);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    let harbor = env.run_json(&["companies", "--search", "Harbor Law"], 0);
    let ids: Vec<i64> =
        harbor[0]["agreements"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [3006, 3007], "agreements are a list in --json: {harbor}");
    let table = env.run(&["companies", "--search", "Harbor Law"], 0);
    assert!(table.contains("(id 3006)") && table.contains("(id 3007)"), "{table}");
}

#[test]
fn create_product_makes_and_maps_a_catalog_product() {
    let env = Env::new(&["nodeware"]);
    env.run(&["connect", "nodeware"], 0);
    let err =
        env.recon(&["map", "services", "--set", "vms", "--create-product", "NW-ASSETS"]).output().unwrap();
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains("product_subcategory_id"));

    let out = env.run_json(
        &[
            "map",
            "services",
            "--set",
            "vms",
            "--create-product",
            "NW-ASSETS",
            "--subcategory",
            "11",
            "--product-type",
            "21",
        ],
        0,
    );
    assert_eq!(out["mapping"]["product_identifier"], "NW-ASSETS");
    assert_eq!(out["status"], "active");
    let posts: Vec<_> = env
        .cw_writes()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_and_query.contains("procurement/catalog"))
        .collect();
    assert_eq!(posts.len(), 1);
    // Asking again reuses it instead of creating a second one.
    env.run(
        &[
            "map",
            "services",
            "--set",
            "vms",
            "--create-product",
            "NW-ASSETS",
            "--subcategory",
            "11",
            "--product-type",
            "21",
        ],
        0,
    );
    let posts =
        env.cw_writes().into_iter().filter(|r| r.path_and_query.contains("procurement/catalog")).count();
    assert_eq!(posts, 1);
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert!(
        plan["lines"].as_array().unwrap().iter().any(|l| l["product"] == "NW-ASSETS" && l["action"] == "add")
    );
}

#[test]
fn reconnecting_keeps_mappings_and_reports_vanished_accounts() {
    let env = connected();
    let before = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    let mapped = before.as_array().unwrap().iter().filter(|a| a["company"] != "-").count();
    env.sandbox.clear_vendor_accounts("nodeware");
    let report = env.run_json(&["connect", "nodeware"], 0);
    assert_eq!(report["vanished"].as_array().unwrap().len(), 26, "{report}");
    let after = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    let kept: Vec<_> = after.as_array().unwrap().iter().filter(|a| a["company"] != "-").collect();
    assert_eq!(kept.len(), mapped, "mappings of vanished accounts are kept");
    let acme = kept.iter().find(|a| a["account"] == "Acme Dental").unwrap();
    assert_eq!(acme["note"], "no longer listed by the vendor");
    // And sync pushes nothing for a vendor that lists nobody.
    let out = env.recon(&["sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(env.cw_writes().is_empty());
}

#[test]
fn a_wrong_agreement_or_product_lists_the_candidates_closest_first() {
    let env = crate::harness::Env::new(&["nodeware"]);
    env.run(&["connect", "nodeware"], 0);
    let fail = |args: &[&str]| {
        let out = env.recon(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = fail(&["map", "services", "--set", "vms", "--product", "NODEWARE-VM"]);
    assert!(err.contains("closest: NODEWARE-VMS ("), "{err}");
    let account = "Brightwater Manufacturing Inc.";
    let err = fail(&["map", "accounts", "--set", account, "--company", "258", "--agreement", "Security"]);
    assert!(err.contains("closest: Security Services (id 3010)"), "the closest first: {err}");
    let err = fail(&["map", "accounts", "--set", account, "--company", "258", "--agreement", "Zzz"]);
    assert!(
        err.contains("Managed Services (id 3009)") && err.contains("Security Services (id 3010)"),
        "{err}"
    );
}

#[test]
fn products_lists_the_catalog_and_the_ids_create_product_needs() {
    let env = crate::harness::Env::new(&["nodeware"]);
    let table = env.run(&["products", "--search", "huntress"], 0);
    assert!(table.contains("HUNTRESS-EDR") && table.contains("4.50"), "{table}");
    assert!(!table.contains("NODEWARE-VMS"), "only what the search names: {table}");
    let json = env.run_json(&["products", "--search", "vms"], 0);
    let vms = &json.as_array().unwrap()[0];
    assert_eq!((vms["identifier"].as_str(), vms["id"].as_i64()), (Some("NODEWARE-VMS"), Some(501)));
    assert_eq!(vms["price"], 3, "money as a number");
    let subcategories = env.run_json(&["products", "--subcategories"], 0);
    let security = subcategories.as_array().unwrap().iter().find(|s| s["name"] == "Security").unwrap();
    assert_eq!(security["id"], 11);
    assert_eq!(security["category"], "Managed Services");
    let types = env.run(&["products", "--types"], 0);
    assert!(types.contains("Recurring") && types.contains("--product-type ID"), "{types}");
    // The ids work: a product created with them maps.
    env.run(&["connect", "nodeware"], 0);
    env.run(
        &[
            "map",
            "services",
            "--set",
            "vms",
            "--create-product",
            "NW-NEW",
            "--subcategory",
            "11",
            "--product-type",
            "21",
        ],
        0,
    );
    assert!(env.run(&["products", "--search", "NW-NEW"], 0).contains("NW-NEW"));
}

#[test]
fn disconnect_asks_on_a_terminal_and_withdraws_the_vendors_held_changes() {
    let env = crate::harness::Env::new(&["nodeware"]);
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace(recon_sandbox::SYNC_PUSH_EVERYTHING, ""));
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    env.run(&["sync", "--yes"], 4);
    let held = env.run_json(&["review"], 0).as_array().unwrap().len();
    assert!(held > 0);

    let (code, screen) = env.on_a_terminal("disconnect nodeware", "n\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("Disconnect nodeware?") && screen.contains(&format!("Its {held} held changes")),
        "{screen}"
    );
    assert!(screen.contains("Nothing changed."), "{screen}");
    assert_eq!(env.run_json(&["review"], 0).as_array().unwrap().len(), held, "no means no");

    let (code, screen) = env.on_a_terminal("disconnect nodeware", "y\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("Disconnected nodeware"), "{screen}");
    assert_eq!(env.run_json(&["review"], 0), serde_json::json!([]), "its held changes left review");
    // Without a terminal (a script) it does not ask; reconnecting works.
    env.run(&["connect", "nodeware"], 0);
    let out = env.run(&["disconnect", "nodeware", "--yes"], 0);
    assert!(out.contains("Disconnected nodeware"), "{out}");
}
