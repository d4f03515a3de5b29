//! Bad input gets a clear error, the right exit code, and nothing written.

use crate::harness::Env;
use recon_sandbox as sandbox;

#[test]
fn a_config_error_names_file_line_and_key() {
    let env = Env::new(&["nodeware"]);
    let text = std::fs::read_to_string(&env.config).unwrap();
    let bad = text.replace(recon_sandbox::SYNC_PUSH_EVERYTHING, "\n[sync]\nincreses = \"apply\"\n");
    env.set_config(&bad);
    let err = env.stderr_of(&["connect", "nodeware"], 2);
    let line = bad.lines().position(|l| l.starts_with("increses")).unwrap() + 1;
    assert!(err.contains(&format!("config.toml:{line}:")) && err.contains("increses"), "{err}");
    assert!(!env.db.exists(), "nothing is written on a config error");
}

#[test]
fn a_vendor_not_in_the_config_is_a_usage_error() {
    let env = Env::new(&["nodeware"]);
    let err = env.stderr_of(&["connect", "huntress"], 2);
    assert!(err.contains("\"huntress\" is not in") && err.contains("configured: nodeware"), "{err}");
}

#[test]
fn a_rejected_vendor_key_fails_clearly_without_showing_it() {
    let env = Env::new(&["nodeware"]);
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace(sandbox::NODEWARE_KEY, "wrong-key-canary"));
    let err = env.stderr_of(&["connect", "nodeware"], 1);
    assert!(err.contains("nodeware") && err.contains("401"), "{err}");
    assert!(!err.contains("wrong-key-canary"), "{err}");
}

#[test]
fn a_rejected_connectwise_key_names_the_permission() {
    let env = Env::new(&["nodeware"]);
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace(sandbox::CW_PRIVATE_KEY, "wrong-private-canary"));
    let err = env.stderr_of(&["connect", "nodeware"], 1);
    assert!(err.contains("Companies > Company Maintenance"), "{err}");
    assert!(!err.contains("wrong-private-canary"), "{err}");
}

#[test]
fn sync_before_connect_says_what_to_do() {
    let env = Env::new(&["nodeware"]);
    let err = env.stderr_of(&["sync", "--dry-run"], 2);
    assert!(err.contains("recon connect"), "{err}");
    let err = env.stderr_of(&["sync", "--dry-run", "--period", "last-month"], 2);
    assert!(err.contains("YYYY-MM"), "{err}");
}

#[test]
fn keys_never_appear_in_output_or_the_database() {
    let env = Env::new(&["nodeware", "huntress"]);
    let mut seen = String::new();
    for args in [
        vec!["connect", "nodeware"],
        vec!["connect", "huntress"],
        vec!["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"],
        vec!["-vv", "sync", "--dry-run"],
        vec!["--json", "sync", "--yes"],
        vec!["status"],
        vec!["history"],
    ] {
        let out = env.recon(&args).output().unwrap();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    let mut db = std::fs::read(&env.db).unwrap();
    for suffix in ["-wal", "-shm"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", env.db.display())) {
            db.extend(bytes);
        }
    }
    let db = String::from_utf8_lossy(&db);
    for key in [
        sandbox::NODEWARE_KEY,
        sandbox::HUNTRESS_KEY,
        sandbox::HUNTRESS_SECRET,
        sandbox::CW_PRIVATE_KEY,
        sandbox::CW_PUBLIC_KEY,
    ] {
        assert!(!seen.contains(key), "{key} appeared in output");
        assert!(!db.contains(key), "{key} appeared in the database");
    }
}

/// Run with stdout a pipe whose reader is already gone (`recon ... | head -0`).
fn with_closed_stdout(env: &Env, args: &[&str]) -> (i32, String) {
    let mut child = env
        .process(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader closes before recon writes a byte
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn a_closed_pipe_ends_quietly_and_never_leaves_a_run_half_recorded() {
    let env = Env::new(&["nodeware"]);
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    for args in [&["sync", "--dry-run"][..], &["history", "1"], &["map", "accounts"], &["--json", "status"]] {
        let (code, stderr) = with_closed_stdout(&env, args);
        assert_eq!(code, 0, "recon {args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("error"), "recon {args:?}: {stderr}");
    }
    // A pushing run whose reader went away still pushes and records everything.
    let (code, stderr) = with_closed_stdout(&env, &["sync", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!env.cw_writes().is_empty(), "the run pushed");
    let history = env.run_json(&["history"], 0);
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert!(last["finished_at"].is_string() && last["result"] == "ok", "{history}");
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert_eq!(
        plan["counts"]["add"].as_u64().unwrap() + plan["counts"]["update"].as_u64().unwrap(),
        0,
        "{plan}"
    );
}

#[test]
fn quiet_never_hides_why_a_run_failed() {
    let env = Env::new(&["nodeware"]);
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    assert!(env.sandbox.clear_vendor_accounts("nodeware"));
    let out = env.recon(&["-q", "--no-progress", "sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recon: failed: nodeware: returned no accounts"),
        "cron mail says why:\n{stderr}"
    );
    assert!(!stderr.contains("warning"), "-q still hides warnings: {stderr}");
    // The run record keeps the failed vendor with its message.
    let history = env.run(&["history", "1"], 0);
    assert!(history.contains("Vendor nodeware failed: returned no accounts"), "{history}");
    let json = env.run_json(&["history", "1"], 0);
    assert!(json["details"]["failed_vendors"]["nodeware"].as_str().unwrap().contains("returned no accounts"));
}

#[test]
fn completions_and_the_man_page_need_nothing_but_the_binary() {
    for (args, needle) in [
        (&["completions", "bash"][..], "_recon()"),
        (&["completions", "zsh"], "#compdef recon"),
        (&["completions", "fish"], "complete -c recon"),
        (&["completions", "powershell"], "Register-ArgumentCompleter"),
        (&["man"], ".TH recon 1"),
    ] {
        let out = assert_cmd::Command::cargo_bin("recon").unwrap().env_clear().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(needle), "{args:?}: {}", &text[..text.len().min(200)]);
    }
}

#[test]
fn tables_fit_the_width_columns_gives_and_pipes_are_not_wrapped() {
    let env = Env::new(&["nodeware", "huntress"]);
    for vendor in ["nodeware", "huntress"] {
        env.run(&["connect", vendor], 0);
    }
    env.run(&["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    env.run(
        &["map", "services", "--vendor", "huntress", "--set", "edr-agents", "--product", "HUNTRESS-EDR"],
        0,
    );
    // ITDR is 0 where a customer has no addition of it: lines with nothing to bill.
    env.run(
        &[
            "map",
            "services",
            "--vendor",
            "huntress",
            "--set",
            "itdr-identities",
            "--product",
            "HUNTRESS-ITDR",
        ],
        0,
    );
    for columns in ["80", "100"] {
        let narrow = env.process(&["sync", "--dry-run"]).env("COLUMNS", columns).output().unwrap();
        let text = String::from_utf8_lossy(&narrow.stdout);
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= columns.parse().unwrap(), "COLUMNS={columns}: a line of {widest}:\n{text}");
        assert!(
            text.contains("  unchanged  ") && text.contains("+39.00"),
            "actions and money are not cut:\n{text}"
        );
        assert!(
            text.contains("Acme Dental / Managed Services"),
            "a heading per company and agreement:\n{text}"
        );
    }
    // Piped with no COLUMNS: a bordered table, one line a row; the lines with nothing to
    // bill are counted, not listed, and one company's identical skips are one row.
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    let lines = plan["lines"].as_array().unwrap();
    let quiet = lines.iter().filter(|l| l["reason_code"] == "nothing_to_bill").count();
    let brightwater = lines.iter().filter(|l| l["company"] == "Brightwater Manufacturing Inc.").count();
    assert_eq!(brightwater, 2, "no agreement chosen, once per vendor: {plan}");
    // Rows saved by merging: each company's "no agreement" skips beyond its first.
    let mut no_agreement: std::collections::BTreeMap<&str, usize> = Default::default();
    for l in lines.iter().filter(|l| l["reason_code"] == "no_agreement") {
        *no_agreement.entry(l["company"].as_str().unwrap()).or_default() += 1;
    }
    let merged_away: usize = no_agreement.values().map(|n| n - 1).sum();
    let piped = env.run(&["sync", "--dry-run"], 0);
    let rows: Vec<&str> = piped.lines().filter(|l| l.starts_with('│')).collect();
    assert_eq!(
        rows.len(),
        lines.len() - quiet - merged_away + 1,
        "header and one row a shown line:\n{piped}"
    );
    let merged: Vec<&&str> = rows.iter().filter(|r| r.contains("Brightwater")).collect();
    assert_eq!(merged.len(), 1);
    assert!(
        merged[0].contains("huntress, nodeware") || merged[0].contains("nodeware, huntress"),
        "{}",
        merged[0]
    );
    assert!(quiet > 0, "the plan has lines with nothing to bill: {plan}");
    assert!(piped.contains(&format!(
        "{quiet} unchanged lines have no addition and nothing to bill; --all lists them"
    )));
    let all = env.run(&["sync", "--dry-run", "--all"], 0);
    assert_eq!(all.lines().filter(|l| l.starts_with('│')).count(), lines.len() - merged_away + 1);
    assert!(rows[0].contains(" vendor "), "a vendor column: {}", rows[0]);
}

#[test]
fn demo_refuses_json_instead_of_printing_text() {
    let out = assert_cmd::Command::cargo_bin("recon")
        .unwrap()
        .env_clear()
        .env("HOME", "/tmp")
        .args(["--json", "demo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing that is not JSON on stdout");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--json is not supported"));
}
