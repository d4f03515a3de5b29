//! Small truths (issue 26): the period a sync accepts, texts that name the PSA in use, the
//! man page, report formats and where a report goes, plurals, exit codes and the database.

use crate::harness::{Env, PSAS};

/// `psa` with NordPass (a file vendor, which reads any month it was given) connected and
/// its services mapped.
fn nordpass_on(psa: &str) -> Env {
    let env = Env::on(psa, &["nordpass"]);
    env.run(&["connect", "nordpass"], 0);
    for (vendor, service, product) in recon_sandbox::SERVICE_PRODUCTS {
        if vendor == "nordpass" {
            env.run(&["map", "services", "--set", service, "--product", product], 0);
        }
    }
    env
}

#[test]
fn a_period_is_at_most_a_year_back_unless_asked_and_never_ahead() {
    let today = chrono::Utc::now().date_naive();
    let month = |back: i32| {
        let months = chrono::Datelike::year(&today) * 12 + chrono::Datelike::month0(&today) as i32 - back;
        format!("{:04}-{:02}", months / 12, months % 12 + 1)
    };
    for psa in PSAS {
        let env = nordpass_on(psa);
        let requests = env.sandbox.requests().len();
        for (period, says) in [
            (month(13), "more than a year before"),
            ("2000-01".to_string(), "more than a year before"),
            ("1999-01".to_string(), "more than a year before"),
            (month(-1), "after the current one"),
            ("2099-12".to_string(), "after the current one"),
        ] {
            let err = env.stderr_of(&["sync", "--dry-run", "--period", &period], 2);
            assert!(err.contains(says), "{psa} {period}: {err}");
            let range = format!("a month from {} to {}", month(12), month(0));
            assert!(err.contains(&range), "{psa} {period}: the hint says the range: {err}");
        }
        assert_eq!(env.sandbox.requests().len(), requests, "{psa}: refused before any request");

        let plan = env.run_json(&["sync", "--dry-run", "--period", &month(12)], 0);
        assert_eq!(plan["period"], month(12), "{psa}");
        let old = env.run_json(&["sync", "--dry-run", "--period", "2000-01", "--allow-old-period"], 0);
        assert_eq!(old["period"], "2000-01", "{psa}");
    }
}

/// What a person reads of a whole month on `psa`: help, connect, map, plan (wide and narrow),
/// sync, review, history, status, companies, and the report page.
fn everything_read(psa: &str) -> String {
    let env = Env::on(psa, &["nodeware", "huntress"]);
    let mut text = String::new();
    let mut read = |args: &[&str], columns: &str| {
        let out = env.recon(args).env("COLUMNS", columns).output().unwrap();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    };
    for args in [
        &["sync", "--help"][..],
        &["approve", "--help"],
        &["review", "--help"],
        &["connect", "nodeware"],
        &["connect", "huntress"],
        &["map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"],
        &[
            "map",
            "accounts",
            "--vendor",
            "nodeware",
            "--set",
            "Brightwater Manufacturing Inc.",
            "--company",
            "Brightwater Manufacturing Inc.",
        ],
        &["sync", "--dry-run"],
        &["map", "accounts"],
        &["companies", "--search", "dental"],
        &["sync", "--yes"],
        &["review"],
        &["history"],
        &["status"],
    ] {
        read(args, "250");
        read(args, "80");
    }
    let page = env.dir.path().join("month.html");
    read(&["report", "--output", page.to_str().unwrap()], "120");
    text.push_str(&std::fs::read_to_string(&page).unwrap());
    text
}

#[test]
fn the_texts_name_the_psa_in_use() {
    let autotask = everything_read("autotask");
    for word in ["ConnectWise", "agreement", "addition"] {
        let found: Vec<&str> =
            autotask.lines().filter(|l| l.to_lowercase().contains(&word.to_lowercase())).collect();
        assert!(found.is_empty(), "Autotask users read {word:?}:\n{}", found.join("\n"));
    }
    assert!(autotask.contains("contract") && autotask.contains("Autotask"), "{autotask}");

    let connectwise = everything_read("connectwise");
    assert!(connectwise.contains("agreement") && connectwise.contains("ConnectWise"));
    assert!(!connectwise.contains("Autotask"), "ConnectWise users read of Autotask");
}

#[test]
fn the_man_page_refers_only_to_pages_that_exist() {
    let env = Env::on("connectwise", &["nodeware"]);
    let page = env.run(&["man"], 0);
    assert!(page.contains(".SH COMMANDS") && page.contains("recon sync"), "{page}");
    assert!(!page.contains("(1)"), "recon(1) on its own refers to no other page");

    let dir = env.dir.path().join("man1");
    env.run(&["man", "--dir", dir.to_str().unwrap()], 0);
    let main = std::fs::read_to_string(dir.join("recon.1")).unwrap();
    let mut referred = 0;
    for word in main.split(|c: char| c.is_whitespace()) {
        if let Some(name) = word.strip_suffix("(1)") {
            let file = dir.join(format!("{}.1", name.replace("\\-", "-")));
            assert!(file.exists(), "recon.1 refers to {name}(1): {} is missing", file.display());
            referred += 1;
        }
    }
    assert!(referred >= 15, "one page per command: {referred}");
}

#[test]
fn a_report_takes_its_format_from_the_file_name_and_is_never_html_on_a_terminal() {
    for psa in PSAS {
        let env = nordpass_on(psa);
        env.run(&["sync", "--dry-run"], 0);
        let at = |name: &str| env.dir.path().join(name);
        env.run(&["report", "--output", at("month.csv").to_str().unwrap()], 0);
        let csv = std::fs::read_to_string(at("month.csv")).unwrap();
        assert!(csv.starts_with("run_id,") && !csv.contains("<html"), "{psa}: {csv}");
        env.run(&["report", "--output", at("month.json").to_str().unwrap()], 0);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(at("month.json")).unwrap()).unwrap();
        assert!(json["run"].is_object(), "{psa}: {json}");
        env.run(&["report", "--format", "html", "--output", at("page.csv").to_str().unwrap()], 0);
        assert!(std::fs::read_to_string(at("page.csv")).unwrap().contains("<html"), "{psa}: --format wins");

        // To a pipe the page still flows (cron mails it); to a terminal recon says where to write it.
        assert!(env.run(&["report"], 0).contains("<html"), "{psa}");
        let (code, screen) = env.on_a_terminal("report", "");
        assert_eq!(code, Some(2), "{psa}: {screen}");
        assert!(screen.contains("--output") && !screen.contains("<html"), "{psa}: {screen}");
    }
}

#[test]
fn one_is_singular() {
    let env = Env::on("connectwise", &["nodeware"]);
    let checked = env.run(&["check"], 0);
    assert!(checked.contains("1 service") && !checked.contains("1 services"), "{checked}");
    env.run(&["connect", "nodeware"], 0);
    env.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    env.run(&["map", "accounts", "--unmap", "Acme Dental"], 0);
    let auto = env.run(&["map", "accounts", "--auto"], 0);
    assert!(
        auto.contains("Auto-matched 0 more nodeware accounts") && auto.contains("1 account unmapped"),
        "{auto}"
    );
}

#[test]
fn check_without_a_psa_section_is_a_usage_error() {
    for psa in PSAS {
        let env = Env::on(psa, &["nodeware"]);
        let text = std::fs::read_to_string(&env.config).unwrap();
        let start = text.find(&format!("[{psa}]")).unwrap();
        let end = text[start + 1..].find("\n[").map_or(text.len(), |i| start + 1 + i);
        env.set_config(&format!("{}{}", &text[..start], &text[end..]));
        let out = env.recon(&["check"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{psa}: {stdout}");
        assert!(stdout.contains("no PSA section"), "{psa}: {stdout}");
    }
}

#[test]
fn looking_before_init_creates_no_database_and_a_read_only_folder_gets_a_sentence() {
    let env = Env::on("connectwise", &["nodeware"]);
    std::fs::remove_file(&env.config).unwrap();
    for (args, code) in
        [(&["status"][..], 0), (&["history"], 0), (&["--json", "history"], 0), (&["review"], 2)]
    {
        env.run(args, code);
        assert!(!env.db.exists(), "recon {args:?} created {}", env.db.display());
    }

    // With a config but nothing connected yet: looking still creates nothing.
    let env = Env::on("connectwise", &["nodeware"]);
    for (args, code) in [(&["status"][..], 0), (&["review"], 0), (&["report"], 2), (&["history"], 0)] {
        env.run(args, code);
        assert!(!env.db.exists(), "recon {args:?} with a config created {}", env.db.display());
    }

    // A folder nobody may write in (root included): sysfs.
    let out = env.recon(&["connect", "nodeware"]).env("RECON_DB", "/sys/recon.db").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("read-only") && err.contains("--db"), "{err}");
    assert!(!err.contains("os error") && !err.contains("unable to open"), "{err}");
}
