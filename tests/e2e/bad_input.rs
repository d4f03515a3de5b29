//! Hostile and broken input, one row each: a clear message, the right exit code, and
//! nothing written (no database for config errors, no ConnectWise write ever).

use crate::harness::Env;
use recon_sandbox::{Faults, Sandbox, SandboxOptions};
use serde_json::{Value, json};

const ACME: &str = "d348c14dfd9993416a7e413b1af0ca13";
const OBRIEN: &str = "19a60ff3426105fcd973cc356dd312ca";

fn fails(env: &Env, args: &[&str], code: i32) -> String {
    let out = env.recon(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "recon {args:?}\nstderr:\n{stderr}");
    assert!(env.cw_writes().is_empty(), "recon {args:?} wrote to ConnectWise: {:?}", env.cw_writes());
    stderr
}

/// Connected and mapped, ready to sync.
fn mapped() -> Env {
    let env = Env::new(&["nodeware"]);
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    env
}

#[test]
fn config_errors_exit_2_and_create_nothing() {
    let env = Env::new(&["nodeware"]);
    let good = std::fs::read_to_string(&env.config).unwrap();
    let nodeware_url = env.sandbox.vendor_url("nodeware").unwrap();
    let rows: Vec<(&str, String, Vec<&str>)> = vec![
        ("malformed TOML", good.replace("company_id = ", "company_id == "), vec!["config.toml:3:"]),
        (
            "unknown key",
            good.replace("[vendors.nodeware]\n", "[vendors.nodeware]\napi_kee = \"x\"\n"),
            vec!["api_kee", "config.toml:"],
        ),
        (
            "unknown vendor section",
            format!("{good}\n[vendors.acme-backup]\napi_key = \"k\"\n"),
            vec!["acme-backup"],
        ),
        (
            "missing key",
            good.replace(&format!("api_key = \"{}\"\n", recon_sandbox::NODEWARE_KEY), ""),
            vec!["api_key", "nodeware"],
        ),
        (
            "http for a remote host",
            good.replace(&nodeware_url, "http://nodeware.example.com"),
            vec!["http://", "loopback"],
        ),
    ];
    for (what, text, needles) in rows {
        env.set_config(&text);
        for args in [&["connect", "nodeware"][..], &["sync", "--dry-run"]] {
            let err = fails(&env, args, 2);
            for needle in &needles {
                assert!(err.contains(needle), "{what}: {args:?}: no {needle:?} in {err}");
            }
        }
        assert!(!env.db.exists(), "{what}: a database was created");
    }
}

#[test]
fn a_bad_vendor_quantity_fails_only_its_account_and_never_moves_its_line() {
    for (value, shown) in [(json!(-3), "-3"), (json!(2.5), "2.5"), (json!("ten"), "\"ten\"")] {
        let env = mapped();
        assert!(env.sandbox.set_vendor_quantity("nodeware", OBRIEN, "asset_totals/internal", value));
        let out = env.recon(&["--json", "sync", "--yes"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{shown}: a failed account exits 1\n{stderr}");
        for needle in ["nodeware", "O'Brien & Sons", "asset_totals.internal", shown] {
            assert!(stderr.contains(needle), "{shown}: no {needle:?} in {stderr}");
        }
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let failed = report["failed_accounts"]["nodeware"].as_array().unwrap();
        assert_eq!(failed.len(), 1, "{report}");
        assert!(failed[0].as_str().unwrap().contains("O'Brien & Sons"), "{report}");
        let obrien: Vec<&Value> =
            report["lines"].as_array().unwrap().iter().filter(|l| l["company"] == "O'Brien & Sons").collect();
        assert_eq!(obrien.len(), 1, "{report}");
        assert_eq!(obrien[0]["action"], "skipped");
        let agreement = obrien[0]["agreement_id"].as_i64().unwrap();
        let touched: Vec<_> = env
            .cw_writes()
            .into_iter()
            .filter(|w| w.path_and_query.contains(&format!("/{agreement}/")))
            .collect();
        assert!(touched.is_empty(), "{shown}: O'Brien's agreement was written: {touched:?}");
        assert!(!env.cw_writes().is_empty(), "the other customers are pushed");
    }
}

#[test]
fn a_name_two_vendor_accounts_share_is_matched_to_neither() {
    let env = Env::new(&["nodeware"]);
    assert!(env.sandbox.set_vendor_quantity("nodeware", OBRIEN, "name", json!("Acme Dental")));
    env.run(&["connect", "nodeware"], 0);
    let accounts = env.run_json(&["map", "accounts", "--vendor", "nodeware", "--search", "acme"], 0);
    let acme: Vec<&Value> =
        accounts.as_array().unwrap().iter().filter(|a| a["account"] == "Acme Dental").collect();
    assert_eq!(acme.len(), 2, "{accounts}");
    for account in acme {
        assert_eq!(
            (account["company"].as_str(), account["how"].as_str()),
            (Some("-"), Some("-")),
            "{account}"
        );
        assert!(account["note"].as_str().unwrap().starts_with("unmatched"), "{account}");
    }
}

#[test]
fn quotes_accents_and_emoji_round_trip() {
    let env = Env::new(&["nodeware"]);
    let name = "Zoë's \"Café\" 🦄 & Co — Ünïcödé\\backslash";
    assert!(env.sandbox.set_vendor_quantity("nodeware", ACME, "name", json!(name)));
    env.run(&["connect", "nodeware"], 0);
    let accounts = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    assert!(accounts.as_array().unwrap().iter().any(|a| a["account"] == name), "{accounts}");
    let table = env.run(&["map", "accounts", "--vendor", "nodeware", "--search", "🦄"], 0);
    assert!(table.contains(name), "{table}");
}

#[test]
fn a_vendor_that_lists_no_accounts_pushes_nothing() {
    // Connected with accounts, then the vendor answers []: that vendor fails the run.
    let env = mapped();
    assert!(env.sandbox.clear_vendor_accounts("nodeware"));
    let err = fails(&env, &["sync", "--yes"], 1);
    assert!(err.contains("nodeware"), "{err}");
    // Connecting to a vendor with no accounts at all warns (and stores nothing).
    let env = Env::new(&["nodeware"]);
    assert!(env.sandbox.clear_vendor_accounts("nodeware"));
    let out = env.recon(&["connect", "nodeware"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("no accounts"),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    assert!(env.cw_writes().is_empty());
}

#[test]
fn an_oversized_vendor_response_fails_clearly() {
    let faults =
        Faults { oversize_bytes: 50 * 1024 * 1024, servers: vec!["nodeware".into()], ..Faults::default() };
    let sandbox = Sandbox::start_with(SandboxOptions { faults, ..SandboxOptions::default() }).unwrap();
    let text = format!("{}\n[http]\nmax_response_mb = 1\n", sandbox.config_toml_for(&["nodeware"]));
    let env = Env::with_config(sandbox, &text);
    let err = fails(&env, &["connect", "nodeware"], 1);
    assert!(err.contains("nodeware") && err.contains("larger than the 1 MB limit"), "{err}");
    assert_eq!(env.run_json(&["map", "accounts"], 0), json!([]));
}

#[test]
fn a_vendor_login_page_fails_clearly() {
    let env = Env::new(&["nodeware"]);
    env.sandbox.set_faults(Faults {
        html_fraction: 1.0,
        servers: vec!["nodeware".into()],
        ..Faults::default()
    });
    let err = fails(&env, &["connect", "nodeware"], 1);
    assert!(err.contains("nodeware") && err.contains("expected JSON but got an HTML page"), "{err}");
    assert_eq!(env.run_json(&["map", "accounts"], 0), json!([]));
}
