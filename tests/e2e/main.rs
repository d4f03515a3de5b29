//! End-to-end tests: the real `recon` binary against the sandbox servers over loopback,
//! with a real SQLite file. One test target (ripgrep style) so it links once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test should panic loudly

mod autotask;
mod browser;
mod contract;
mod halopsa;
mod harness;

mod bad_input;
mod billing;
mod decisions;
mod devices;
mod distributors;
mod errors;
mod faults;
mod flow;
mod held;
mod integrity;
mod invoiced;
mod mapping;
mod report;
mod resend;
mod review;
mod safety;
mod secrets;
mod truths;
mod vendors;
