//! `cargo xtask`: builds and runs the ACALSim RISC-V guest images.
//!
//! This file only parses the command line, moves to the workspace root and
//! dispatches; each command lives in its own module.

mod bench;
mod cache;
mod config;
mod debian;
mod flags;
mod host;
mod image;
mod initramfs;
mod manifest;
mod native;
mod progress;
mod project;
mod test;

use anyhow::Result;
use clap::Parser;

fn main() {
    if let Err(e) = try_main() {
        // The outermost context says what went wrong and what to do; the
        // causes below it say where.
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("\ncaused by: {cause}");
        }
        std::process::exit(1);
    }
}

fn try_main() -> Result<()> {
    let flags = flags::Xtask::parse();
    let project = project::Project::open(&flags.config, flags.verbose)?;
    match flags.command {
        flags::Command::Doctor(d) => host::doctor(&project.sh, d.fix),
        flags::Command::Image(i) => image::run(&project, &i),
        flags::Command::Images(_) => image::list(&project),
        flags::Command::Test(t) => test::run(&project, &t),
        flags::Command::Bench(b) => bench::run(&project, &b),
    }
}
