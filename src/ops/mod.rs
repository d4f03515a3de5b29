//! Operations the commands drive: the work of a command, without its parsing and printing.

pub mod sync;
