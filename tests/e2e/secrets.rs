//! Secrets stay in the config file: every key is a unique canary, every command runs
//! (verbose, JSON, failing), and no canary shows up in any output or any other file.

use crate::harness::Env;
use recon_sandbox::{Credentials, Sandbox, SandboxOptions};
use std::path::Path;

fn canaries() -> Credentials {
    Credentials {
        // The company id is an account name that appears in ConnectWise URLs by design
        // (`/login/companyinfo/{companyId}`); it is not a secret, so it is not a canary.
        cw_company_id: "sandbox".into(),
        cw_public_key: "CANARY-cw-public-4f1d".into(),
        cw_private_key: "CANARY-cw-private-9b2e".into(),
        cw_client_id: "CANARY-cw-clientid-77aa".into(),
        nodeware_key: "CANARY-nodeware-31c5".into(),
        huntress_key: "CANARY-huntress-key-0d8e".into(),
        huntress_secret: "CANARY-huntress-secret-a6f0".into(),
        saas_alerts_key: "CANARY-saas-alerts-52b9".into(),
        nordlayer_key: "CANARY-nordlayer-c4e7".into(),
        at_username: "recon-api@sandbox.example".into(),
        at_secret: "CANARY-at-secret-5e21".into(),
        at_integration_code: "CANARY-at-code-8c3a".into(),
        halo_client_id: "recon-halo-app".into(),
        halo_client_secret: "CANARY-halo-secret-3d9f".into(),
        pax8_client_id: "recon-pax8-app".into(),
        pax8_client_secret: "CANARY-pax8-secret-2b7e".into(),
        sherweb_client_id: "recon-sherweb-app".into(),
        sherweb_client_secret: "CANARY-sherweb-secret-8f13".into(),
        sherweb_subscription_key: "CANARY-sherweb-key-c90a".into(),
        sophos_client_id: "recon-sophos-app".into(),
        sophos_client_secret: "CANARY-sophos-secret-61d4".into(),
        ninjaone_client_id: "recon-ninjaone-app".into(),
        ninjaone_client_secret: "CANARY-ninjaone-secret-e5a2".into(),
        datto_api_key: "CANARY-datto-key-19b4".into(),
        datto_api_secret: "CANARY-datto-secret-6e03".into(),
        sentinelone_token: "CANARY-s1-token-a4c2".into(),
    }
}

/// Every canary the config holds, plus the wrong ones the failing runs use.
fn all_canaries(c: &Credentials) -> Vec<String> {
    let mut out = vec![
        c.cw_public_key.clone(),
        c.cw_private_key.clone(),
        c.cw_client_id.clone(),
        c.nodeware_key.clone(),
        c.huntress_key.clone(),
        c.huntress_secret.clone(),
        c.saas_alerts_key.clone(),
        c.nordlayer_key.clone(),
    ];
    out.extend(
        ["CANARY-wrong-private-e19c", "CANARY-wrong-nodeware-2b7d", "CANARY-typo-value-8812"]
            .map(String::from),
    );
    out
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_key_leaks_into_output_logs_or_files() {
    let keys = canaries();
    let sandbox =
        Sandbox::start_with(SandboxOptions { credentials: keys.clone(), ..SandboxOptions::default() })
            .unwrap();
    let good = sandbox.config_toml_for(&["nodeware", "huntress", "saas-alerts", "nordlayer"]);
    for key in all_canaries(&keys).iter().take(8) {
        assert!(good.contains(key.as_str()), "the config carries {key}");
    }
    let env = Env::with_config(sandbox, &good);
    let mut seen = String::new();
    let mut run = |env: &Env, args: &[&str]| -> Option<i32> {
        let out = env.recon(args).output().unwrap();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
        out.status.code()
    };
    let ok: &[&[&str]] = &[
        &["check"],
        &["-vv", "check"],
        &["connect", "nodeware"],
        &["-vv", "connect", "huntress"],
        &["--json", "connect", "saas-alerts"],
        &["-vv", "--json", "connect", "nordlayer"],
        &["map", "accounts"],
        &["--json", "map", "accounts", "--vendor", "huntress"],
        &["-vv", "map", "services", "--vendor", "nodeware", "--set", "vms", "--product", "NODEWARE-VMS"],
        &["--json", "map", "services"],
        &["companies", "--search", "acme"],
        &["-vv", "--json", "companies"],
        &["-vv", "sync", "--dry-run"],
        &["--json", "sync", "--dry-run"],
        &["-vv", "sync", "--yes"],
        &["--json", "sync", "--yes"],
        &["status"],
        &["-vv", "--json", "status"],
        &["history"],
        &["--json", "history", "1"],
        &["-vv", "history", "2"],
    ];
    for args in ok {
        let code = run(&env, args);
        assert!(matches!(code, Some(0 | 1 | 4)), "recon {args:?} exited {code:?}");
    }

    // Failing runs: a wrong ConnectWise key, a wrong vendor key, a config error near a value.
    let wrong_private = good.replace(&keys.cw_private_key, "CANARY-wrong-private-e19c");
    let wrong_vendor = good.replace(&keys.nodeware_key, "CANARY-wrong-nodeware-2b7d");
    let typo =
        good.replace("[vendors.nodeware]\n", "[vendors.nodeware]\napi_kye = \"CANARY-typo-value-8812\"\n");
    let broken =
        good.replacen("private_key = \"", "private_key = \"CANARY-typo-value-8812", 1).replacen('"', "", 1);
    for (text, commands) in [
        (
            &wrong_private,
            vec![vec!["-vv", "check"], vec!["-vv", "sync", "--yes"], vec!["--json", "companies"]],
        ),
        (&wrong_vendor, vec![vec!["-vv", "connect", "nodeware"], vec!["-vv", "--json", "sync", "--yes"]]),
        (&typo, vec![vec!["-vv", "check"], vec!["status"]]),
        (&broken, vec![vec!["-vv", "sync", "--dry-run"], vec!["--json", "check"]]),
    ] {
        env.set_config(text);
        for args in commands {
            let code = run(&env, &args);
            assert!(matches!(code, Some(1 | 2)), "recon {args:?} should fail, exited {code:?}");
        }
    }

    let mut files = Vec::new();
    files_under(env.dir.path(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("recon.db")), "{files:?}");
    for key in all_canaries(&keys) {
        assert!(!seen.contains(&key), "{key} appeared in recon's output");
        for file in files.iter().filter(|f| !f.ends_with("config.toml")) {
            let bytes = std::fs::read(file).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&key), "{key} appeared in {}", file.display());
        }
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn a_config_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new(&["nodeware"]);
    let status =
        |env: &Env| String::from_utf8_lossy(&env.recon(&["status"]).output().unwrap().stderr).to_string();
    assert_eq!(mode(&env.config), 0o600);
    let quiet = status(&env);
    assert!(!quiet.contains("readable by group or others"), "{quiet}");
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warned = status(&env);
    assert!(warned.contains("readable by group or others") && warned.contains("chmod 600"), "{warned}");
}

#[cfg(unix)]
#[test]
fn init_writes_a_private_config_and_never_overwrites_silently() {
    let env = Env::new(&[]);
    let path = env.dir.path().join("fresh").join("config.toml");
    let init = |args: &[&str]| env.recon(args).env("RECON_CONFIG", &path).output().unwrap();
    let out = init(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&path), 0o600);
    std::fs::write(&path, "# mine\n").unwrap();
    let out = init(&["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n", "left alone");
    let out = init(&["init", "--force"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(mode(&path), 0o600);
    assert_ne!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
}

#[test]
fn check_after_init_lists_every_example_value_at_once_and_says_when_no_vendor_is_configured() {
    let env = Env::new(&[]);
    let path = env.dir.path().join("fresh.toml");
    let run = |args: &[&str]| env.recon(args).env("RECON_CONFIG", &path).output().unwrap();
    assert_eq!(run(&["init"]).status.code(), Some(0));
    let out = run(&["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for what in ["company_id = \"yourcompany\"", "public_key", "private_key", "client_id = \"00000000-"] {
        assert!(stderr.contains(what), "{what} named at once: {stderr}");
    }
    assert!(stderr.contains(&format!("{}:10:", path.display())), "the file and the first line: {stderr}");
    // Filled in, with no vendor section: check says so (and still tests ConnectWise).
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.set_config(&text);
    let out = env.recon(&["check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "a config without a vendor is a usage error: {stdout}");
    assert!(stdout.contains("no vendor is configured"), "{stdout}");
    assert!(stdout.contains("connectwise") && stdout.contains(" ok "), "{stdout}");
}
