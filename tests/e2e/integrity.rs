//! Vendor data integrity (issue 10): unknown is never zero, two records are never one, and
//! a failure is as small as the fault. Each case against the sandbox, with the real binary.

use crate::harness::Env;
use recon_sandbox::{Faults, SERVICE_PRODUCTS};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ACME: &str = "d348c14dfd9993416a7e413b1af0ca13";
/// NordLayer's Acme Dental organization.
const NL_ACME: &str = "org-d55dac13-1847";

fn map_services(env: &Env, vendor: &str) {
    for (v, service, product) in SERVICE_PRODUCTS {
        if v == vendor {
            env.run(&["map", "services", "--vendor", v, "--set", service, "--product", product], 0);
        }
    }
}

fn connected(vendor: &str) -> Env {
    let env = Env::new(&[vendor]);
    env.run(&["connect", vendor], 0);
    map_services(&env, vendor);
    env
}

/// `recon --json ARGS`: (exit code, the JSON on stdout, stderr).
fn run(env: &Env, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = env.recon(&all).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("recon {args:?}: not JSON ({e}); stderr:\n{stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn lines_of<'a>(plan: &'a Value, company: &str) -> Vec<&'a Value> {
    plan["lines"].as_array().unwrap().iter().filter(|l| l["company"] == company).collect()
}

fn writes_to(env: &Env, agreement: i64) -> usize {
    env.cw_writes().iter().filter(|w| w.path_and_query.contains(&format!("/agreements/{agreement}/"))).count()
}

fn acme_record(env: &Env) -> Value {
    env.sandbox.vendor_records("nodeware").into_iter().find(|r| r["id"] == ACME).unwrap()
}

/// Acme Dental's Nodeware line after a clean sync: (agreement id, its quantity).
fn clean_sync(env: &Env) -> (i64, i64) {
    let (code, plan, stderr) = run(env, &["sync", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let acme = lines_of(&plan, "Acme Dental");
    assert_eq!(acme.len(), 1, "{plan}");
    (acme[0]["agreement_id"].as_i64().unwrap(), acme[0]["after"].as_i64().unwrap())
}

#[test]
fn an_id_listed_twice_with_identical_records_counts_once() {
    let env = connected("nodeware");
    let acme = acme_record(&env);
    assert!(env.sandbox.push_vendor_record("nodeware", acme));
    let (code, plan, stderr) = run(&env, &["sync", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("is listed 2 times with identical records; counted once"), "{stderr}");
    let acme = lines_of(&plan, "Acme Dental");
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0]["after"], 43, "40 internal + 3 external, once: {}", acme[0]);
    assert_eq!(
        env.live_additions(acme[0]["agreement_id"].as_i64().unwrap(), "NODEWARE-VMS")[0]["quantity"],
        43
    );
}

#[test]
fn differing_records_with_one_id_are_never_merged_after_a_clean_sync() {
    let env = connected("nodeware");
    let (agreement, quantity) = clean_sync(&env);
    assert_eq!(quantity, 43);
    let writes = env.cw_writes().len();
    let acme_writes = writes_to(&env, agreement);
    let original = env.sandbox.vendor_records("nodeware");
    // The same customer twice with other counts, and a second customer under Acme's id.
    for extra in [
        json!({"id": ACME, "name": "Acme Dental", "score": 62, "asset_totals": {"internal": 10, "external": 0}}),
        json!({"id": ACME, "name": "Stark Industries", "score": 80, "asset_totals": {"internal": 9, "external": 0}}),
    ] {
        env.sandbox.clear_vendor_accounts("nodeware");
        for record in &original {
            env.sandbox.push_vendor_record("nodeware", record.clone());
        }
        env.sandbox.push_vendor_record("nodeware", extra.clone());
        let (code, plan, stderr) = run(&env, &["sync", "--yes"]);
        assert_eq!(code, 1, "a conflicting id is a failed account: {stderr}");
        let acme = lines_of(&plan, "Acme Dental");
        assert_eq!(acme.len(), 1, "{plan}");
        assert_eq!(acme[0]["action"], "skipped");
        assert_eq!(acme[0]["reason_code"], "account_failed", "a stable machine code beside the text");
        let reason = acme[0]["reason"].as_str().unwrap();
        assert!(reason.contains(&format!("id \"{ACME}\" is shared by 2 records that differ")), "{reason}");
        assert!(reason.contains(r#""internal":40"#), "names the first record: {reason}");
        let second = extra["name"].as_str().unwrap();
        assert!(reason.contains(&format!(r#""name":"{second}""#)), "names the second record: {reason}");
        assert!(stderr.contains("is shared by 2 records"), "{stderr}");
        assert_eq!(writes_to(&env, agreement), acme_writes, "Acme's agreement untouched");
        assert_eq!(env.cw_writes().len(), writes, "nothing moved");
        assert_eq!(env.live_additions(agreement, "NODEWARE-VMS")[0]["quantity"], 43);
    }
}

#[test]
fn a_conflicting_id_at_connect_is_listed_and_neither_stored_nor_matched() {
    let env = Env::new(&["nodeware"]);
    let stark =
        json!({"id": ACME, "name": "Stark Industries", "asset_totals": {"internal": 9, "external": 0}});
    assert!(env.sandbox.push_vendor_record("nodeware", stark));
    let (code, report, stderr) = run(&env, &["connect", "nodeware"]);
    assert_eq!(code, 0, "{stderr}");
    let listed = env.sandbox.vendor_records("nodeware").len() - 2; // two records, one id, none used
    assert_eq!(report["accounts"], listed, "{report}");
    let conflicting = report["conflicting_ids"].as_array().unwrap();
    assert_eq!(conflicting.len(), 1, "{report}");
    assert!(conflicting[0].as_str().unwrap().contains("Stark Industries"), "{report}");
    let accounts = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    let ids: Vec<&str> =
        accounts.as_array().unwrap().iter().filter_map(|a| a["account_id"].as_str()).collect();
    assert!(!ids.is_empty(), "{accounts}");
    assert!(!ids.contains(&ACME), "the conflicting id is not stored: {accounts}");
    let text = env.run(&["connect", "nodeware"], 0);
    assert!(text.contains("not stored or matched: id"), "{text}");
}

#[test]
fn a_null_or_missing_count_is_unknown_never_zero() {
    let env = connected("nodeware");
    let (agreement, _) = clean_sync(&env);
    let writes = env.cw_writes().len();
    let mut missing = acme_record(&env);
    missing["asset_totals"].as_object_mut().unwrap().remove("internal");
    for (what, record) in [
        ("null", {
            let mut r = acme_record(&env);
            r["asset_totals"]["internal"] = Value::Null;
            r
        }),
        ("missing", missing),
    ] {
        let others: Vec<Value> =
            env.sandbox.vendor_records("nodeware").into_iter().filter(|r| r["id"] != ACME).collect();
        env.sandbox.clear_vendor_accounts("nodeware");
        for r in others {
            env.sandbox.push_vendor_record("nodeware", r);
        }
        env.sandbox.push_vendor_record("nodeware", record);
        let (code, plan, stderr) = run(&env, &["sync", "--yes"]);
        assert_eq!(code, 0, "{what}: an unknown count is skipped, not a failure: {stderr}");
        let acme = lines_of(&plan, "Acme Dental");
        assert_eq!(acme.len(), 1, "{what}: {plan}");
        assert_eq!(
            (acme[0]["action"].as_str(), &acme[0]["after"]),
            (Some("skipped"), &Value::Null),
            "{what}"
        );
        let reason = acme[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("asset_totals.internal") && reason.contains("Acme Dental"),
            "{what}: {reason}"
        );
        assert!(stderr.contains("asset_totals.internal"), "{what}: {stderr}");
        assert_eq!(env.cw_writes().len(), writes, "{what}: nothing written");
        assert_eq!(env.live_additions(agreement, "NODEWARE-VMS")[0]["quantity"], 43, "{what}");
    }
}

#[test]
fn one_failing_nordlayer_usage_call_skips_only_that_organization() {
    let env = Env::new(&["nordlayer"]);
    let config = std::fs::read_to_string(&env.config).unwrap();
    assert!(config.trim_end().ends_with("max_change_percent = false"), "the [sync] section is last");
    env.set_config(&format!("{config}max_failed_accounts_percent = 10\n"));
    env.run(&["connect", "nordlayer"], 0);
    map_services(&env, "nordlayer");
    assert!(env.sandbox.drop_nordlayer_usage(NL_ACME));

    let (code, plan, stderr) = run(&env, &["sync", "--yes"]);
    assert_eq!(code, 1, "a failed account exits 1: {stderr}");
    let failed = plan["failed_accounts"]["nordlayer"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{plan}");
    assert!(
        failed[0].as_str().unwrap().contains("Acme Dental") && failed[0].as_str().unwrap().contains("404")
    );
    assert!(stderr.contains("Acme Dental") && stderr.contains("404"), "{stderr}");
    for line in lines_of(&plan, "Acme Dental") {
        assert_eq!(line["action"], "skipped", "{line}");
        assert!(writes_to(&env, line["agreement_id"].as_i64().unwrap()) == 0, "{line}");
    }
    assert!(!env.cw_writes().is_empty(), "the other organizations are pushed");
    let history = env.run_json(&["history"], 0);
    assert!(history.to_string().contains("1 account failed"), "{history}");
}

#[test]
fn more_failed_accounts_than_allowed_fail_the_vendor() {
    let env = Env::new(&["nordlayer"]);
    env.run(&["connect", "nordlayer"], 0);
    map_services(&env, "nordlayer");
    assert!(env.sandbox.drop_nordlayer_usage(NL_ACME));
    // 1 of 15 organizations is more than the default 5 %.
    let (code, plan, stderr) = run(&env, &["sync", "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    let error = plan["vendor_errors"]["nordlayer"].as_str().unwrap();
    assert!(
        error.contains("1 of its 15 accounts failed") && error.contains("max_failed_accounts_percent = 5")
    );
    assert!(env.cw_writes().is_empty(), "nothing pushed for the vendor");
}

/// Every live addition as (agreement, product, quantity).
fn state(env: &Env) -> BTreeSet<(i64, String, String)> {
    env.sandbox
        .connectwise_additions()
        .into_iter()
        .filter(|a| a["cancelledDate"].is_null() || a["cancelledDate"] == "")
        .map(|a| {
            let product = a["product"]["identifier"].as_str().unwrap_or("").to_string();
            (a["agreementId"].as_i64().unwrap(), product, a["quantity"].to_string())
        })
        .collect()
}

#[test]
fn a_sync_under_20_percent_malformed_reads_converges_within_three_runs() {
    let vendors = ["nordlayer", "nodeware"];
    let prepare = || {
        let env = Env::new(&vendors);
        for vendor in vendors {
            env.run(&["connect", vendor], 0);
            map_services(&env, vendor);
        }
        env
    };
    let clean = prepare();
    assert_eq!(clean.recon(&["sync", "--yes"]).output().unwrap().status.code(), Some(0));
    let expected = state(&clean);

    let env = prepare();
    env.sandbox.set_faults(Faults {
        truncate_fraction: 0.1,
        html_fraction: 0.1,
        methods: vec!["GET".into()],
        servers: vec!["connectwise".into(), "nordlayer".into()],
        seed: 20,
        ..Faults::default()
    });
    let mut codes = Vec::new();
    for _ in 0..3 {
        let code = env.recon(&["sync", "--yes"]).output().unwrap().status.code().unwrap();
        codes.push(code);
        if code == 0 {
            break;
        }
    }
    assert_eq!(codes.last(), Some(&0), "converged within three runs: {codes:?}");
    let faulty: usize = env.sandbox.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faulty >= 5, "the faults were served: {faulty}");
    assert_eq!(state(&env), expected, "the exact state a clean sync reaches");
    env.sandbox.set_faults(Faults::default());
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(
        (plan["counts"]["add"].as_u64(), plan["counts"]["update"].as_u64()),
        (Some(0), Some(0)),
        "{plan}"
    );
}
