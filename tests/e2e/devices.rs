//! The device lines: an RMM's count of devices shaped into billable lines by the count
//! rules (by class, one count feeding several products, included units), against the
//! sandbox's fake NinjaOne.

use crate::harness::Env;
use serde_json::Value;

fn ninjaone() -> Env {
    let env = Env::new(&["ninjaone"]);
    env.run(&["connect", "ninjaone"], 0);
    env
}

/// The plan's line for `company` and `product`.
fn line<'a>(plan: &'a Value, company: &str, product: &str) -> &'a Value {
    plan["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["company"] == company && l["product"] == product)
        .unwrap_or_else(|| panic!("no {product} line for {company}: {plan}"))
}

fn quantity_and_note(line: &Value) -> (Option<i64>, Option<&str>) {
    (line["after"].as_i64(), line["counted"].as_str())
}

#[test]
fn one_device_count_splits_by_class_feeds_a_second_product_and_bills_over_what_is_included() {
    let env = ninjaone();
    // By class: workstations and servers to their own products.
    let set = |service: &str, rest: &[&str]| {
        let mut args = vec!["map", "services", "--vendor", "ninjaone", "--set", service];
        args.extend_from_slice(rest);
        env.run(&args, 0)
    };
    let out = set("devices", &["--class", "workstation", "--product", "MANAGED-WS"]);
    assert!(out.contains("workstation devices: WINDOWS_WORKSTATION, MAC, LINUX_WORKSTATION"), "{out}");
    set("devices", &["--class", "server", "--product", "MANAGED-SRV", "--included", "1"]);
    // One count feeding a second product: every billable device also bills patching.
    set(
        "devices",
        &["--create-product", "PATCH-MGMT", "--subcategory", "11", "--product-type", "21", "--also"],
    );
    let listed = env.run_json(&["map", "services", "--vendor", "ninjaone"], 0);
    let products: Vec<&str> =
        listed.as_array().unwrap().iter().map(|r| r["product"].as_str().unwrap()).collect();
    assert_eq!(products.len(), 3, "three mappings of one service: {listed}");

    let plan = env.run_json(&["sync", "--dry-run"], 0);
    // Acme Dental: 40 Windows workstations (3 of them offline) and 12 Macs; 2 waiting for
    // approval and an iPhone are not billed.
    let ws = line(&plan, "Acme Dental", "MANAGED-WS");
    assert_eq!(
        quantity_and_note(ws),
        (Some(52), Some("52 = 40 WINDOWS_WORKSTATION + 12 MAC; 3 offline counted; 2 unapproved left out")),
        "{ws}"
    );
    let srv = line(&plan, "Acme Dental", "MANAGED-SRV");
    assert_eq!(
        quantity_and_note(srv),
        (Some(1), Some("2 = 2 WINDOWS_SERVER; 1 over the 1 included")),
        "{srv}"
    );
    let patch = line(&plan, "Acme Dental", "PATCH-MGMT");
    assert_eq!(patch["after"].as_i64(), Some(54), "{patch}");
    assert!(patch["counted"].as_str().unwrap().contains("1 mobile left out"), "{patch}");
    // Smith & Whitfield: a switch and a virtual host are in neither class set, only in patching.
    assert_eq!(line(&plan, "Smith & Whitfield Attorneys", "MANAGED-SRV")["after"].as_i64(), Some(0));
    assert_eq!(line(&plan, "Smith & Whitfield Attorneys", "PATCH-MGMT")["after"].as_i64(), Some(13));

    // The text plan says it too, and the push bills each product once.
    let text = env.run(&["sync", "--dry-run"], 0);
    assert!(text.contains("40 WINDOWS_WORKSTATION"), "{text}");
    env.run(&["sync", "--yes"], 0);
    let again = env.run_json(&["sync", "--dry-run"], 0);
    assert!(crate::harness::writes(&again).is_empty(), "nothing left to write: {again}");

    // Unmapping one product keeps the others.
    env.run(&["map", "services", "--vendor", "ninjaone", "--unmap", "devices", "--product", "PATCH-MGMT"], 0);
    let listed = env.run_json(&["map", "services", "--vendor", "ninjaone"], 0);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn a_device_approved_later_is_billed_and_an_expired_token_is_fetched_again() {
    let env = ninjaone();
    env.run(
        &[
            "map",
            "services",
            "--vendor",
            "ninjaone",
            "--set",
            "devices",
            "--class",
            "workstation",
            "--product",
            "MANAGED-WS",
        ],
        0,
    );
    let before = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(line(&before, "Acme Dental", "MANAGED-WS")["after"].as_i64(), Some(52));
    // The two pending workstations are devices 55 and 56 of the seeded fleet.
    assert!(env.sandbox.set_ninjaone_device(55, "approvalStatus", "APPROVED".into()));
    // Pages of 20 devices, and tokens that run out after two requests: the fetch needs new
    // tokens mid-run (orgs, then 3 pages of devices) and gets them.
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace("[vendors.ninjaone]\n", "[vendors.ninjaone]\npage_size = 20\n"));
    env.sandbox.set_ninjaone_token_uses(Some(2));
    let issued = env.sandbox.ninjaone_tokens_issued();
    let after = env.run_json(&["sync", "--dry-run"], 0);
    let ws = line(&after, "Acme Dental", "MANAGED-WS");
    assert_eq!(quantity_and_note(ws).0, Some(53), "{ws}");
    assert!(ws["counted"].as_str().unwrap().contains("1 unapproved left out"), "{ws}");
    assert!(env.sandbox.ninjaone_tokens_issued() >= issued + 2, "an expired token was fetched again");
    let pages: Vec<String> = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| {
            r.server == "ninjaone" && r.path_and_query.contains("devices-detailed") && r.status == 200
        })
        .map(|r| r.path_and_query.clone())
        .collect();
    assert!(pages.iter().any(|q| q.contains("after=40")), "paged by the last id: {pages:?}");
}

#[test]
fn a_class_the_vendor_does_not_have_and_a_class_on_a_vendor_without_classes_are_refused() {
    let env = ninjaone();
    let out = env.stderr_of(
        &[
            "map",
            "services",
            "--vendor",
            "ninjaone",
            "--set",
            "devices",
            "--class",
            "servers",
            "--product",
            "MANAGED-SRV",
        ],
        2,
    );
    assert!(out.contains("--class \"servers\" is not a class set") && out.contains("server, "), "{out}");
    let env = Env::new(&["nodeware", "ninjaone"]);
    env.run(&["connect", "nodeware"], 0);
    let out = env.stderr_of(
        &[
            "map",
            "services",
            "--vendor",
            "nodeware",
            "--set",
            "vms",
            "--class",
            "server",
            "--product",
            "NODEWARE-VMS",
        ],
        2,
    );
    assert!(out.contains("nodeware gives no device classes"), "{out}");
    // A class set of the config's own is taken, and one naming no NinjaOne class is refused
    // with its line.
    let text = env.sandbox.config_toml_for(&["ninjaone"]).replace(
        "[vendors.ninjaone]\n",
        "[vendors.ninjaone]\nclasses = { hosts = [\"VMWARE_VM_HOST\", \"HYPERV_VMM_HOST\", \"WINDOWS_SERVER\"] }\n",
    );
    env.set_config(&text);
    env.run(&["connect", "ninjaone"], 0);
    env.run(
        &[
            "map",
            "services",
            "--vendor",
            "ninjaone",
            "--set",
            "devices",
            "--class",
            "hosts",
            "--product",
            "MANAGED-SRV",
        ],
        0,
    );
    let plan = env.run_json(&["sync", "--dry-run", "--vendor", "ninjaone"], 0);
    assert_eq!(line(&plan, "Smith & Whitfield Attorneys", "MANAGED-SRV")["after"].as_i64(), Some(1));
    assert_eq!(line(&plan, "Acme Dental", "MANAGED-SRV")["after"].as_i64(), Some(2));
    env.set_config(&text.replace("\"HYPERV_VMM_HOST\"", "\"HYPERV\""));
    let out = env.stderr_of(&["check"], 2);
    assert!(out.contains("classes.hosts names \"HYPERV\", which is not a NinjaOne node class"), "{out}");
}

#[test]
fn no_ninjaone_secret_or_token_leaks() {
    let keys = recon_sandbox::Credentials {
        ninjaone_client_secret: "CANARY-ninjaone-secret-5c0d".into(),
        ..recon_sandbox::Credentials::default()
    };
    let sandbox = recon_sandbox::Sandbox::start_with(recon_sandbox::SandboxOptions {
        credentials: keys,
        ..recon_sandbox::SandboxOptions::default()
    })
    .unwrap();
    let text = sandbox.config_toml_for(&["ninjaone"]);
    let env = Env::with_config(sandbox, &text);
    let mut seen = String::new();
    let wrong = text.replace("CANARY-ninjaone-secret-5c0d", "CANARY-ninjaone-wrong-77e1");
    for (config, args) in [
        (&text, vec!["-vv", "check"]),
        (&text, vec!["-vv", "connect", "ninjaone"]),
        (
            &text,
            vec![
                "-v",
                "map",
                "services",
                "--vendor",
                "ninjaone",
                "--set",
                "devices",
                "--product",
                "MANAGED-WS",
            ],
        ),
        (&text, vec!["-vv", "--json", "sync", "--yes"]),
        (&text, vec!["-v", "report", "--format", "json"]),
        (&wrong, vec!["-vv", "check"]),
        (&wrong, vec!["-vv", "sync", "--dry-run"]),
    ] {
        env.set_config(config);
        let out = env.recon(&args).output().unwrap();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(seen.contains("the token request was refused"), "the wrong secret is said: {seen}");
    seen.push_str(&String::from_utf8_lossy(&std::fs::read(&env.db).unwrap()));
    for canary in ["CANARY-ninjaone-secret-5c0d", "CANARY-ninjaone-wrong-77e1", "ninja-token-"] {
        assert!(!seen.contains(canary), "{canary} leaked");
    }
}

#[test]
fn datto_bills_by_kaseyas_rule_skips_system_sites_and_never_follows_a_page_to_another_host() {
    let env = Env::new(&["datto-rmm"]);
    let connected = env.run_json(&["connect", "datto-rmm"], 0);
    assert_eq!(connected["accounts"], 2, "only the customers' sites: {connected}");
    let listed = env.run_json(&["map", "accounts", "--vendor", "datto-rmm"], 0);
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|a| a["account"].as_str()).collect();
    assert_eq!(names, ["Acme Dental", "O'Brien & Sons"], "no system site: {listed}");
    let set = |rest: &[&str]| {
        let mut args = vec!["map", "services", "--vendor", "datto-rmm", "--set", "devices"];
        args.extend_from_slice(rest);
        env.run(&args, 0)
    };
    // A bundle by class set: desktops and laptops into one managed-endpoint line.
    set(&["--class", "workstation", "--product", "MANAGED-WS", "--included", "2"]);
    set(&["--class", "server", "--product", "MANAGED-SRV"]);
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let ws = line(&plan, "Acme Dental", "MANAGED-WS");
    assert_eq!(
        quantity_and_note(ws),
        (
            Some(10),
            Some(
                "12 = 8 Desktop + 4 Laptop; 1 deleted left out; 1 unapproved left out; 1 marked not billable left out; 10 over the 2 included"
            )
        ),
        "{ws}"
    );
    let srv = line(&plan, "O'Brien & Sons", "MANAGED-SRV");
    assert_eq!(quantity_and_note(srv), (Some(1), Some("1 = 1 ESXi Host")), "{srv}");

    // Pages of 2: a nextPageUrl on another host is never followed (the token would go with
    // it); the vendor fails and nothing of it is planned.
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace("[vendors.datto-rmm]\n", "[vendors.datto-rmm]\npage_size = 2\n"));
    let paged = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(line(&paged, "Acme Dental", "MANAGED-WS")["after"].as_i64(), Some(10), "paging reads it all");
    env.sandbox.set_datto_foreign_next_page(Some("http://evil.example.com".into()));
    let before = env.sandbox.requests().len();
    let out = env.recon(&["sync", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nextPageUrl points at evil.example.com"), "{stderr}");
    let asked: Vec<String> =
        env.sandbox.requests()[before..].iter().map(|r| r.path_and_query.clone()).collect();
    assert!(asked.iter().all(|p| !p.contains("evil")), "{asked:?}");
}

#[test]
fn sentinelone_bills_active_agents_per_sku_and_never_a_trial_or_an_unknown_count() {
    let env = Env::new(&["sentinelone"]);
    env.run(&["connect", "sentinelone"], 0);
    let services = env.run_json(&["map", "services", "--vendor", "sentinelone"], 0);
    let keys: Vec<&str> = services.as_array().unwrap().iter().filter_map(|s| s["service"].as_str()).collect();
    assert_eq!(keys, ["complete", "control", "core"], "{services}");
    for (sku, product) in
        [("complete", "HUNTRESS-EDR"), ("control", "HUNTRESS-EDR"), ("core", "HUNTRESS-EDR")]
    {
        env.run(&["map", "services", "--vendor", "sentinelone", "--set", sku, "--product", product], 0);
    }
    // The trial's tenant is no PSA company: map it by hand to see that it bills nothing.
    env.run(
        &[
            "map",
            "accounts",
            "--vendor",
            "sentinelone",
            "--set",
            "1104",
            "--company",
            "Apex Physical Therapy",
        ],
        0,
    );
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let acme = line(&plan, "Acme Dental", "HUNTRESS-EDR");
    assert_eq!(acme["after"].as_i64(), Some(14), "active, not total licenses: {acme}");
    assert_eq!(line(&plan, "O'Brien & Sons", "HUNTRESS-EDR")["after"].as_i64(), Some(6));
    let trial = line(&plan, "Apex Physical Therapy", "HUNTRESS-EDR");
    assert_eq!(quantity_and_note(trial).0, Some(0), "{trial}");
    assert!(trial["counted"].as_str().unwrap().contains("5 on a trial site, not billed"), "{trial}");
    let cafe = line(&plan, "Café Lumière", "HUNTRESS-EDR");
    assert_eq!(
        (cafe["action"].as_str(), cafe["after"].as_i64()),
        (Some("skipped"), None),
        "unknown, never 0: {cafe}"
    );
    // Cursor paging: one site a page reads the same.
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace("[vendors.sentinelone]\n", "[vendors.sentinelone]\npage_size = 1\n"));
    let paged = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(line(&paged, "Acme Dental", "HUNTRESS-EDR")["after"].as_i64(), Some(14));
    let pages = env.sandbox.requests().iter().filter(|r| r.path_and_query.contains("cursor=c-")).count();
    assert!(pages >= 3, "followed nextCursor: {pages}");
}

#[test]
fn two_vendors_counts_bundle_into_one_line_and_the_included_units_come_off_the_sum() {
    let env = Env::new(&["ninjaone", "datto-rmm"]);
    env.run(&["connect", "ninjaone"], 0);
    env.run(&["connect", "datto-rmm"], 0);
    for (vendor, included) in [("ninjaone", "5"), ("datto-rmm", "5")] {
        let args = [
            "map",
            "services",
            "--vendor",
            vendor,
            "--set",
            "devices",
            "--class",
            "workstation",
            "--product",
            "MANAGED-WS",
            "--included",
            included,
        ];
        env.run(&args, 0);
    }
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    // Acme Dental: NinjaOne's 52 workstations and Datto's 12 on one line, 5 of the sum included.
    let ws = line(&plan, "Acme Dental", "MANAGED-WS");
    let note = ws["counted"].as_str().unwrap();
    assert_eq!(ws["after"].as_i64(), Some(59), "{ws}");
    assert!(note.starts_with("64 = 40 WINDOWS_WORKSTATION + 12 MAC + 8 Desktop + 4 Laptop"), "{note}");
    assert!(note.ends_with("59 over the 5 included"), "{note}");
    assert_eq!(ws["sources"].as_array().unwrap().len(), 2, "one source per vendor: {ws}");
}
