//! `recon init`: write the commented starter config, private to its owner.

use super::{Context, EXIT_OK, usage};
use anyhow::Context as _;

pub const STARTER: &str = include_str!("../../config.example.toml");

pub fn run(ctx: &Context, force: bool) -> anyhow::Result<u8> {
    let path = &ctx.config_path;
    if path.exists() && !force {
        return Err(usage(format!("{} already exists; pass --force to overwrite it", path.display())));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_files::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::private_files::write(path, STARTER).with_context(|| format!("writing {}", path.display()))?;
    if ctx.json {
        crate::output::print_json(&serde_json::json!({"config": path}))?;
    } else {
        crate::out!("Wrote {} (mode 0600). Fill in your keys, then run `recon check`.", path.display());
    }
    Ok(EXIT_OK)
}
