//! The `faultline` binary: the command line is `faultline::main`'s.

use std::process::ExitCode;

// Checking a large history is mostly allocation: parsed values, interned keys, graph
// edges. mimalloc's thread-local free lists roughly halve the time glibc's malloc takes
// there (ARCHITECTURE.md, "Dependencies").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    faultline::main()
}
