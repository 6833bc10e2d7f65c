//! The `baiseg-rt` command line: see `baiseg-rt --help`.
fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
