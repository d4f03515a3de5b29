//! Small truths (issue 26): the period a sync accepts, texts that name the PSA in use, the
//! man page, report formats and where a report goes, plurals, exit codes and the database.

use crate::decisions::stderr_of;
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
            let err = stderr_of(&env, &["sync", "--dry-run", "--period", &period], 2);
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
