//! Finding a registered PSA. The list is `crate::PSAS`, declared with each PSA's folder by
//! `psas![...]` in lib.rs; what a folder registers is defined in `psa::registry`, which the
//! folders import. The lookups live here so that `psa` imports none of the folders.

use crate::PSAS;
use crate::psa::PsaKind;

/// Finding a PSA in the list (`PsaKind` is defined in `psa::registry`).
impl PsaKind {
    pub fn is_default(self) -> bool {
        self == PSAS[0]
    }

    pub fn find(key: &str) -> Option<PsaKind> {
        PSAS.iter().copied().find(|p| p.key() == key)
    }

    /// Every registered PSA, the default first.
    pub fn all() -> &'static [PsaKind] {
        PSAS
    }

    /// `connectwise, autotask`: for messages.
    pub fn keys() -> Vec<&'static str> {
        PSAS.iter().map(|p| p.key()).collect()
    }
}

impl clap::ValueEnum for PsaKind {
    fn value_variants<'a>() -> &'a [Self] {
        PSAS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.key()).help(self.name()))
    }
}
