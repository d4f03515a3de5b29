//! `recon init`: write the commented starter config, private to its owner.

use super::{Context, EXIT_OK, usage};
use anyhow::Context as _;

pub const STARTER: &str = include_str!("../../config.example.toml");

/// The starter for an Autotask MSP: the `[autotask]` block of the example uncommented, and
/// the `[connectwise]` block left out (a config has exactly one PSA section).
pub fn autotask_starter() -> String {
    let mut out = String::new();
    let mut in_connectwise = false;
    let mut in_autotask = false;
    for line in STARTER.lines() {
        if line == "[connectwise]" {
            in_connectwise = true;
            continue;
        }
        if in_connectwise {
            if line.is_empty() {
                in_connectwise = false;
            }
            continue;
        }
        if line == "#[autotask]" {
            in_autotask = true;
        }
        if in_autotask && line.is_empty() {
            in_autotask = false;
        }
        if in_autotask {
            out.push_str(line.strip_prefix('#').unwrap_or(line));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

pub fn run(ctx: &Context, force: bool, psa: crate::cli::PsaKind) -> anyhow::Result<u8> {
    let path = &ctx.config_path;
    if path.exists() && !force {
        return Err(usage(format!("{} already exists; pass --force to overwrite it", path.display())));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_files::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = match psa {
        crate::cli::PsaKind::Connectwise => STARTER.to_string(),
        crate::cli::PsaKind::Autotask => autotask_starter(),
    };
    crate::private_files::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    if ctx.json {
        crate::output::print_json(&serde_json::json!({"config": path}))?;
    } else {
        crate::out!("Wrote {} (mode 0600). Fill in your keys, then run `recon check`.", path.display());
    }
    Ok(EXIT_OK)
}
