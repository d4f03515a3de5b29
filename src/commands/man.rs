//! `recon man`: the manual. To stdout, one page, recon(1), whose COMMANDS section lists every
//! command (with `recon COMMAND --help` for its options) rather than pointing at pages nobody
//! installed; `--dir DIR` writes recon.1 and the page per command it refers to
//! (recon-sync.1, recon-map-accounts.1, ...).

use super::EXIT_OK;
use crate::cli::Cli;
use roff::{Roff, bold, roman};
use std::path::Path;

pub fn run(dir: Option<&Path>) -> anyhow::Result<u8> {
    let mut cmd = Cli::command_line().disable_help_subcommand(true);
    cmd.build();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create the folder {}: {e}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .map_err(|e| anyhow::anyhow!("cannot write the man pages to {}: {e}", dir.display()))?;
        crate::out!("Wrote recon.1 and a page per command to {}.", dir.display());
        return Ok(EXIT_OK);
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    commands_section(&cmd).to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    crate::out!("{}", String::from_utf8_lossy(&page).trim_end());
    Ok(EXIT_OK)
}

/// Each command (`map accounts`, `map services` as two), what it does, and where its
/// options are.
fn commands_section(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    let mut each = |name: String, about: String| {
        roff.control("TP", []).text([bold(format!("recon {name}"))]).text([roman(about)]);
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = |c: &clap::Command| c.get_about().map(|a| a.to_string()).unwrap_or_default();
        if sub.has_subcommands() {
            for inner in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
                each(format!("{} {}", sub.get_name(), inner.get_name()), about(inner));
            }
        } else {
            each(sub.get_name().to_string(), about(sub));
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        roman("The options of each command: "),
        bold("recon COMMAND --help"),
        roman(". A page per command: "),
        bold("recon man --dir DIR"),
        roman("."),
    ]);
    roff
}
