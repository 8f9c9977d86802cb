//! `cargo xtask test`: every test, with the end-to-end tests pointed at this
//! very xtask binary so they drive exactly the code under test.

use anyhow::{Context, Result};
use xshell::cmd;

use crate::flags;
use crate::project::Project;

pub fn run(project: &Project, flags: &flags::Test) -> Result<()> {
    let sh = &project.sh;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let args = &flags.args;
    // Image builds share one machine's two cores and one cache: run them one at a time.
    cmd!(sh, "cargo test --workspace -- --test-threads=1 {args...}")
        .env("ACALSIM_XTASK", &exe)
        .run()
        .context("cargo test failed")
}
