//! `recon sandbox` (hidden): serve the fake ConnectWise and vendor servers until killed, for
//! trying recon by hand and for the benchmark. Prints a config that points at them.

use super::Context;
use recon_sandbox::Sandbox;

pub fn run(_ctx: &Context) -> anyhow::Result<u8> {
    let sandbox = Sandbox::start()?;
    crate::out!("{}", sandbox.config_toml());
    eprintln!("recon: sandbox serving on 127.0.0.1; the config above points at it. Ctrl-C stops it.");
    loop {
        std::thread::park();
    }
}
