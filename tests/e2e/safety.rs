//! Safe unattended sync: policy holds and review, the outage guard, the lock, a process
//! killed mid-apply, and undo.

use crate::harness::Env;
use recon_sandbox as sandbox;
use serde_json::Value;
use std::time::Duration;

/// Nodeware connected, its service mapped, with `policy` as the config's `[sync]` section
/// (empty: the sandbox's push-everything section stays).
fn nodeware_with(policy: &str) -> Env {
    let env = Env::new(&["nodeware"]);
    if !policy.is_empty() {
        env.set_policy(policy);
    }
    env.connect_nodeware();
    env
}

fn addition(env: &Env, id: i64) -> Value {
    env.sandbox
        .connectwise_additions()
        .into_iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("addition {id}"))
}

/// Every add/update/unchanged line of a plan holds in ConnectWise, once.
pub(crate) fn assert_converged(env: &Env, plan: &Value) {
    for line in plan["lines"].as_array().unwrap() {
        if !matches!(line["action"].as_str(), Some("add" | "update" | "unchanged")) {
            continue;
        }
        let (agreement, product) =
            (line["agreement_id"].as_i64().unwrap(), line["product"].as_str().unwrap());
        let found = env.live_additions(agreement, product);
        if line["after"] == 0 && found.is_empty() {
            continue;
        }
        assert_eq!(found.len(), 1, "{product} on {agreement}: {found:?}");
        assert_eq!(found[0]["quantity"].as_f64(), line["after"].as_f64(), "{product} on {agreement}");
    }
}

#[test]
fn decreases_are_held_for_review_then_approved_or_rejected() {
    let env = nodeware_with("[sync]\ndecreases = \"review\"");
    // Smith & Whitfield 25 -> 18 (addition 7103) and Blue Ridge 70 -> 68 (7111) are decreases.
    let result = env.run_json(&["sync", "--yes"], 4);
    assert!(result["counts"]["held"].as_u64().unwrap() >= 3, "{}", result["counts"]);
    assert_eq!(addition(&env, 7103)["quantity"], 25.0, "held lines are not pushed");
    assert_eq!(addition(&env, 7100)["quantity"], 59.0, "increases still apply");

    let held = env.run_json(&["review"], 0);
    let held = held.as_array().unwrap();
    assert_eq!(env.run_json(&["status"], 0)[0]["held"].as_u64(), Some(held.len() as u64));
    let smith = held.iter().find(|c| c["company"] == "Smith & Whitfield Attorneys").unwrap();
    assert!(smith["reason"].as_str().unwrap().contains("decrease"), "{smith}");
    let table = env.run(&["review"], 0);
    assert!(table.contains("why held") && table.contains("Smith & Whitfield"), "{table}");

    // A second sync re-plans: the held lines are held again, not duplicated in review.
    env.run(&["sync", "--yes"], 4);
    let again = env.run_json(&["review"], 0);
    assert_eq!(again.as_array().unwrap().len(), held.len());
    let smith =
        again.as_array().unwrap().iter().find(|c| c["company"] == "Smith & Whitfield Attorneys").unwrap();

    let id = smith["id"].as_i64().unwrap().to_string();
    env.run(&["approve", &id], 0);
    assert_eq!(addition(&env, 7103)["quantity"], 18.0);
    let out = env.run(&["reject", "--all"], 0);
    assert!(out.contains("Rejected"), "{out}");
    assert_eq!(env.run_json(&["review"], 0).as_array().unwrap().len(), 0);
    assert_eq!(env.run_json(&["status"], 0)[0]["held"], 0);
    assert_eq!(addition(&env, 7111)["quantity"], 70.0, "rejected lines are not pushed");
    let err = env.recon(&["approve", "999999"]).output().unwrap();
    assert_eq!(err.status.code(), Some(2));
}

#[test]
fn a_large_change_is_held_by_max_change_percent() {
    let env = nodeware_with("[sync]\ndecreases = \"apply\"\nmax_change_percent = 20");
    let result = env.run_json(&["sync", "--yes"], 4);
    let lines = result["lines"].as_array().unwrap();
    let silverline = lines.iter().find(|l| l["company"] == "Silverline Logistics LLC").unwrap();
    assert_eq!(silverline["action"], "held", "5 -> 0 is -100%");
    assert!(silverline["reason"].as_str().unwrap().contains("max_change_percent = 20"), "{silverline}");
    let obrien = lines.iter().find(|l| l["company"] == "O'Brien & Sons").unwrap();
    assert_eq!(obrien["action"], "update", "50 -> 59 is +18%");
}

/// ConnectWise changed after the line was held: approve must not overwrite it.
#[test]
fn approve_rereads_and_does_not_overwrite_a_change_made_meanwhile() {
    let env = nodeware_with("[sync]\ndecreases = \"review\"");
    env.run(&["sync", "--yes"], 4);
    let held = env.run_json(&["review"], 0);
    let blue =
        held.as_array().unwrap().iter().find(|c| c["company"] == "Blue Ridge Credit Union").unwrap().clone();

    // Someone edits the addition in ConnectWise by hand.
    let url = format!("{}finance/agreements/3024/additions/7111", env.sandbox.connectwise_api_base());
    let status = reqwest::blocking::Client::new()
        .patch(url)
        .basic_auth(
            format!("{}+{}", sandbox::CW_COMPANY_ID, sandbox::CW_PUBLIC_KEY),
            Some(sandbox::CW_PRIVATE_KEY),
        )
        .header("clientId", sandbox::CW_CLIENT_ID)
        .json(&serde_json::json!([{"op": "replace", "path": "quantity", "value": 75}]))
        .send()
        .unwrap()
        .status();
    assert!(status.is_success());

    let out = env.recon(&["approve", &blue["id"].to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("now holds 75"), "{stdout}");
    assert_eq!(addition(&env, 7111)["quantity"], 75.0);
}

#[test]
fn a_fall_in_a_vendors_total_is_refused_until_accepted() {
    let env = nodeware_with("[sync]\nmax_change_percent = 50");
    let first = env.run_json(&["sync", "--yes"], 4); // Silverline's -100% is held
    assert_converged_except_held(&env, &first);

    // The vendor now reports almost nothing for every account: an outage, not churn.
    let accounts = env.run_json(&["map", "accounts"], 0);
    for a in accounts.as_array().unwrap() {
        let id = a["account_id"].as_str().unwrap();
        env.sandbox.set_vendor_quantity("nodeware", id, "internal", serde_json::json!(0));
        env.sandbox.set_vendor_quantity("nodeware", id, "external", serde_json::json!(1));
    }
    let writes = env.cw_writes().len();
    let out = env.recon(&["sync", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fell from") && stderr.contains("--accept-drop"), "{stderr}");
    assert_eq!(env.cw_writes().len(), writes, "nothing is pushed for the vendor");
    assert_eq!(addition(&env, 7098)["quantity"], 43.0);

    env.run(&["sync", "--yes", "--accept-drop"], 4);
    assert_eq!(
        addition(&env, 7098)["quantity"],
        43.0,
        "a fall of 97% on one line is still held by max_change_percent"
    );
}

fn assert_converged_except_held(env: &Env, plan: &Value) {
    let mut plan = plan.clone();
    let lines = plan["lines"].as_array_mut().unwrap();
    lines.retain(|l| l["action"] != "held");
    assert_converged(env, &plan);
}

#[test]
fn a_second_recon_exits_3_while_the_lock_is_held_and_a_leftover_lock_file_is_no_lock() {
    let env = nodeware_with("");
    let lock_file = format!("{}.lock", env.db.display());
    // This test process takes the OS lock, as a running recon would.
    let held = recon::store::Lock::acquire(&env.db, "sync", chrono::Utc::now()).unwrap();
    let out = env.recon(&["sync", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another recon holds the lock")
            && stderr.contains(&format!("pid {}", std::process::id()))
            && stderr.contains("`recon sync`"),
        "{stderr}"
    );
    drop(held);
    // What a killed recon leaves: the file with its pid, and no lock (the OS released it).
    std::fs::write(&lock_file, "pid=4000000000\ncommand=sync\nsince=2026-11-01T00:30:00Z\n").unwrap();
    env.run(&["sync", "--dry-run"], 0);
}

#[test]
fn without_a_terminal_sync_pushes_nothing_without_yes() {
    let env = nodeware_with("");
    // stdin is not a terminal here: the plan is shown, nothing is pushed, exit 2.
    let out = env.recon(&["sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass --yes to push without a prompt"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Plan for"), "the plan is printed");
    assert!(env.cw_writes().is_empty(), "{:?}", env.cw_writes());
    assert_eq!(addition(&env, 7100)["quantity"], 50.0);
    assert!(env.run_json(&["history"], 0).as_array().unwrap().is_empty(), "nothing recorded");
    env.run(&["sync", "--yes"], 0);
    assert_eq!(addition(&env, 7100)["quantity"], 59.0);
}

#[test]
fn undo_shows_the_reverse_then_applies_it() {
    let env = nodeware_with("");
    let sync = env.run_json(&["sync", "--yes"], 0);
    let run = sync["run_id"].to_string();
    assert_eq!(addition(&env, 7100)["quantity"], 59.0);

    let writes = env.cw_writes().len();
    let shown = env.run(&["undo", &run], 0);
    assert!(shown.contains("set to 0") && shown.contains("back to 50"), "{shown}");
    assert_eq!(env.cw_writes().len(), writes, "undo without --yes writes nothing");

    env.run(&["undo", &run, "--yes"], 0);
    assert_eq!(addition(&env, 7100)["quantity"], 50.0);
    let cafe = env.live_additions(3005, "NODEWARE-VMS");
    assert_eq!(cafe.len(), 1);
    assert_eq!(cafe[0]["quantity"], 0.0);

    // And the next sync puts the vendor's quantities back.
    env.run(&["sync", "--yes"], 0);
    assert_eq!(addition(&env, 7100)["quantity"], 59.0);
}

/// On a terminal, sync shows the plan and asks; "n" pushes nothing. `script` gives it a pty.
#[test]
fn on_a_terminal_sync_asks_before_pushing() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let env = nodeware_with("");
    let recon = assert_cmd::cargo::cargo_bin("recon");
    let mut script = std::process::Command::new("script");
    script
        .args(["-q", "-e", "-c", &format!("{} sync --no-progress", recon.display()), "/dev/null"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", env.dir.path())
        .env("RECON_CONFIG", &env.config)
        .env("RECON_DB", &env.db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = script.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        stdin.write_all(b"n\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("Push") && screen.contains("[y/N]"), "{screen}");
    assert!(screen.contains("Nothing pushed"), "{screen}");
    assert!(env.cw_writes().is_empty());
}
