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
