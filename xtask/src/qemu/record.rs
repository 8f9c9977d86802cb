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

impl Built {
    /// The record as `qemu info` shows it: one field a line, long values
    /// wrapped (`--json` prints the record itself).
    pub fn describe(&self) -> String {
        crate::table::fields(&[
            ("binary", self.binary.display().to_string()),
            ("version", self.version.clone()),
            ("sha256", self.sha256.clone()),
            ("key", self.key.clone()),
            ("source", self.source.clone()),
            ("acalsim", self.acalsim.clone()),
            (
                "built_at",
                format!("{} in {:.0} s", self.built_at, self.build_secs),
            ),
        ])
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_shows_one_field_a_line_within_100_columns() {
        let built = Built {
            binary: "/c/qemu/46f1/bin/qemu-system-riscv64".into(),
            version: "QEMU emulator version 10.2.2 (acalsim-46f12361e4e8)".into(),
            sha256: "c".repeat(64),
            key: "4".repeat(64),
            source: format!("http://deb.debian.org/debian/pool/main/q/qemu/qemu_10.2.2+ds.orig.tar.xz (sha256 {}, listed in sid's Sources.xz)", "b".repeat(64)),
            acalsim: "ACALSIM_SRC=../shared/acalsim/acalsim.tar.xz".into(),
            acalsim_device_sha256: "0".repeat(64),
            firmware_sha256: "8".repeat(64),
            built_at: "2026-12-05T10:39:21Z".into(),
            build_secs: 206.6,
        };
        let text = built.describe();
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        assert!(
            text.starts_with("binary    /c/qemu/46f1/bin/qemu-system-riscv64\n"),
            "{text}"
        );
        assert!(
            text.ends_with("built_at  2026-12-05T10:39:21Z in 207 s"),
            "{text}"
        );
        let v = serde_json::to_value(&built).unwrap();
        assert_eq!(v["version"], built.version);
    }
}
