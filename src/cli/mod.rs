//! The command line (binary only: the library never depends on clap; the `cli` feature).
//!
//! Layers (docs/engine.md#front-ends): each subcommand lives in its own file with its raw clap
//! arguments and a `run` that validates them into library configuration (usage errors: exit 64),
//! calls the library, and returns the exit code. Progress bars (`progress`), Ctrl-C
//! (`interrupt`), the infer summary (`report`) and the wording of library errors (`hints`) have
//! their own modules; subcommands do not import each other.
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod eval;
mod hints;
mod infer;
mod inspect;
mod interrupt;
mod mep;
mod merge;
mod progress;
mod report;

/// Largest `--batch`.
pub const MAX_BATCH: usize = 1024;

/// Exit code: everything done.
pub const EXIT_OK: u8 = 0;
/// Exit code: fatal error, or nothing processed.
pub const EXIT_FATAL: u8 = 1;
/// Exit code: done, but some inputs were skipped (see the summary).
pub const EXIT_PARTIAL: u8 = 2;
/// Exit code: the command line is wrong (unknown flag, bad value); nothing was done (`EX_USAGE` of
/// sysexits.h; clap's own 2 would collide with [`EXIT_PARTIAL`]).
pub const EXIT_USAGE: u8 = 64;
/// Exit code: interrupted (Ctrl-C); re-run the same command to resume.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit codes, as printed at the end of `--help` and in the README.
pub const EXIT_CODES_HELP: &str =
    "Exit status: 0 everything done; 1 fatal error or nothing processed; 2 done, but some
inputs were skipped (listed in the summary; --strict makes this 1); 64 usage error (bad flag or
value, nothing done); 130 interrupted (re-run the same command to resume).";

/// A command-line usage error found after parsing (a flag value out of range): exit code
/// [`EXIT_USAGE`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Marks an error as a usage error (exit code [`EXIT_USAGE`]).
pub fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(e.to_string()))
}

/// Largest `--threads`: 8 per core (more only adds contention), at least 64.
fn max_threads() -> usize {
    (std::thread::available_parallelism().map_or(1, usize::from) * 8).max(64)
}

/// Boundary-assisted instance segmentation: ONNX inference, mask extraction and COCO evaluation.
#[derive(Debug, Parser)]
#[command(
    name = "baiseg-rt",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// Worker threads for decoding, MEP and evaluation, and ONNX Runtime intra-op threads
    /// [default: all cores].
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Print only errors (no progress bar, no summary).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// More logging (-v: debug, -vv: trace). `RUST_LOG` overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Segment instances in images with a `BAISeg` ONNX model: writes COCO results (RLE masks) and,
    /// on request, label/semantic/boundary PNGs and overlays.
    Infer(infer::InferArgs),
    /// Evaluate COCO results against a COCO annotation file (pycocotools-identical numbers),
    /// or the paper's VOC-style mAP@{25,50,70,75}.
    Eval(eval::EvalArgs),
    /// Run the Mask Extraction Pipeline alone on a saved boundary map and semantic map.
    Mep(mep::MepArgs),
    /// Print a model's inputs, outputs, classes and metadata.
    Inspect(inspect::InspectArgs),
    /// Join the outputs of sharded `infer --shard k/n` runs into one output directory.
    Merge(merge::MergeArgs),
}

/// Parses the command line, runs, and maps the result to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => EXIT_OK,
                _ => EXIT_USAGE,
            });
        }
    };
    init_logging(&cli.global);
    if let Some(n) = cli.global.threads
        && (n == 0 || n > max_threads())
    {
        eprintln!(
            "error: --threads {n} is out of range 1..={} (8 per core here)",
            max_threads()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    if let Err(e) = init_threads(&cli.global) {
        eprintln!("error: --threads: {e}");
        return ExitCode::from(EXIT_FATAL);
    }
    let result = match &cli.command {
        Command::Infer(args) => infer::run(args, &cli.global),
        Command::Inspect(args) => inspect::run(args, &cli.global),
        Command::Merge(args) => merge::run(args, &cli.global),
        Command::Eval(args) => eval::run(args, &cli.global),
        Command::Mep(args) => mep::run(args, &cli.global),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_text(&err));
            if err.chain().any(|e| e.downcast_ref::<UsageError>().is_some()) {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_FATAL)
            }
        }
    }
}

fn init_logging(global: &GlobalOpts) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,baiseg_rt=info",
        (false, 1) => "info,baiseg_rt=debug",
        (false, _) => "debug,baiseg_rt=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .fmt_fields(hints::HintFields)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The error and its causes, `: `-joined, leaving out a cause whose text the previous one already
/// contains (library errors name their file, so context often repeats it: no "X: X"). Library
/// errors about a setting get the flag that sets it ([`hints`]).
fn error_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<baiseg_rt::Error>() {
            Some(e) => hints::error_text(e),
            None => cause.to_string(),
        };
        if parts.last().is_some_and(|prev| prev.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Configures the global rayon pool from `--threads`: once per process, here only (the engine
/// builds its own worker pool of the same size).
///
/// # Errors
/// When the pool cannot be built.
pub fn init_threads(global: &GlobalOpts) -> Result<(), rayon::ThreadPoolBuildError> {
    match global.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global(),
        None => Ok(()),
    }
}
