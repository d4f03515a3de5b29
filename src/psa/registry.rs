//! What a PSA's folder registers: its `Registration` (config section, words, starter
//! examples, sandbox config) and the settings it reads. The list of them is `crate::PSAS`;
//! everything else (the config section, `--psa`, `recon init`'s starter, the sandbox's config,
//! `check`) is found through it.

use super::{Profile, Psa, PsaError};
use crate::config_file::{ConfigError, Validator};
use crate::http::Http;
use crate::model::BillCustomer;
use std::fmt;
use std::sync::Arc;

/// Reads a PSA's section of the config: `None` when the file has none.
pub type ReadSettings = fn(&Validator) -> Result<Option<Arc<dyn PsaSettings>>, ConfigError>;

/// What a PSA's folder gives the rest of recon.
pub struct Registration {
    /// Its config section and its `--psa` value: `connectwise`.
    pub key: &'static str,
    pub profile: &'static Profile,
    /// Its config section, validated; `None` when the file has none.
    pub settings: ReadSettings,
    /// Example values `recon init` writes besides `REPLACE-ME` (key, value): a config that
    /// still has one is refused with its line.
    pub examples: &'static [(&'static str, &'static str)],
    /// A config pointing at the built-in sandbox's fake of it, with these vendors.
    #[cfg(feature = "sandbox")]
    pub sandbox_config: fn(&recon_sandbox::Sandbox, &[&str]) -> String,
}

/// A PSA's validated config section: enough to connect.
pub trait PsaSettings: fmt::Debug + Send + Sync {
    fn connect<'h>(&self, http: &'h Http) -> Result<Box<dyn Psa + 'h>, PsaError>;
    /// How the lines recon creates are billed unless a service mapping says otherwise.
    fn bill_customer(&self) -> BillCustomer {
        BillCustomer::Billable
    }
    /// For tests and PSA-specific code in its own folder.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// One registered PSA (`--psa` takes its key).
#[derive(Clone, Copy)]
pub struct PsaKind(pub &'static Registration);

impl PsaKind {
    pub fn key(self) -> &'static str {
        self.0.key
    }

    /// Its name, as people read it.
    pub fn name(self) -> &'static str {
        self.0.profile.name
    }
}

impl PartialEq for PsaKind {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for PsaKind {}

impl fmt::Debug for PsaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
