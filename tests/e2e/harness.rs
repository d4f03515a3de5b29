//! The end-to-end harness: a sandbox (fake ConnectWise and vendors on loopback, in this
//! test process), a temporary home with a config and a database, and the real `recon`
//! binary run against them with a cleared environment.

use assert_cmd::Command;
use recon_sandbox::{RecordedRequest, Sandbox};
use std::path::PathBuf;
use tempfile::TempDir;

/// The PSAs the issue-26 checks hold on, as `--psa` names them.
pub const PSAS: [&str; 2] = ["connectwise", "autotask"];

pub struct Env {
    pub sandbox: Sandbox,
    pub dir: TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
}

impl Env {
    /// A sandbox and a config with only these vendors configured.
    pub fn new(vendors: &[&str]) -> Env {
        let sandbox = Sandbox::start().expect("sandbox starts");
        let text = sandbox.config_toml_for(vendors);
        Env::with_config(sandbox, &text)
    }

    /// A sandbox and a config of `psa` (`connectwise`, `autotask`) with these vendors.
    pub fn on(psa: &str, vendors: &[&str]) -> Env {
        let sandbox = Sandbox::start().expect("sandbox starts");
        let text = match psa {
            "autotask" => sandbox.autotask_config_toml_for(vendors),
            "connectwise" => sandbox.config_toml_for(vendors),
            other => panic!("no sandbox config for {other}"),
        };
        Env::with_config(sandbox, &text)
    }

    pub fn with_config(sandbox: Sandbox, text: &str) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.toml");
        let db = dir.path().join("recon.db");
        write_private(&config, text);
        Env { sandbox, dir, config, db }
    }

    /// `with_config`, then Nodeware connected and its `vms` service mapped to NODEWARE-VMS.
    pub fn with_nodeware(sandbox: Sandbox, text: &str) -> Env {
        let env = Env::with_config(sandbox, text);
        env.connect_nodeware();
        env
    }

    /// `with_config`, then Pax8 and Sherweb connected and their Microsoft 365 Business
    /// Premium mapped to M365-BP (Sherweb's by its name: the key is an opaque sku).
    pub fn with_distributors(sandbox: Sandbox, text: &str) -> Env {
        let env = Env::with_config(sandbox, text);
        env.run(&["connect", "pax8"], 0);
        env.run(&["connect", "sherweb"], 0);
        let pax8 = [
            "map",
            "services",
            "--vendor",
            "pax8",
            "--set",
            recon_sandbox::PAX8_M365_BP,
            "--product",
            "M365-BP",
        ];
        env.run(&pax8, 0);
        let bp = "Microsoft 365 Business Premium";
        env.run(&["map", "services", "--vendor", "sherweb", "--set", bp, "--product", "M365-BP"], 0);
        env
    }

    /// Connect Nodeware and map its `vms` service to NODEWARE-VMS.
    pub fn connect_nodeware(&self) {
        self.run(&["connect", "nodeware"], 0);
        self.run(&["map", "services", "--set", "vms", "--product", "NODEWARE-VMS"], 0);
    }

    pub fn set_config(&self, text: &str) {
        write_private(&self.config, text);
    }

    /// Put `policy` (a `[sync]` section, or "" for recon's defaults) in place of the sandbox
    /// config's push-everything policy.
    pub fn set_policy(&self, policy: &str) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        self.set_config(&text.replace(recon_sandbox::SYNC_PUSH_EVERYTHING, &format!("\n{policy}\n")));
    }

    /// The real binary, with nothing from the developer's environment.
    pub fn recon(&self, args: &[&str]) -> Command {
        Command::from_std(self.process(args))
    }

    /// The same, as a plain process (to spawn and kill).
    pub fn process(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"));
        cmd.env_clear()
            .env("HOME", self.dir.path())
            .env("RECON_CONFIG", &self.config)
            .env("RECON_DB", &self.db)
            .args(args);
        cmd
    }

    /// Run and return stdout, asserting the exit code.
    pub fn run(&self, args: &[&str], code: i32) -> String {
        let output = self.recon(args).output().expect("recon runs");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(code), "recon {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        stdout
    }

    /// Run and return stderr, asserting the exit code.
    pub fn stderr_of(&self, args: &[&str], code: i32) -> String {
        let out = self.recon(args).output().expect("recon runs");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "recon {args:?}: {stderr}");
        stderr
    }

    /// Start `recon ARGS` quietly, SIGKILL it once `started()` holds (within 60 s), and wait
    /// for a request in flight to land: a run killed mid-push, with no chance to record more.
    pub fn kill_when(&self, args: &[&str], started: impl Fn() -> bool) {
        let mut child = self
            .process(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("recon starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !started() {
            assert!(std::time::Instant::now() < deadline, "recon {args:?} never started writing");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().expect("kill");
        child.wait().expect("reap");
        std::thread::sleep(std::time::Duration::from_millis(400));
    }

    /// `sync --yes` killed in the write that `server` sees with `only` in its path or body,
    /// at `point` (`landed` says when it is acted on and answered), then `sync --yes` again:
    /// the second run's output. A write received when recon dies is acted on 600 ms later,
    /// while the second run starts (a request in flight lands all the same).
    pub fn killed_in_a_write(
        &self,
        server: &str,
        only: &str,
        point: Kill,
        landed: impl Fn() -> bool,
    ) -> std::process::Output {
        if let Kill::AfterTheAnswer = point {
            self.kill_when(&["sync", "--yes"], landed);
        } else {
            self.sandbox.close_gate(server, only);
            self.kill_when(&["sync", "--yes"], || self.sandbox.held_writes(server) >= 1);
        }
        std::thread::scope(|scope| {
            match point {
                Kill::BeforeItArrives => self.sandbox.open_gate(server, false),
                Kill::AfterItIsReceived => {
                    scope.spawn(|| {
                        std::thread::sleep(std::time::Duration::from_millis(600));
                        self.sandbox.open_gate(server, true);
                    });
                }
                Kill::AfterTheAnswer => {}
            }
            self.recon(&["sync", "--yes"]).output().expect("recon runs")
        })
    }

    /// Run `recon ARGS` on a pseudo-terminal (util-linux `script`), typing `input` after half
    /// a second: its exit code and what the terminal showed.
    pub fn on_a_terminal(&self, args: &str, input: &str) -> (Option<i32>, String) {
        use std::io::Write;
        let bin = assert_cmd::cargo::cargo_bin("recon");
        let mut script = std::process::Command::new("script")
            .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("RECON_CONFIG", &self.config)
            .env("RECON_DB", &self.db)
            .env("HOME", self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("util-linux script runs");
        std::thread::sleep(std::time::Duration::from_millis(500));
        script.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = script.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
    }

    pub fn run_json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all, code);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("recon {args:?}: not JSON ({e}):\n{out}"))
    }

    /// Every non-cancelled addition of `product` (identifier) on `agreement`, as the sandbox
    /// ConnectWise holds it now.
    pub fn live_additions(&self, agreement: i64, product: &str) -> Vec<serde_json::Value> {
        self.sandbox
            .connectwise_additions()
            .into_iter()
            .filter(|a| a["agreementId"] == agreement && a["product"]["identifier"] == product)
            .filter(|a| a["cancelledDate"].is_null() || a["cancelledDate"] == "")
            .collect()
    }

    /// Requests that changed ConnectWise.
    pub fn cw_writes(&self) -> Vec<RecordedRequest> {
        self.sandbox
            .requests()
            .into_iter()
            .filter(|r| r.server == "connectwise" && r.method != "GET")
            .collect()
    }
}

/// Where a push is killed in the write of one line.
#[derive(Debug, Clone, Copy)]
pub enum Kill {
    /// The write never reaches the PSA.
    BeforeItArrives,
    /// The PSA has received it and acts on it after recon died, while the next run starts.
    AfterItIsReceived,
    /// The PSA acted and answered; recon died before recording it.
    AfterTheAnswer,
}

impl Kill {
    pub const EVERY: [Kill; 3] = [Kill::BeforeItArrives, Kill::AfterItIsReceived, Kill::AfterTheAnswer];
}

/// The line of a plan (`--json`) for `company` (the first, when it has several).
pub fn line<'a>(plan: &'a serde_json::Value, company: &str) -> &'a serde_json::Value {
    plan["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["company"] == company)
        .unwrap_or_else(|| panic!("no line for {company}: {plan}"))
}

/// The lines of a plan (`--json`) that write: adds and updates.
pub fn writes(plan: &serde_json::Value) -> Vec<serde_json::Value> {
    plan["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| matches!(l["action"].as_str(), Some("add" | "update")))
        .cloned()
        .collect()
}

fn write_private(path: &std::path::Path, text: &str) {
    recon::private_files::write(path, text).expect("write config");
}
