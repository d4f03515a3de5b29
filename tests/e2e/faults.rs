//! The fault matrix: the nodeware flow against a ConnectWise that throttles, fails, stalls,
//! drops answers, cuts bodies short and answers with a login page, on reads and on writes.
//! Whatever the fault, re-running `sync` converges on the vendor's quantities, never
//! duplicates an addition, and the ledger records as applied only writes that happened.

use crate::harness::Env;
use recon_sandbox::{Faults, RecordedRequest, Sandbox, SandboxOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Lines the nodeware fixtures plan as add, update or unchanged (fixtures/CASES.md: 4 adds,
/// 6 updates, 6 unchanged); after convergence a clean dry run shows all of them unchanged.
const NODEWARE_WRITABLE_LINES: usize = 16;
/// Faults answered instead of the service: the request had no effect.
const NO_EFFECT: [&str; 5] = ["rate-limit", "throttle", "server-error", "html", "oversize"];
/// How many times a step is run before the row fails.
const MAX_RUNS: usize = 8;

fn with_http(text: &str, http: &str) -> String {
    // recon's own pacing is not what these rows test: let it send as fast as the server allows.
    let text = text.replace("[connectwise]\n", "[connectwise]\nrequests_per_minute = 60000\n");
    format!("{text}\n[http]\n{http}")
}

fn faulty_env(faults: Faults, http: &str) -> Env {
    let sandbox = Sandbox::start_with(SandboxOptions { faults, ..SandboxOptions::default() }).unwrap();
    let text = with_http(&sandbox.config_toml_for(&["nodeware"]), http);
    Env::with_config(sandbox, &text)
}

/// Run until exit 0 (exit 1 is a run error worth another try); returns how many runs it took.
fn until_ok(env: &Env, args: &[&str]) -> usize {
    for attempt in 1..=MAX_RUNS {
        let out = env.recon(args).output().unwrap();
        match out.status.code() {
            Some(0) => return attempt,
            Some(1) => continue,
            other => panic!(
                "recon {args:?} exited {other:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    panic!("recon {args:?} did not succeed in {MAX_RUNS} runs");
}

fn live(additions: &[Value]) -> BTreeMap<(i64, String), Vec<Value>> {
    let mut out: BTreeMap<(i64, String), Vec<Value>> = BTreeMap::new();
    for a in additions {
        if a["cancelledDate"].is_null() || a["cancelledDate"] == "" {
            let key = (
                a["agreementId"].as_i64().unwrap(),
                a["product"]["identifier"].as_str().unwrap_or("").into(),
            );
            out.entry(key).or_default().push(a.clone());
        }
    }
    out
}

/// A write that reached the service and took effect (its answer may still have been lost).
fn effective(r: &RecordedRequest) -> bool {
    r.server == "connectwise"
        && r.method != "GET"
        && (200..300).contains(&r.status)
        && !r.fault.is_some_and(|f| NO_EFFECT.contains(&f))
}

/// The whole flow under `faults`, then the three promises checked with the faults off.
fn converges_under(faults: Faults, http: &str) -> Env {
    let env = faulty_env(faults, http);
    let before = live(&env.sandbox.connectwise_additions());
    until_ok(&env, &["connect", "nodeware"]);
    until_ok(&env, &["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"]);
    until_ok(&env, &["--json", "sync", "--yes"]);

    let requests = env.sandbox.requests();
    env.sandbox.set_faults(Faults::default());
    let additions = env.sandbox.connectwise_additions();
    let after = live(&additions);

    // 1. ConnectWise holds exactly the vendor's quantities: a clean dry run has nothing to do.
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let lines = plan["lines"].as_array().unwrap();
    assert_eq!(
        (plan["counts"]["add"].as_u64(), plan["counts"]["update"].as_u64()),
        (Some(0), Some(0)),
        "{plan}"
    );
    let unchanged: Vec<&Value> = lines.iter().filter(|l| l["action"] == "unchanged").collect();
    assert_eq!(unchanged.len(), NODEWARE_WRITABLE_LINES, "{plan}");
    for line in unchanged {
        let key = (line["agreement_id"].as_i64().unwrap(), line["product"].as_str().unwrap().to_string());
        let found = after.get(&key).cloned().unwrap_or_default();
        assert_eq!(found.len(), 1, "{key:?}: {found:?}");
        assert_eq!(found[0]["quantity"].as_f64(), line["after"].as_f64(), "{key:?}");
    }

    // 2. No addition was duplicated: only the fixtures' own ambiguous pairs hold two.
    for (key, list) in &after {
        let had = before.get(key).map_or(0, Vec::len);
        assert!(list.len() <= had.max(1), "{key:?} duplicated: {list:?}");
    }
    let mut creates: BTreeMap<String, usize> = BTreeMap::new();
    for r in requests.iter().filter(|r| effective(r) && r.method == "POST") {
        *creates.entry(r.path_and_query.clone()).or_default() += 1;
    }
    assert!(creates.values().all(|n| *n == 1), "a create reached ConnectWise twice: {creates:?}");

    // 3. The ledger: every applied change is a write ConnectWise took, with the right result.
    let runs = env.run_json(&["history", "--limit", "100"], 0);
    for run in runs.as_array().unwrap().iter().filter(|r| r["dry_run"] == false) {
        let id = run["id"].as_i64().unwrap().to_string();
        let changes = env.run_json(&["history", &id], 0);
        for change in changes["changes"].as_array().unwrap().iter().filter(|c| c["state"] == "applied") {
            let agreement = change["agreement_id"].as_i64().unwrap();
            let addition = change["addition_id"].as_i64().unwrap();
            let path = match change["action"].as_str() {
                Some("add") => format!("/finance/agreements/{agreement}/additions"),
                Some("update") => format!("/finance/agreements/{agreement}/additions/{addition}"),
                other => panic!("applied {other:?} change: {change}"),
            };
            assert!(
                requests.iter().any(|r| effective(r) && r.path_and_query.ends_with(&path)),
                "run {id}: applied without a write to {path}: {change}"
            );
            let record = additions.iter().find(|a| a["id"] == addition).unwrap_or_else(|| panic!("{change}"));
            assert_eq!(record["agreementId"], agreement, "{change}");
            assert_eq!(record["quantity"].as_f64(), change["after"].as_f64(), "{change}");
        }
    }
    env
}

fn on(servers: &[&str], faults: Faults) -> Faults {
    Faults { servers: servers.iter().map(|s| s.to_string()).collect(), seed: 7, ..faults }
}

fn writes_only(faults: Faults) -> Faults {
    Faults { methods: vec!["POST".into(), "PATCH".into()], ..on(&["connectwise"], faults) }
}

fn faults_seen(env: &Env, kind: &str) -> usize {
    env.sandbox.requests().iter().filter(|r| r.fault == Some(kind)).count()
}

#[test]
fn throttling_bursts_are_waited_out() {
    let faults = Faults { throttle_fraction: 0.3, throttle_retry_after: Some(0), ..Faults::default() };
    let env = converges_under(on(&["connectwise"], faults), "max_attempts = 6\n");
    assert!(faults_seen(&env, "throttle") > 0);
}

#[test]
fn server_errors_are_retried() {
    let faults = Faults { server_error_fraction: 0.15, ..Faults::default() };
    let env = converges_under(on(&["connectwise"], faults), "max_attempts = 3\n");
    assert!(faults_seen(&env, "server-error") > 0);
}

#[test]
fn a_rate_limit_is_honoured() {
    let faults = Faults {
        requests_per_minute: Some(25),
        rate_window: Some(Duration::from_secs(1)),
        ..Faults::default()
    };
    converges_under(on(&["connectwise"], faults), "max_attempts = 6\n");
}

#[test]
fn the_rate_adapts_to_a_crowded_psa_and_history_shows_where_it_settled() {
    // 8 a second (480/min) admitted; recon starts at 90 % of its ceiling.
    let faults = Faults {
        requests_per_minute: Some(8),
        rate_window: Some(Duration::from_secs(1)),
        ..Faults::default()
    };
    let env = converges_under(on(&["connectwise"], faults), "");
    assert!(faults_seen(&env, "rate-limit") > 0, "the limit was met");
    let runs = env.run_json(&["history"], 0);
    let sync =
        runs.as_array().unwrap().iter().find(|r| r["kind"] == "sync" && r["dry_run"] == false).unwrap();
    let id = sync["id"].to_string();
    let details = env.run_json(&["history", &id], 0)["details"]["rates"].clone();
    let cw = details.as_array().unwrap().iter().find(|r| r["service"] == "connectwise").unwrap().clone();
    let ceiling = cw["ceiling"].as_u64().unwrap();
    assert!(cw["throttled"].as_u64().unwrap() > 0, "{cw}");
    assert!(
        cw["lowest"].as_u64().unwrap() * 10 < ceiling * 9,
        "it slowed down from 90 % of its ceiling: {cw}"
    );
    let shown = env.run(&["history", &id], 0);
    assert!(shown.contains("Request rate: connectwise: settled at"), "{shown}");
}

#[test]
fn slow_answers_time_out_and_are_retried() {
    let faults = Faults { slow_fraction: 0.05, slow_delay: Duration::from_millis(1500), ..Faults::default() };
    let env = converges_under(on(&["connectwise"], faults), "max_attempts = 3\ntimeout_seconds = 1\n");
    assert!(faults_seen(&env, "slow") > 0);
}

#[test]
fn reset_connections_are_retried() {
    let faults = Faults { reset_fraction: 0.1, ..Faults::default() };
    let env = converges_under(on(&["connectwise"], faults), "max_attempts = 3\n");
    assert!(faults_seen(&env, "reset") > 0);
}

#[test]
fn truncated_bodies_fail_the_run_and_the_next_run_converges() {
    let faults = Faults { truncate_fraction: 0.04, ..Faults::default() };
    let env = converges_under(on(&["connectwise"], faults), "max_attempts = 3\n");
    assert!(faults_seen(&env, "truncate") > 0);
}

#[test]
fn a_login_page_instead_of_json_fails_the_run_and_the_next_run_converges() {
    let faults = Faults { html_fraction: 0.04, ..Faults::default() };
    let env = converges_under(on(&["connectwise"], faults), "max_attempts = 3\n");
    assert!(faults_seen(&env, "html") > 0);
}

/// Writes that took effect but whose answer was lost: creates are resolved by re-reading the
/// agreement, never sent again; quantity updates are safe to repeat. Each pass puts its
/// faults on one method only, so the seeded draws fall on that method's requests whatever
/// order the workers send them in.
#[test]
fn lost_write_answers_never_duplicate_an_addition() {
    let slow = Faults { slow_fraction: 0.3, slow_delay: Duration::from_millis(1500), ..Faults::default() };
    for (name, method, faults) in [
        ("reset", "POST", Faults { reset_fraction: 0.5, ..Faults::default() }),
        ("truncate", "POST", Faults { truncate_fraction: 0.5, ..Faults::default() }),
        ("slow", "POST", slow),
        ("reset", "PATCH", Faults { reset_fraction: 0.5, ..Faults::default() }),
    ] {
        let faults = Faults { methods: vec![method.into()], ..on(&["connectwise"], faults) };
        let env = converges_under(faults, "max_attempts = 3\ntimeout_seconds = 1\n");
        let lost: Vec<_> = env.sandbox.requests().into_iter().filter(|r| r.fault == Some(name)).collect();
        assert!(lost.iter().any(|r| r.method == method), "{name}: no {method} lost its answer: {lost:?}");
    }
}

#[test]
fn write_failures_before_acting_are_retried_or_replanned() {
    let faults = Faults {
        throttle_fraction: 0.2,
        throttle_retry_after: Some(0),
        server_error_fraction: 0.2,
        html_fraction: 0.1,
        ..Faults::default()
    };
    converges_under(writes_only(faults), "max_attempts = 3\n");
}

/// A vendor that answers a login page, a cut body or 401 fails its part of the run (exit 1):
/// nothing is planned or pushed for it.
#[test]
fn a_broken_vendor_pushes_nothing() {
    let env = Env::new(&["nodeware"]);
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    let text = std::fs::read_to_string(&env.config).unwrap();
    for (what, faults, config, needle) in [
        ("html", Faults { html_fraction: 1.0, ..Faults::default() }, text.clone(), "HTML page"),
        ("truncated", Faults { truncate_fraction: 1.0, ..Faults::default() }, text.clone(), "EOF"),
        ("401", Faults::default(), text.replace(recon_sandbox::NODEWARE_KEY, "revoked-nodeware-key"), "401"),
    ] {
        env.sandbox.set_faults(on(&["nodeware"], faults));
        env.set_config(&config);
        let out = env.recon(&["--json", "sync", "--yes"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains("nodeware") && stderr.contains(needle), "{what}: {stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["vendor_errors"]["nodeware"].is_string(), "{what}: {report}");
        assert_eq!(report["applied"], 0, "{what}: {report}");
        assert!(env.cw_writes().is_empty(), "{what}: {:?}", env.cw_writes());
    }
}
