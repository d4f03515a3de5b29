//! The first path through the whole tool: connect, map, dry run, sync, sync again.

use crate::harness::Env;
use serde_json::Value;

fn lines(plan: &Value) -> Vec<Value> {
    plan["lines"].as_array().expect("plan lines").clone()
}

fn find<'a>(lines: &'a [Value], company: &str, product: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["company"] == company && l["product"] == product)
        .unwrap_or_else(|| panic!("no line for {company} / {product}"))
}

#[test]
fn connect_map_dry_run_sync_and_sync_again() {
    let env = Env::new(&["nodeware"]);

    let out = env.run(&["connect", "nodeware"], 0);
    assert!(out.contains("Connected nodeware: 26 accounts"), "{out}");

    // Exact-name matching ignores case and spacing, and leaves a shared name alone.
    let accounts = env.run_json(&["map", "accounts", "--vendor", "nodeware"], 0);
    let account = |name: &str| {
        accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    let northside = account("  northside family   DENTISTRY ");
    assert_eq!(northside["company"], "Northside Family Dentistry");
    assert_eq!(northside["how"], "auto");
    assert_eq!(account("MONTGOMERY & LEE LLP")["company"], "Montgomery & Lee LLP");
    let summit = account("Summit Dental");
    assert!(summit["note"].as_str().unwrap().starts_with("unmatched"), "{summit}");
    assert_eq!(summit["suggestions"].as_array().unwrap().len(), 2, "both companies named Summit Dental");
    assert_eq!(account("harbor law group llp")["note"], "needs --agreement");

    let status = env.run_json(&["status"], 0);
    assert_eq!(status[0]["status"], "pending");
    env.run(&["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    let status = env.run_json(&["status"], 0);
    assert_eq!(status[0]["status"], "active");
    assert_eq!((status[0]["services_mapped"].as_u64(), status[0]["services"].as_u64()), (Some(1), Some(1)));
    assert!(status[0]["last_sync_at"].is_null(), "{status}");

    // A dry run plans every kind of line and writes nothing.
    let plan = env.run_json(&["sync", "--dry-run"], 0);
    assert!(env.cw_writes().is_empty(), "dry run wrote: {:?}", env.cw_writes());
    let planned = lines(&plan);
    let acme = find(&planned, "Acme Dental", "NODEWARE-VMS");
    assert_eq!(
        (acme["action"].as_str(), acme["before"].as_i64(), acme["after"].as_i64()),
        (Some("unchanged"), Some(43), Some(43))
    );
    let obrien = find(&planned, "O'Brien & Sons", "NODEWARE-VMS");
    assert_eq!(
        (obrien["action"].as_str(), obrien["before"].as_i64(), obrien["after"].as_i64()),
        (Some("update"), Some(50), Some(59))
    );
    let cafe = find(&planned, "Café Lumière", "NODEWARE-VMS");
    assert_eq!((cafe["action"].as_str(), cafe["after"].as_i64()), (Some("add"), Some(13)));
    let keystone = find(&planned, "Keystone Tool & Die, Inc.", "NODEWARE-VMS");
    assert_eq!(keystone["action"], "add", "a cancelled addition does not count");
    let riverside = find(&planned, "Riverside Veterinary Clinic", "NODEWARE-VMS");
    assert_eq!(riverside["action"], "skipped");
    assert!(riverside["reason"].as_str().unwrap().contains("7106"), "{riverside}");
    let counts = &plan["counts"];
    let writes = counts["add"].as_u64().unwrap() + counts["update"].as_u64().unwrap();
    assert!(counts["add"].as_u64().unwrap() >= 4 && counts["update"].as_u64().unwrap() >= 5, "{counts}");

    // Sync pushes exactly the planned writes, and ConnectWise ends as the vendor says.
    let result = env.run_json(&["sync", "--yes"], 0);
    assert_eq!(result["applied"].as_u64(), Some(writes), "{result}");
    assert_eq!(env.cw_writes().len() as u64, writes);
    for line in
        planned.iter().filter(|l| matches!(l["action"].as_str(), Some("add" | "update" | "unchanged")))
    {
        let agreement = line["agreement_id"].as_i64().unwrap();
        let product = line["product"].as_str().unwrap();
        let live = env.live_additions(agreement, product);
        let want = line["after"].as_f64().unwrap();
        if line["action"] == "unchanged" && want == 0.0 && live.is_empty() {
            continue;
        }
        assert_eq!(live.len(), 1, "{product} on agreement {agreement}: {live:?}");
        assert_eq!(live[0]["quantity"].as_f64(), Some(want), "{product} on agreement {agreement}");
    }
    let added = env.live_additions(3005, "NODEWARE-VMS");
    assert_eq!(added[0]["billCustomer"], "Billable");
    assert!(added[0]["effectiveDate"].as_str().unwrap().ends_with("-01T00:00:00Z"), "{}", added[0]);

    // A second sync finds nothing to do and writes nothing.
    let before = env.cw_writes().len();
    let again = env.run_json(&["sync", "--yes"], 0);
    assert_eq!(
        (again["counts"]["add"].as_u64(), again["counts"]["update"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(env.cw_writes().len(), before);

    // The ledger holds every run and every line: the pushing run records each write as
    // applied, the second run records its lines and applied nothing.
    let runs = env.run_json(&["history"], 0);
    assert_eq!(runs.as_array().unwrap().len(), 3);
    let applied_in = |run: &Value| {
        let changes = env.run_json(&["history", &run.to_string()], 0);
        let changes = changes["changes"].as_array().unwrap().clone();
        assert_eq!(changes.len(), planned.len(), "run {run} records every line");
        changes.iter().filter(|c| c["state"] == "applied").count() as u64
    };
    assert_eq!(applied_in(&result["run_id"]), writes);
    assert_eq!(applied_in(&again["run_id"]), 0);
}

#[test]
fn huntress_pages_with_page_tokens_and_companies_page_past_1000() {
    let env = Env::new(&["huntress"]);
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text.replace("[vendors.huntress]\n", "[vendors.huntress]\npage_size = 10\n"));
    let out = env.run(&["connect", "huntress"], 0);
    assert!(out.contains("Connected huntress: 33 accounts"), "{out}");
    let requests = env.sandbox.requests();
    let pages = requests
        .iter()
        .filter(|r| r.server == "huntress" && r.path_and_query.contains("/v1/organizations"))
        .count();
    assert_eq!(pages, 4, "33 organizations at 10 a page");
    assert!(requests.iter().any(|r| r.server == "huntress" && r.path_and_query.contains("page_token=")));

    // More than 1,000 companies: two pages, and the conditions ride along on the second.
    let company_pages: Vec<_> = requests
        .iter()
        .filter(|r| r.server == "connectwise" && r.path_and_query.contains("company/companies"))
        .collect();
    assert_eq!(company_pages.len(), 2, "{company_pages:?}");
    assert!(company_pages[1].path_and_query.contains("page=2"));
    assert!(company_pages[1].path_and_query.contains("conditions="), "{}", company_pages[1].path_and_query);
    let companies = env.run_json(&["companies"], 0);
    assert!(companies.as_array().unwrap().len() > 1000);
}

#[test]
fn demo_prints_a_plan_with_every_kind_of_line() {
    let env = Env::new(&[]);
    let out = env.run(&["demo"], 0);
    for needle in [
        "$ recon connect nodeware",
        "$ recon audit --period previous",
        "paid to vendors and not billed",
        "under-billed",
        "$ recon sync --dry-run",
        "│ add ",
        "│ update ",
        "│ unchanged ",
        "│ skipped ",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle:?}:\n{out}");
    }
    assert!(out.contains("nothing was written to ConnectWise"));
}

#[test]
fn recon_sandbox_lets_a_new_user_try_every_command_and_cleans_up_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
        .env_clear()
        .env("HOME", home.path())
        .arg("sandbox")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut config = None;
    let mut line = String::new();
    while config.is_none() && out.read_line(&mut line).unwrap() > 0 {
        config = line.strip_prefix("Config: ").map(|p| std::path::PathBuf::from(p.trim()));
        line.clear();
    }
    let config = config.expect("the sandbox prints its config path");
    let dir = config.parent().unwrap().to_path_buf();
    let recon = |args: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
            .env_clear()
            .env("HOME", home.path())
            .env("RECON_CONFIG", &config)
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(recon(&["connect", "nodeware"]).status.code(), Some(0));
    assert_eq!(
        recon(&["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(recon(&["sync", "--dry-run"]).status.code(), Some(0));
    // The default policy holds decreases, so review can be tried.
    assert_eq!(recon(&["sync", "--yes"]).status.code(), Some(4));
    let review = String::from_utf8_lossy(&recon(&["review"]).stdout).to_string();
    assert!(review.contains("decrease held for review"), "{review}");

    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends it cleanly");
    assert!(!dir.exists(), "its temp files are removed: {}", dir.display());
}
