//! recon: reconcile MSP vendor usage with the billing lines of a PSA (ConnectWise agreement
//! additions, Autotask contract services).

pub mod apply;
pub mod audit;
pub mod autotask;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_file;
pub mod connectwise;
pub mod counting;
pub mod halopsa;
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
