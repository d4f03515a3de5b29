//! End-to-end tests: the real `recon` binary against the sandbox servers over loopback,
//! with a real SQLite file. One test target (ripgrep style) so it links once.

mod harness;

mod errors;
mod flow;
mod mapping;
