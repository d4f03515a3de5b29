//! The contract every PSA keeps, checked the same way on each (ConnectWise, Autotask,
//! HaloPSA): a push killed at any moment never doubles or drops a line and the next run
//! converges; the write of a new line killed at each point of its life lands once; and no
//! key of the PSA appears in anything recon prints or stores. Each PSA says only how its
//! fake is configured and read (`Case`); what is checked is the same for all.

use crate::harness::{Env, Kill, writes};
use base64::Engine;
use recon_sandbox::{Credentials, Sandbox, SandboxOptions};
use serde_json::Value;
use std::time::Duration;

/// A check, made before a push, of what the PSA holds after it.
type Landed = Box<dyn Fn(&Env)>;

/// One PSA as the contract drives it.
struct Case {
    key: &'static str,
    /// Its sandbox config with these vendors.
    config: fn(&Sandbox, &[&str]) -> String,
    /// The writes of lines the fake has taken so far.
    taken: fn(&Env) -> usize,
    /// Whether a taken write is exactly one planned line (a Halo re-post may carry one the
    /// killed run had in flight, so its next run plans at most one more than was left).
    one_line_per_write: bool,
    /// Made before a push of `plan`: the check that each planned line then holds the vendor's
    /// quantity on exactly one line of the PSA, and nothing it held before was lost.
    landed_once: fn(&Env, &Value) -> Landed,
    /// The new line whose write is killed (`None`: the plan's first add), and what makes it
    /// one first (an Autotask contract that starts this month).
    new_line: (Option<&'static str>, fn(&Env)),
    /// The write of a line (a new one).
    write_of: fn(&Value) -> WriteOf,
    /// Its keys as canaries.
    keys: fn() -> Keys,
}

/// Where the write of one line goes, and when it landed.
struct WriteOf {
    server: &'static str,
    /// Text of its path or body that no other write has.
    only: String,
    landed: Box<dyn Fn(&Env) -> bool>,
}

/// A PSA's keys as canaries, one of them made wrong, and what the wrong one's error says.
struct Keys {
    credentials: Credentials,
    /// What must never show: each key, and what is sent in its place (an auth header's value).
    canaries: Vec<String>,
    right: &'static str,
    wrong: &'static str,
    says: &'static str,
}

fn cases() -> [Case; 3] {
    [connectwise(), autotask(), halopsa()]
}

fn env_of(case: &Case, options: SandboxOptions, extra: &str) -> Env {
    let sandbox = Sandbox::start_with(options).unwrap();
    let text = format!("{}{extra}", (case.config)(&sandbox, &["nodeware"]));
    Env::with_nodeware(sandbox, &text)
}

#[test]
fn every_psa_survives_a_push_killed_midway_and_the_next_run_converges() {
    for case in cases() {
        let options = SandboxOptions { latency: Duration::from_millis(150), ..SandboxOptions::default() };
        let env = env_of(&case, options, "\n[http]\nworkers = 1\ntimeout_seconds = 3\n");
        let plan = env.run_json(&["sync", "--dry-run"], 0);
        let planned = writes(&plan).len();
        let landed = (case.landed_once)(&env, &plan);
        env.kill_when(&["sync", "--yes"], || (case.taken)(&env) >= 3);
        let taken = (case.taken)(&env);
        assert!(taken < planned, "{}: killed too late to test anything", case.key);

        let second = env.run_json(&["sync", "--yes"], 0);
        let remaining = writes(&second).len();
        if case.one_line_per_write {
            assert_eq!(
                remaining,
                planned - taken,
                "{}: only what was not written is planned again",
                case.key
            );
        } else {
            assert!(
                remaining <= planned - taken + 1,
                "{}: only what was not written is planned again",
                case.key
            );
        }
        landed(&env);

        // The ledger of the killed run is settled: each write applied or failed, none left
        // in between; where a write is one line, as many applied as the PSA took.
        let runs = env.run_json(&["history"], 0);
        let killed = runs.as_array().unwrap().iter().find(|r| r["result"] == "interrupted");
        let killed = killed.unwrap_or_else(|| panic!("{}: an interrupted run: {runs:#}", case.key));
        let changes = env.run_json(&["history", &killed["id"].to_string()], 0);
        let written: Vec<&Value> = changes["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| matches!(c["action"].as_str(), Some("add" | "update")))
            .collect();
        assert!(written.iter().all(|c| c["state"] == "applied" || c["state"] == "failed"), "{written:#?}");
        if case.one_line_per_write {
            let applied = written.iter().filter(|c| c["state"] == "applied").count();
            assert_eq!(applied, taken, "{}: {written:#?}", case.key);
        }
        let again = env.run_json(&["sync", "--yes"], 0);
        assert!(writes(&again).is_empty(), "{}: converged: {again:#}", case.key);
    }
}

#[test]
fn every_psa_creates_a_new_line_once_wherever_its_write_is_killed() {
    for case in cases() {
        for point in Kill::EVERY {
            let env =
                env_of(&case, SandboxOptions::default(), "\n[http]\nworkers = 1\ntimeout_seconds = 3\n");
            (case.new_line.1)(&env);
            let plan = env.run_json(&["sync", "--dry-run"], 0);
            let target = match case.new_line.0 {
                Some(company) => crate::harness::line(&plan, company).clone(),
                None => {
                    plan["lines"].as_array().unwrap().iter().find(|l| l["action"] == "add").unwrap().clone()
                }
            };
            assert_eq!(target["action"], "add", "{}: {target}", case.key);
            let landed = (case.landed_once)(&env, &plan);
            let write = (case.write_of)(&target);
            let second = env.killed_in_a_write(write.server, &write.only, point, || (write.landed)(&env));
            let stderr = String::from_utf8_lossy(&second.stderr);
            assert_eq!(second.status.code(), Some(0), "{} {point:?}: {stderr}", case.key);
            landed(&env);
            let again = env.run_json(&["sync", "--yes"], 0);
            assert!(writes(&again).is_empty(), "{} {point:?}: converged: {again:#}", case.key);
        }
    }
}

#[test]
fn no_psa_key_or_token_appears_in_what_recon_prints_or_stores() {
    for case in cases() {
        let Keys { credentials, canaries, right, wrong, says } = (case.keys)();
        let env = {
            let sandbox =
                Sandbox::start_with(SandboxOptions { credentials, ..SandboxOptions::default() }).unwrap();
            let text = (case.config)(&sandbox, &["nodeware"]);
            Env::with_config(sandbox, &text)
        };
        let mut seen = String::new();
        for args in [
            vec!["-vv", "check"],
            vec!["-vv", "connect", "nodeware"],
            vec!["-vv", "map", "services", "--set", "vms", "--product", "NODEWARE-VMS"],
            vec!["-vv", "--json", "sync", "--yes"],
            vec!["-vv", "history", "1"],
            vec!["-vv", "report", "--format", "json"],
        ] {
            let out = env.recon(&args).output().unwrap();
            seen.push_str(&String::from_utf8_lossy(&out.stdout));
            seen.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        // A wrong key fails, and says what is wrong without the key.
        env.set_config(&std::fs::read_to_string(&env.config).unwrap().replace(right, wrong));
        let out = env.recon(&["-vv", "sync", "--dry-run"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {text}", case.key);
        assert!(text.contains(says), "{}: {says}: {text}", case.key);
        seen.push_str(&text);
        let db = String::from_utf8_lossy(&std::fs::read(&env.db).unwrap()).to_string();
        for canary in canaries.iter().map(String::as_str).chain([wrong]) {
            assert!(!seen.contains(canary), "{}: {canary} appeared in output", case.key);
            assert!(!db.contains(canary), "{}: {canary} is in the database", case.key);
        }
    }
}

fn connectwise() -> Case {
    Case {
        key: "connectwise",
        config: |sandbox, vendors| sandbox.config_toml_for(vendors),
        taken: |env| env.cw_writes().iter().filter(|r| r.status < 300).count(),
        one_line_per_write: true,
        landed_once: |_, plan| {
            let plan = plan.clone();
            Box::new(move |env| crate::safety::assert_converged(env, &plan))
        },
        new_line: (None, |_| {}),
        write_of: |line| {
            let agreement = line["agreement_id"].as_i64().unwrap();
            let product = line["product"].as_str().unwrap().to_string();
            let landed = Box::new(move |env: &Env| !env.live_additions(agreement, &product).is_empty());
            WriteOf { server: "connectwise", only: format!("agreements/{agreement}/additions"), landed }
        },
        keys: || {
            let keys = Credentials {
                cw_public_key: "CANARY-cw-public-3a1e".into(),
                cw_private_key: "CANARY-cw-private-9d2f".into(),
                cw_client_id: "CANARY-cw-client-5b7c".into(),
                ..Credentials::default()
            };
            // ConnectWise sends the keys as Basic `company+public:private`: its base64 too.
            let basic = format!("{}+{}:{}", keys.cw_company_id, keys.cw_public_key, keys.cw_private_key);
            let mut canaries: Vec<String> =
                ["CANARY-cw-public-3a1e", "CANARY-cw-private-9d2f", "CANARY-cw-client-5b7c"]
                    .map(String::from)
                    .into();
            canaries.push(base64::engine::general_purpose::STANDARD.encode(basic));
            Keys {
                credentials: keys,
                canaries,
                right: "CANARY-cw-private-9d2f",
                wrong: "CANARY-cw-wrong-0e0e",
                says: "401",
            }
        },
    }
}

fn autotask() -> Case {
    Case {
        key: "autotask",
        config: |sandbox, vendors| sandbox.autotask_config_toml_for(vendors),
        taken: |env| env.sandbox.autotask_adjustments().len(),
        one_line_per_write: true,
        landed_once: |env, plan| {
            let planned = writes(plan);
            let before = crate::autotask::units_before(env, &planned);
            Box::new(move |env| crate::autotask::assert_landed_once(env, &planned, &before))
        },
        new_line: (Some("Café Lumière"), |env| {
            // A contract that starts today: its first line is created, not adjusted.
            let plan = env.run_json(&["sync", "--dry-run"], 0);
            let contract = crate::harness::line(&plan, "Café Lumière")["agreement_id"].as_i64().unwrap();
            env.sandbox.autotask_set_contract_start(contract, chrono::Utc::now().date_naive());
        }),
        write_of: |line| {
            let (contract, service) =
                (line["agreement_id"].as_i64().unwrap(), line["product_id"].as_i64().unwrap());
            let (on, after) = (crate::autotask::date(&line["effective_date"]), line["after"].as_i64());
            let landed =
                Box::new(move |env: &Env| env.sandbox.autotask_units_at(contract, service, on) == after);
            WriteOf { server: "autotask", only: format!("\"contractID\":{contract},"), landed }
        },
        keys: || {
            let keys = Credentials {
                at_secret: "CANARY-at-secret-77f1".into(),
                at_integration_code: "CANARY-at-code-19ab".into(),
                ..Credentials::default()
            };
            let canaries = vec!["CANARY-at-secret-77f1".into(), "CANARY-at-code-19ab".into()];
            Keys {
                credentials: keys,
                canaries,
                right: "CANARY-at-secret-77f1",
                wrong: "CANARY-wrong-at-0c0c",
                says: "401",
            }
        },
    }
}

fn halopsa() -> Case {
    Case {
        key: "halopsa",
        config: |sandbox, vendors| sandbox.halopsa_config_toml_for(vendors),
        taken: |env| {
            let reposts = env.sandbox.requests().into_iter();
            reposts
                .filter(|r| {
                    r.server == "halopsa" && r.method == "POST" && r.path_and_query.starts_with("/api/")
                })
                .count()
        },
        one_line_per_write: false,
        landed_once: |env, plan| {
            let planned = writes(plan);
            let before = crate::halopsa::invoices_of(env, &planned);
            Box::new(move |env| crate::halopsa::assert_landed_once(env, &planned, &before))
        },
        new_line: (Some("Café Lumière"), |_| {}),
        write_of: |line| {
            let (invoice, item) =
                (line["agreement_id"].as_i64().unwrap(), line["product_id"].as_i64().unwrap());
            let after = line["after"].as_f64();
            let landed = Box::new(move |env: &Env| {
                let lines = env.sandbox.halo_invoice_lines(invoice);
                lines.iter().any(|l| l["_itemid"].as_i64() == Some(item) && l["qty_order"].as_f64() == after)
            });
            WriteOf { server: "halopsa", only: format!("\"id\":{invoice},\"lines\""), landed }
        },
        keys: || {
            let keys = Credentials {
                halo_client_secret: "CANARY-halo-secret-61be".into(),
                ..Credentials::default()
            };
            // Halo's tokens are canaries too: the fake issues them as `halo-token-...`.
            let canaries = vec!["CANARY-halo-secret-61be".into(), "halo-token-".into()];
            Keys {
                credentials: keys,
                canaries,
                right: "CANARY-halo-secret-61be",
                wrong: "CANARY-halo-wrong-0c4d",
                says: "client_secret",
            }
        },
    }
}
