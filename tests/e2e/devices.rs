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
    set("devices", &["--create-product", "PATCH-MGMT", "--subcategory", "11", "--product-type", "21", "--also"]);
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
