//! The PSAs recon bills through, in one list. A new PSA is its folder, one line in `PSAS` and
//! its `mod` line in lib.rs. What a folder registers is defined in `psa::registry`, which the
//! folders import; the list lives here so that `psa` imports none of them.

use crate::psa::PsaKind;

/// The registered PSAs; the first is the default of `--psa`.
pub static PSAS: [PsaKind; 3] = [
    PsaKind(&crate::connectwise::REGISTRATION),
    PsaKind(&crate::autotask::REGISTRATION),
    PsaKind(&crate::halopsa::REGISTRATION),
];

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
        &PSAS
    }

    /// `connectwise, autotask`: for messages.
    pub fn keys() -> Vec<&'static str> {
        PSAS.iter().map(|p| p.key()).collect()
    }
}

impl clap::ValueEnum for PsaKind {
    fn value_variants<'a>() -> &'a [Self] {
        &PSAS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.key()).help(self.name()))
    }
}
