//! `recon init`: write the commented starter config, private to its owner.

use super::{Context, EXIT_OK, usage};
use anyhow::Context as _;
use std::io::Write;

pub const STARTER: &str = include_str!("../../config.example.toml");

pub fn run(ctx: &Context, force: bool) -> anyhow::Result<u8> {
    let path = &ctx.config_path;
    if path.exists() && !force {
        return Err(usage(format!("{} already exists; pass --force to overwrite it", path.display())));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(path, STARTER).with_context(|| format!("writing {}", path.display()))?;
    if ctx.json {
        crate::output::print_json(&serde_json::json!({"config": path}))?;
    } else {
        println!("Wrote {} (mode 0600). Fill in your keys, then run `recon check`.", path.display());
    }
    Ok(EXIT_OK)
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Write a file only its owner can read, from the moment it exists.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // An existing file keeps its old mode on open; make it private too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
