//! What a finished QEMU build is: its `build.json` in the cached install,
//! and `target/xtask/qemu.json`, the record of the build this checkout uses
//! (`run` boots it for co-simulation; the boot log names it).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::project::Project;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Built {
    /// The installed `qemu-system-riscv64`.
    pub binary: PathBuf,
    /// The first line of its `--version`.
    pub version: String,
    pub sha256: String,
    /// The cache key it was built under.
    pub key: String,
    /// The QEMU source and what vouched for it.
    pub source: String,
    /// Where ACALSim's device came from, and the sha256 of its files.
    pub acalsim: String,
    pub acalsim_device_sha256: String,
    /// OpenSBI's `fw_dynamic.bin` installed beside it (`-bios default`).
    pub firmware_sha256: String,
    pub built_at: String,
    pub build_secs: f64,
}

/// The file inside an install directory.
pub const BUILD_JSON: &str = "build.json";

pub fn pointer(project: &Project) -> PathBuf {
    project.xtask_dir().join("qemu.json")
}

pub fn read(path: &Path) -> Result<Built> {
    crate::cache::read_json(path)
}

pub fn write(path: &Path, built: &Built) -> Result<()> {
    crate::cache::write_json(path, built)
}

/// The project's QEMU, if `cargo xtask qemu build` made one that still exists.
pub fn current(project: &Project) -> Result<Option<Built>> {
    let built: Option<Built> = crate::cache::read_json_if_present(&pointer(project))?;
    Ok(built.filter(|b| b.binary.is_file()))
}
