#!/bin/sh
# The MSP-scale benchmark (BENCHMARKS.md): builds recon in release mode, runs
# `cargo bench --bench scale` and keeps its table in target/scale-bench.txt.
# Extra arguments go to the bench: `bench/run.sh --small` runs a tenth of the size.
set -eu
cd "$(dirname "$0")/.."
cargo bench --bench scale -- "$@" | tee target/scale-bench.txt
