//! recon: reconcile MSP vendor usage with the billing lines of a PSA (ConnectWise agreement
//! additions, Autotask contract services, HaloPSA recurring invoice lines).

pub mod apply;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_file;
pub mod counting;
pub mod http;
pub mod invoice;
pub mod matching;
pub mod model;
pub mod money;
pub mod ops;
pub mod output;
pub mod period;
pub mod plan;
pub mod policy;
pub mod private_files;
pub mod psa;
pub mod psas;
pub mod rate;
pub mod reconcile;
pub mod report;
pub mod secret;
pub mod store;
pub mod text_enum;
pub mod vendors;
pub mod workers;

/// Declares each PSA's folder and lists it in `PSAS` (the lookups are in `psas`): a new PSA
/// is its folder and its name in the list below.
macro_rules! psas {
    ($($psa:ident),* $(,)?) => {
        $(pub mod $psa;)*
        /// The registered PSAs; the first is the default of `--psa`.
        pub static PSAS: &[psa::PsaKind] = &[$(psa::PsaKind(&$psa::REGISTRATION)),*];
    };
}

psas![connectwise, autotask, halopsa];
