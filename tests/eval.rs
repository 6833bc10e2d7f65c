//! Integration tests (eval): golden parity with pycocotools on every fixture, malformed input,
//! invariances, the streaming API and the CLI.
mod analysis;
mod boundary;
mod malformed;
mod parity;
mod rle_golden;
