//! `recon sandbox`: serve the fake ConnectWise and vendor servers on loopback until Ctrl-C,
//! with a config (and database) in a private temp folder that point at them, so every command
//! can be tried by hand without a ConnectWise. The config keeps recon's default `[sync]`
//! policy, so decreases are held and review, approve and reject can be tried too.

use super::{Context, EXIT_OK};
use recon_sandbox::Sandbox;

pub fn run(_ctx: &Context, psa: crate::psa::PsaKind) -> anyhow::Result<u8> {
    let sandbox = Sandbox::start()?;
    let dir = tempfile::Builder::new().prefix("recon-try-").tempdir()?;
    let config_path = dir.path().join("config.toml");
    let db_path = dir.path().join("recon.db");
    // The default policy instead of the tests' push-everything one; the database beside it.
    let database = format!("\n[database]\npath = {:?}\n", db_path.to_string_lossy());
    let vendors: Vec<&str> =
        recon_sandbox::ALL_VENDORS.iter().chain(&recon_sandbox::DISTRIBUTORS).copied().collect();
    let config = super::sandbox_config(&sandbox, psa, &vendors, &database);
    crate::private_files::write(&config_path, &config)?;

    let (stop, stopped) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })?;
    let config_shown = config_path.display();
    crate::out!("recon sandbox: a fake {} and vendor APIs are serving on 127.0.0.1.", psa.name());
    crate::out!("Config: {config_shown}");
    crate::out!("In another terminal:");
    crate::out!("  export RECON_CONFIG={config_shown}");
    crate::out!("  recon connect nodeware");
    crate::out!("  recon map services --vendor nodeware --set vms --product NODEWARE-VMS");
    crate::out!("  recon companies --search dental");
    crate::out!(
        "  recon sync --dry-run        # then: recon sync, recon review, recon approve ID, recon undo RUN"
    );
    crate::out!("Ctrl-C stops the servers and removes {}.", dir.path().display());
    let _ = stopped.recv();
    let removed = dir.path().display().to_string();
    drop(sandbox);
    dir.close()?;
    eprintln!("recon: sandbox stopped; removed {removed}");
    Ok(EXIT_OK)
}
