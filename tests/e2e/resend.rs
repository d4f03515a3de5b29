//! A write that sets an absolute value and whose answer was lost is finished in the same run:
//! settled by reading, and sent again when the PSA does not hold it. With a fifth of the
//! write answers lost or malformed, one `sync --yes` bills every line right, no create is
//! sent twice, and the ledger's sends match the requests the PSA saw.

use crate::harness::Env;
use recon_sandbox::{Faults, Sandbox, SandboxOptions};
use serde_json::Value;
use std::collections::BTreeMap;

/// (agreement, product) -> the quantity of its live additions, each.
fn live(env: &Env) -> BTreeMap<(i64, String), Vec<f64>> {
    let mut out: BTreeMap<(i64, String), Vec<f64>> = BTreeMap::new();
    for a in env.sandbox.connectwise_additions() {
        if a["cancelledDate"].is_null() || a["cancelledDate"] == "" {
            let key = (
                a["agreementId"].as_i64().unwrap(),
                a["product"]["identifier"].as_str().unwrap_or("").into(),
            );
            out.entry(key).or_default().push(a["quantity"].as_f64().unwrap());
        }
    }
    out
}

fn env_with(faults: Faults) -> Env {
    let sandbox = Sandbox::start_with(SandboxOptions { faults, ..SandboxOptions::default() }).unwrap();
    // One worker: the requests, and so the faults the seed draws, come in the same order
    // every run.
    let text = format!("{}\n[http]\nworkers = 1\n", sandbox.config_toml_for(&["nodeware", "huntress"]));
    let env = Env::with_config(sandbox, &text);
    for vendor in ["nodeware", "huntress"] {
        env.run(&["connect", vendor], 0);
    }
    for (vendor, service, product) in
        recon_sandbox::SERVICE_PRODUCTS.iter().filter(|(v, _, _)| ["nodeware", "huntress"].contains(v))
    {
        env.run(&["map", "services", "--vendor", vendor, "--set", service, "--product", product], 0);
    }
    env
}

#[test]
fn one_run_bills_every_line_right_when_a_fifth_of_the_write_answers_are_lost() {
    // What a clean sync ends with.
    let clean = env_with(Faults::default());
    clean.run(&["sync", "--yes"], 0);
    let wanted = live(&clean);

    let env = env_with(Faults::default());
    // A fifth of the answers to writes lost or malformed: a sign-in page instead of the
    // answer (only on PATCH: a create answered so would rightly wait for the next run),
    // a body cut short, a reset after ConnectWise acted, a 500 after it acted.
    env.sandbox.set_faults(Faults {
        html_fraction: 0.08,
        html_methods: vec!["PATCH".into()],
        truncate_fraction: 0.05,
        reset_fraction: 0.05,
        server_error_after_fraction: 0.05,
        methods: vec!["PATCH".into(), "POST".into()],
        servers: vec!["connectwise".into()],
        seed: 24,
        ..Faults::default()
    });
    let pushed = env.run_json(&["sync", "--yes"], 0);
    assert!(pushed["failed"].as_array().unwrap().is_empty(), "{pushed:#}");
    assert_eq!(live(&env), wanted, "the same state a clean sync reaches, no line doubled");

    // The faults did hit writes, and some PATCH was sent more than once.
    let writes: Vec<_> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.server == "connectwise" && r.method != "GET")
        .collect();
    assert!(writes.iter().any(|r| r.fault.is_some()), "the faults hit writes");
    // Every change's sends match the requests ConnectWise saw for its addition.
    let history = env.run_json(&["history", "1"], 0);
    let mut resent = 0;
    for change in history["changes"].as_array().unwrap() {
        let Some(attempts) = change["attempts"].as_array() else { continue };
        let agreement = change["agreement_id"].as_i64().unwrap();
        let seen = match change["action"].as_str() {
            Some("update") => {
                let path = format!("/finance/agreements/{agreement}/additions/{}", change["addition_id"]);
                writes.iter().filter(|r| r.method == "PATCH" && r.path_and_query.ends_with(&path)).count()
            }
            Some("add") => {
                let path = format!("/finance/agreements/{agreement}/additions");
                // One add per (agreement) here at most per product: count POSTs of this line's
                // agreement that carry its product, by the additions that landed.
                let posts =
                    writes.iter().filter(|r| r.method == "POST" && r.path_and_query.ends_with(&path)).count();
                let adds = history["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["action"] == "add" && c["agreement_id"] == agreement)
                    .count();
                assert_eq!(posts, adds, "agreement {agreement}: one POST per add, never two");
                attempts.len()
            }
            _ => continue,
        };
        assert_eq!(attempts.len(), seen, "{change:#}");
        if attempts.len() > 1 {
            resent += 1;
            assert_eq!(change["action"], "update", "only an absolute write is sent again: {change:#}");
            assert_eq!(
                change["state"], "applied",
                "settled by reading, or applied on a later send: {change:#}"
            );
        }
    }
    assert!(resent > 0, "a lost PATCH answer was sent again in the same run");
    // history RUN and the report say so.
    let text = env.run(&["history", "1"], 0);
    assert!(text.contains("sent 2 times") || text.contains("sent 3 times"), "{text}");
    let report: Value = serde_json::from_str(&env.run(&["report", "1", "--format", "json"], 0)).unwrap();
    assert!(
        report["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["attempts"].as_array().is_some_and(|a| a.len() > 1))
    );
}

#[test]
fn a_sign_in_page_instead_of_the_psa_is_said_once_with_its_host() {
    let env = env_with(Faults::default());
    env.sandbox.set_faults(Faults {
        html_fraction: 0.5,
        methods: vec!["GET".into()],
        servers: vec!["connectwise".into()],
        seed: 5,
        ..Faults::default()
    });
    let out = env.recon(&["sync", "--dry-run"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let said = err.matches("a proxy or sign-in page answered instead of connectwise").count();
    assert_eq!(said, 1, "{err}");
    assert!(err.contains("127.0.0.1") && err.contains("\"Sign in\""), "the host and what came back: {err}");
}
