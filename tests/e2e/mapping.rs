//! Mapping by hand: references by name, identifier or id; ambiguity is an error that lists
//! the candidates; agreements chosen explicitly.

use crate::harness::Env;

fn connected() -> Env {
    let env = Env::new(&["nodeware"]);
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
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
    let out = env.run(&["disconnect", "nodeware"], 0);
    assert!(out.contains("Disconnected nodeware"), "{out}");
    assert_eq!(env.run_json(&["status"], 0)[0]["status"], "inactive");
    assert_eq!(env.run_json(&["map", "accounts"], 0).as_array().unwrap().len(), 0);
    env.run(&["connect", "nodeware"], 0);
    let accounts = env.run_json(&["map", "accounts"], 0);
    assert!(accounts.as_array().unwrap().iter().any(|a| a["how"] == "auto"));
}
