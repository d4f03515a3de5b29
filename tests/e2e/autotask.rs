//! The same flow against the fake Autotask: dated unit adjustments, posted periods, zone
//! discovery, paging, the thread limit and the hourly threshold, and never a doubled change,
//! whether a run is killed or its answers are lost. What every PSA keeps (a push killed
//! midway, a new line's write killed, no key anywhere) is checked once for all in `contract`.

use crate::harness::{Env, Kill, writes};
use recon_sandbox::{Faults, Sandbox};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn autotask_env(sandbox: Sandbox, vendors: &[&str], extra: &str) -> Env {
    let text = format!("{}{extra}", sandbox.autotask_config_toml_for(vendors));
    Env::with_config(sandbox, &text)
}

/// Nodeware connected, its service mapped, against the fake Autotask.
fn nodeware(sandbox: Sandbox, extra: &str) -> Env {
    let text = format!("{}{extra}", sandbox.autotask_config_toml_for(&["nodeware"]));
    Env::with_nodeware(sandbox, &text)
}

pub(crate) fn date(text: &Value) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(text.as_str().unwrap(), "%Y-%m-%d").unwrap()
}

/// Autotask holds, on each line's effective date, exactly the vendor's quantity, and the
/// adjustments it received add up to exactly that change: nothing doubled, nothing lost.
pub(crate) fn assert_landed_once(env: &Env, planned: &[Value], before_run: &BTreeMap<(i64, i64), i64>) {
    for line in planned {
        let (contract, service) =
            (line["agreement_id"].as_i64().unwrap(), line["product_id"].as_i64().unwrap());
        let on = date(&line["effective_date"]);
        let units = env.sandbox.autotask_units_at(contract, service, on);
        assert_eq!(units, line["after"].as_i64(), "{} on {on}: {line}", line["company"]);
        let start = before_run.get(&(contract, service)).copied().unwrap_or(0);
        assert_eq!(units.unwrap() - start, line["change"].as_i64().unwrap(), "{line}");
    }
    // One adjustment per changed line, never two.
    let mut per_line: BTreeMap<i64, usize> = BTreeMap::new();
    for (line, _, _) in env.sandbox.autotask_adjustments() {
        *per_line.entry(line).or_default() += 1;
    }
    assert!(per_line.values().all(|n| *n == 1), "a line got two adjustments: {per_line:?}");
    assert_eq!(per_line.len(), planned.len());
}

pub(crate) fn units_before(env: &Env, planned: &[Value]) -> BTreeMap<(i64, i64), i64> {
    planned
        .iter()
        .filter_map(|l| {
            let key = (l["agreement_id"].as_i64()?, l["product_id"].as_i64()?);
            Some((key, env.sandbox.autotask_units_at(key.0, key.1, date(&l["effective_date"])).unwrap_or(0)))
        })
        .collect()
}

#[test]
fn a_sync_adjusts_each_changed_line_once_dated_by_the_open_period() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    assert!(planned.len() >= 8, "{plan:#}");
    let line = |company: &str| crate::harness::line(&plan, company).clone();
    let today = chrono::Utc::now().date_naive();
    let first =
        chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), chrono::Datelike::month(&today), 1)
            .unwrap();
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
    // An update: the units in force on the 1st, the delta, the money.
    let greenfield = line("Greenfield Accounting LLC");
    assert_eq!(
        (greenfield["action"].as_str(), greenfield["before"].as_i64(), greenfield["after"].as_i64()),
        (Some("update"), Some(8), Some(10))
    );
    assert_eq!((greenfield["change"].as_i64(), date(&greenfield["effective_date"])), (Some(2), first));
    assert_eq!(greenfield["revenue_change"], 6.0);
    // O'Brien & Sons' contract has this month posted: from the 1st of next month, and why.
    let obrien = line("O'Brien & Sons");
    assert_eq!(date(&obrien["effective_date"]), next);
    assert_eq!(obrien["date_rule"]["rule"], "posted");
    // A service the contract lacks: an add, at the Service's price.
    let cafe = line("Café Lumière");
    assert_eq!((cafe["action"].as_str(), cafe["change"].as_i64()), (Some("add"), Some(13)));
    assert!(env.sandbox.autotask_adjustments().is_empty(), "a dry run writes nothing");

    let before = units_before(&env, &planned);
    let pushed = env.run_json(&["sync", "--yes"], 0);
    assert_eq!(pushed["applied"].as_u64(), Some(planned.len() as u64), "{pushed:#}");
    assert_landed_once(&env, &planned, &before);

    // Converged: the next run plans nothing and sends nothing.
    let again = env.run_json(&["sync", "--yes"], 0);
    assert!(writes(&again).is_empty(), "{again:#}");
    assert_eq!(env.sandbox.autotask_adjustments().len(), planned.len());
    let status = env.run(&["status"], 0);
    assert!(status.contains("nodeware"), "{status}");
    let page = env.run(&["report", "--format", "csv"], 0);
    assert!(page.contains("O'Brien & Sons"), "{page}");
}

#[test]
fn contracts_are_mapped_by_name_number_or_id_and_services_by_name_or_id() {
    let env = autotask_env(Sandbox::start().unwrap(), &["nodeware"], "");
    env.run(&["connect", "nodeware"], 0);
    let companies = env.run(&["companies", "--search", "summit"], 0);
    assert!(companies.contains("Summit Dental") && companies.contains("Managed Services"), "{companies}");
    // Summit Dental is two companies: map one by hand, its contract by number (--contract).
    let accounts = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    let summit = accounts.as_array().unwrap().iter().find(|a| a["account"] == "Summit Dental").unwrap();
    let id = summit["account_id"].as_str().unwrap().to_string();
    let mapped = env.run_json(
        &[
            "map",
            "accounts",
            "--vendor",
            "nodeware",
            "--set",
            &id,
            "--company",
            "252",
            "--contract",
            "RS-3002",
        ],
        0,
    );
    assert_eq!(mapped["mapping"]["agreement_id"], 3002, "{mapped:#}");
    // Services: by name, and by id; an unknown one is a usage error with the closest names.
    env.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    env.run(&["map", "services", "--set", "vms", "--product", "501"], 0);
    let out = env.recon(&["map", "services", "--set", "vms", "--product", "NODEWARE-VM"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Autotask Service") && err.contains("NODEWARE-VMS"), "{err}");
    // --create-product is a ConnectWise feature: said plainly.
    let out = env.recon(&["map", "services", "--set", "vms", "--create-product", "X"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn lost_answers_and_500s_on_adjustments_are_settled_by_reading_never_by_sending_again() {
    let sandbox = Sandbox::start().unwrap();
    let env = nodeware(sandbox, "\n[http]\ntimeout_seconds = 2\nmax_attempts = 3\n");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    let before = units_before(&env, &planned);
    // Every answer to a write is lost after Autotask acted (reset, slow, cut short).
    env.sandbox.set_faults(Faults {
        reset_fraction: 0.4,
        truncate_fraction: 0.3,
        slow_fraction: 0.3,
        slow_delay: Duration::from_secs(3),
        methods: vec!["POST".into()],
        servers: vec!["autotask".into()],
        seed: 17,
        ..Faults::default()
    });
    // Queries are POSTs too: only adjustments are faulted once the plan is read, so the
    // first run may fail some reads; it must still never double an adjustment.
    let first = env.recon(&["--json", "sync", "--yes"]).output().unwrap();
    assert!(matches!(first.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&first.stderr));
    env.sandbox.set_faults(Faults::default());
    env.run(&["sync", "--yes"], 0);
    assert_landed_once(&env, &planned, &before);
    let again = env.run_json(&["sync", "--dry-run"], 0);
    assert!(writes(&again).is_empty(), "{again:#}");
}

#[test]
fn check_names_the_permission_the_security_level_lacks() {
    let env = autotask_env(Sandbox::start().unwrap(), &[], "");
    let ok = env.run(&["check"], 2); // no vendor configured: check says so, a config error
    assert!(ok.contains("requests used this hour"), "{ok}");
    for (entity, permission) in [
        ("ContractServiceAdjustments", "Contracts: manage contracts and adjustments"),
        ("Services", "Inventory/Products: view services"),
        ("Companies", "CRM: view Customer companies"),
    ] {
        env.sandbox.deny_autotask_entity(entity);
        let out = env.run(&["check"], 2);
        assert!(out.contains(permission), "{entity}: {out}");
    }
}

#[test]
fn a_line_whose_units_change_again_later_in_the_period_is_left_to_a_person() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let greenfield = writes(&plan).into_iter().find(|l| l["company"] == "Greenfield Accounting LLC").unwrap();
    let first = date(&greenfield["effective_date"]);
    // Someone adds a unit from the 15th in Autotask: a delta from the 1st would shift it too.
    assert!(env.sandbox.adjust_autotask_by_hand(3015, 501, first + chrono::Days::new(14), 1));
    let plan = env.run_json(&["sync", "--yes"], 0);
    let line = plan["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["company"] == "Greenfield Accounting LLC")
        .unwrap();
    assert_eq!(
        (line["action"].as_str(), line["reason_code"].as_str()),
        (Some("skipped"), Some("changes_later")),
        "{line}"
    );
    assert_eq!(env.sandbox.autotask_units_at(3015, 501, first), Some(8), "not stacked on");
}

#[test]
fn contracts_that_all_look_empty_are_not_filled_with_adds() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    // A security level that hides contract services answers empty lists, not errors.
    env.sandbox.set_autotask_hide_contract_services(true);
    let out = env.recon(&["--json", "sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("security level most likely hides them"), "{err}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(writes(&plan).is_empty(), "{plan:#}");
    assert!(env.sandbox.autotask_adjustments().is_empty(), "no unit added on top of hidden lines");
}

#[test]
fn errors_and_429s_before_autotask_acts_leave_nothing_half_done() {
    let env = nodeware(Sandbox::start().unwrap(), "\n[http]\nmax_attempts = 3\n");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    let before = units_before(&env, &planned);
    // 500s and 503s (Autotask did nothing) and 429s, on every request: reads are retried,
    // an adjustment answered 500 is settled by reading (not applied: planned again).
    env.sandbox.set_faults(Faults {
        server_error_fraction: 0.3,
        throttle_fraction: 0.1,
        servers: vec!["autotask".into()],
        seed: 5,
        ..Faults::default()
    });
    let first = env.recon(&["sync", "--yes"]).output().unwrap();
    assert!(matches!(first.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&first.stderr));
    env.sandbox.set_faults(Faults::default());
    env.run(&["sync", "--yes"], 0);
    assert_landed_once(&env, &planned, &before);
}

#[test]
fn a_period_posted_after_a_dry_run_moves_the_next_push_to_the_open_period() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let greenfield = writes(&plan).into_iter().find(|l| l["company"] == "Greenfield Accounting LLC").unwrap();
    // The period is posted after the dry run (an admin approving and posting it): the push
    // reads the posted periods afresh and dates the change in the next open one, so it is
    // never sent into a period Autotask would refuse. (An adjustment Autotask does refuse
    // with a 500 is settled by reading: errors_and_429s_before_autotask_acts...)
    let first = chrono::NaiveDate::parse_from_str(greenfield["effective_date"].as_str().unwrap(), "%Y-%m-%d")
        .unwrap();
    env.sandbox.set_autotask_posted_until(3015, first.checked_add_months(chrono::Months::new(1)).unwrap());
    let out = env.recon(&["sync", "--yes"]).output().unwrap();
    // Dated the next open period, it lands.
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
    assert_eq!(env.sandbox.autotask_units_at(3015, 501, next), Some(10));
    assert_eq!(env.sandbox.autotask_units_at(3015, 501, first), Some(8), "a posted period is left alone");
}

#[test]
fn a_period_posted_during_the_push_is_written_in_the_next_open_one_in_the_same_run() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan).len();
    let greenfield = crate::harness::line(&plan, "Greenfield Accounting LLC").clone();
    let first = date(&greenfield["effective_date"]);
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
    // Someone posts Greenfield's period after the run has read its contract, before its
    // adjustment arrives: Autotask refuses it (a 500); the run reads the contract again
    // and dates the change in the next open period, in the same run.
    env.sandbox.autotask_post_on_write(3015, next);
    let posts_before = adjustment_posts(&env);
    let out = env.recon(&["--json", "sync", "--yes"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("posted during the run"), "{err}");
    assert_eq!(env.sandbox.autotask_units_at(3015, 501, next), Some(10));
    assert_eq!(env.sandbox.autotask_units_at(3015, 501, first), Some(8), "a posted period is left alone");
    assert_eq!(adjustment_posts(&env) - posts_before, planned + 1, "one more POST, for the redated change");
    // The ledger shows the change as written: its new date, applied.
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let history = env.run_json(&["history", &run["run_id"].to_string()], 0);
    let change = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["company"] == "Greenfield Accounting LLC")
        .unwrap()
        .clone();
    assert_eq!(
        (change["state"].as_str(), date(&change["effective_date"])),
        (Some("applied"), next),
        "{change}"
    );
    // And the next run finds it done: nothing to send, nothing held.
    let again = env.run_json(&["sync", "--yes"], 0);
    assert_eq!(crate::harness::line(&again, "Greenfield Accounting LLC")["action"], "unchanged");
}

fn adjustment_posts(env: &Env) -> usize {
    env.sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.contains("ContractServiceAdjustments"))
        .count()
}

#[test]
fn the_thread_limit_and_the_hourly_threshold_are_respected() {
    let sandbox = Sandbox::start().unwrap();
    sandbox.set_autotask_hold(Duration::from_millis(60));
    let env = nodeware(sandbox, "\n[http]\nworkers = 8\n");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan).len() as u64;

    // Not enough left this hour for the push (enough for its reads): refused before
    // anything is sent.
    let used = env.sandbox.requests().iter().filter(|r| r.server == "autotask").count() as u64;
    env.sandbox.set_autotask_threshold(10_000, 10_000 - used - 8);
    let out = env.recon(&["sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left this hour") && err.contains("nothing was pushed"), "{err}");
    assert!(env.sandbox.autotask_adjustments().is_empty());
    env.sandbox.set_autotask_threshold(10_000, 0);
    let check = env.run(&["check"], 0);
    assert!(check.contains("requests used this hour"), "{check}");
    env.run(&["sync", "--yes"], 0);
    assert_eq!(env.sandbox.autotask_adjustments().len() as u64, planned);
    let refused =
        env.sandbox.requests().into_iter().filter(|r| r.server == "autotask" && r.status == 429).count();
    assert_eq!(refused, 0, "no 4th concurrent request on an endpoint, no threshold refusal");
}

#[test]
fn a_moved_zone_is_found_again_and_a_foreign_next_page_gets_no_credentials() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    env.sandbox.set_autotask_zone("zone2");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert!(!writes(&plan).is_empty());
    let discoveries = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path_and_query.to_ascii_lowercase().contains("zoneinformation"))
        .count();
    assert!(discoveries >= 2, "discovered again after the 401");

    // A nextPageUrl on another host: refused, never followed with the API user's headers.
    env.sandbox.set_autotask_foreign_next_page(true);
    let next_pages = |env: &Env| {
        env.sandbox.requests().iter().filter(|r| r.path_and_query.contains("/query/next")).count()
    };
    let followed_before = next_pages(&env);
    let out = env.recon(&["companies"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another host"), "{err}");
    assert_eq!(next_pages(&env), followed_before, "never followed");
}

#[test]
fn held_changes_are_approved_and_undo_is_a_compensating_adjustment() {
    let sandbox = Sandbox::start().unwrap();
    let text = sandbox
        .autotask_config_toml_for(&["nodeware"])
        .replace(recon_sandbox::SYNC_PUSH_EVERYTHING, "\n[sync]\ndecreases = \"review\"\n");
    let env = Env::with_config(sandbox, &text);
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    env.run(&["sync", "--yes"], 4);
    let held = env.run_json(&["review"], 0);
    let smith = held
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["company"] == "Smith & Whitfield Attorneys")
        .unwrap()
        .clone();
    env.run(&["approve", &smith["id"].to_string()], 0);
    let first = date(&smith["effective_date"]);
    assert_eq!(env.sandbox.autotask_units_at(3008, 501, first), Some(18));

    let runs = env.run_json(&["history"], 0);
    let approve_run =
        runs.as_array().unwrap().iter().find(|r| r["kind"] == "approve").unwrap()["id"].to_string();
    env.run(&["undo", &approve_run, "--yes"], 0);
    assert_eq!(env.sandbox.autotask_units_at(3008, 501, first), Some(25), "back to what it was");
    let changes: Vec<i64> =
        env.sandbox.autotask_adjustments().iter().filter(|a| a.0 == 7103).map(|a| a.2).collect();
    assert_eq!(changes, vec![-7, 7], "a compensating adjustment, never an edit");
}

#[test]
fn bad_autotask_configs_name_the_key_and_change_nothing() {
    let sandbox = Sandbox::start().unwrap();
    let good = sandbox.autotask_config_toml_for(&["nodeware"]);
    let both = format!("{}\n{good}", sandbox.config_toml_for(&[]).split("\n[sync]").next().unwrap());
    let env = Env::with_config(sandbox, &both);
    let out = env.recon(&["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("both [connectwise] and [autotask]"));

    for (text, says) in [
        (good.replace("requests_per_hour = 10000", "requests_per_hour = 20000"), "requests_per_hour = 20000"),
        (good.replace("secret = ", "secret_env = \"RECON_NOT_SET\"\n#"), "RECON_NOT_SET"),
        (
            good.replace("username = \"recon-api@sandbox.example\"", "username = \"nobody@example\""),
            "zone discovery",
        ),
    ] {
        env.set_config(&text);
        let out = env.recon(&["--json", "companies"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(1 | 2)), "{err}");
        assert!(err.contains(says), "{says}: {err}");
    }
    assert!(env.sandbox.autotask_adjustments().is_empty());

    // The starter: init --psa autotask, then check names what is still to fill in.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let init = std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
        .env_clear()
        .env("HOME", dir.path())
        .args(["--config", path.to_str().unwrap(), "init", "--psa", "autotask"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[autotask]") && !text.contains("\n[connectwise]"), "{text}");
    let check = std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
        .env_clear()
        .env("HOME", dir.path())
        .args(["--config", path.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains("[autotask]") && err.contains("REPLACE-ME"), "{err}");
}

#[test]
fn a_contract_billed_two_months_ahead_is_dated_after_them_and_never_held_after() {
    let env = nodeware(Sandbox::start().unwrap(), "");
    let today = chrono::Utc::now().date_naive();
    let first =
        chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), chrono::Datelike::month(&today), 1)
            .unwrap();
    let months = |n| first.checked_add_months(chrono::Months::new(n)).unwrap();
    // This month and the next are posted already (an MSP that bills in advance).
    env.sandbox.set_autotask_posted_until(3015, months(2));
    let first_run = env.run_json(&["sync", "--yes"], 0);
    let greenfield = crate::harness::line(&first_run, "Greenfield Accounting LLC").clone();
    assert_eq!(date(&greenfield["effective_date"]), months(2), "{greenfield}");
    assert_eq!(env.sandbox.autotask_units_at(3015, 501, months(2)), Some(10));
    assert_eq!(env.sandbox.autotask_units_at(3015, 501, months(1)), Some(8), "posted months are left alone");
    // Every later run sees the line at what recon set, on the day recon dated it: no hold,
    // nothing sent, exit 0.
    for run in 2..=3 {
        let out = env.run_json(&["sync", "--yes"], 0);
        let line = crate::harness::line(&out, "Greenfield Accounting LLC");
        assert_eq!(line["action"], "unchanged", "run {run}: {line}");
    }
    assert_eq!(env.sandbox.autotask_adjustments().iter().filter(|a| a.1 == months(2)).count(), 1);
}

/// Kill a push in the write of `company`'s line at `point`, then run again: every change
/// lands exactly once (one adjustment per line, the vendor's units on its date).
fn killed_in_the_write_of(company: &str, point: Kill) {
    let env = nodeware(Sandbox::start().unwrap(), "\n[http]\nworkers = 1\ntimeout_seconds = 3\n");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let planned = writes(&plan);
    let before = units_before(&env, &planned);
    let target = crate::harness::line(&plan, company).clone();
    let contract = target["agreement_id"].as_i64().unwrap();
    let service = target["product_id"].as_i64().unwrap();
    let on = date(&target["effective_date"]);
    let landed = || env.sandbox.autotask_units_at(contract, service, on) == target["after"].as_i64();
    let second = env.killed_in_a_write("autotask", &format!("\"contractID\":{contract},"), point, landed);
    assert_eq!(second.status.code(), Some(0), "{point:?}: {}", String::from_utf8_lossy(&second.stderr));
    assert_landed_once(&env, &planned, &before);
    let again = env.run_json(&["sync", "--yes"], 0);
    assert!(writes(&again).is_empty(), "{point:?}: converged: {again:#}");
}

#[test]
fn a_kill_in_a_delta_on_an_existing_line_never_doubles_it() {
    for point in Kill::EVERY {
        killed_in_the_write_of("Greenfield Accounting LLC", point);
    }
}

#[test]
fn requests_per_hour_is_a_budget_per_rolling_hour_across_processes() {
    const BUDGET: usize = 20;
    let sandbox = Sandbox::start().unwrap();
    let text = sandbox
        .autotask_config_toml_for(&["nodeware"])
        .replace("requests_per_hour = 10000\n", &format!("requests_per_hour = {BUDGET}\n"));
    assert!(text.contains(&format!("requests_per_hour = {BUDGET}")), "{text}");
    // One connect, then process after process, each starting fresh: the database counts what
    // every one sent, the zone lookups included.
    let env = Env::with_nodeware(sandbox, &text);
    let sent = |env: &Env| {
        let requests: Vec<String> = env
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.server == "autotask")
            .map(|r| format!("{} {}", r.method, r.path_and_query))
            .collect();
        assert!(
            requests.len() <= BUDGET,
            "{} requests to Autotask in the hour: {requests:#?}",
            requests.len()
        );
        requests.len()
    };
    let mut refused = None;
    for run in 1..=10 {
        let out = env.recon(&["sync", "--dry-run"]).output().unwrap();
        sent(&env);
        if out.status.code() != Some(0) {
            refused = Some((run, String::from_utf8_lossy(&out.stderr).to_string()));
            break;
        }
    }
    let (run, err) = refused.expect("the hour's share ran out");
    assert!(run > 1, "{err}");
    assert!(err.contains("requests_per_hour") && err.contains("free at"), "{err}");
    // A push that does not fit what is left is refused before anything is sent.
    let before = sent(&env);
    let out = env.recon(&["sync", "--yes"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(env.sandbox.autotask_adjustments().is_empty(), "nothing half-written");
    assert_eq!(sent(&env), before, "the refused push sent nothing, not even the zone lookup");
}
