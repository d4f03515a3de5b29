//! `recon init`: write the commented starter config, private to its owner.

use super::{Context, EXIT_OK, usage};
use crate::psa::PsaKind;
use anyhow::Context as _;

/// The example config: its generic sections and every PSA's; the vendors' examples go where
/// `VENDORS_GO_HERE` stands, each from its registration.
pub const EXAMPLE: &str = include_str!("../../config.example.toml");
const VENDORS_GO_HERE: &str =
    "# (recon init writes here a commented example section for every vendor it knows.)";

/// The starter for `psa`: the example with every vendor's example section; for the default
/// PSA its section as it is, for another that PSA's commented `#[key]` block uncommented
/// and the default PSA's block left out (a config has exactly one PSA section).
pub fn starter(psa: PsaKind) -> String {
    let vendors = crate::vendors::registry::starters();
    let with_vendors = EXAMPLE.replace(VENDORS_GO_HERE, &vendors);
    if psa.is_default() {
        return with_vendors;
    }
    let default_header = format!("[{}]", crate::PSAS[0].key());
    let header = format!("#[{}]", psa.key());
    let mut out = String::new();
    let mut in_default = false;
    let mut in_chosen = false;
    for line in with_vendors.lines() {
        if line == default_header {
            in_default = true;
            continue;
        }
        if in_default {
            if line.is_empty() {
                in_default = false;
            }
            continue;
        }
        if line == header {
            in_chosen = true;
        }
        if in_chosen && line.is_empty() {
            in_chosen = false;
        }
        out.push_str(if in_chosen { line.strip_prefix('#').unwrap_or(line) } else { line });
        out.push('\n');
    }
    out
}

pub fn run(ctx: &Context, force: bool, psa: PsaKind) -> anyhow::Result<u8> {
    let path = &ctx.config_path;
    if path.exists() && !force {
        return Err(usage(format!("{} already exists; pass --force to overwrite it", path.display())));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_files::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = starter(psa);
    crate::private_files::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    if ctx.json {
        crate::output::print_json(&serde_json::json!({"config": path}))?;
    } else {
        crate::out!("Wrote {} (mode 0600). Fill in your keys, then run `recon check`.", path.display());
    }
    Ok(EXIT_OK)
}
