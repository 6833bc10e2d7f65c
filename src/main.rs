//! The `baiseg-rt` command line: see `baiseg-rt --help`.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
