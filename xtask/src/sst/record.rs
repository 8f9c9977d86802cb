//! What a finished SST build is: `build.json` in the cached element library's
//! directory, and `target/xtask/sst.json`, the record of the build this
//! checkout uses (`cosim` puts its `sst` on the SST side's PATH and its
//! element directory in `SST_LIB_PATH`).

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::project::Project;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Built {
    /// The installed SST-core: `bin/sst`, `bin/sst-info`, `bin/sst-config`.
    pub prefix: PathBuf,
    /// The directory holding `libacalsim.so` (element library `acalsim`).
    pub elements: PathBuf,
    /// The first line of `sst --version`.
    pub version: String,
    /// The cache keys of SST-core's install and of the element library.
    pub core_key: String,
    pub element_key: String,
    /// SST-core's source and its identity (sha256 or commit).
    pub core_source: String,
    pub core_identity: String,
    /// Where ACALSim came from, and the sha256 of the component's files.
    pub acalsim: String,
    pub component_sha256: String,
    /// The components `sst-info acalsim` lists.
    pub components: Vec<String>,
    pub built_at: String,
    pub build_secs: f64,
}

impl Built {
    pub fn bin_dir(&self) -> PathBuf {
        self.prefix.join("bin")
    }

    /// The record as `sst info` shows it: one field a line, long values
    /// wrapped (`--json` prints the record itself).
    pub fn describe(&self) -> String {
        crate::table::fields(&[
            ("prefix", self.prefix.display().to_string()),
            ("version", self.version.clone()),
            ("elements", self.elements.display().to_string()),
            ("components", self.components.join(", ")),
            ("core_source", self.core_source.clone()),
            ("acalsim", self.acalsim.clone()),
            (
                "built_at",
                format!("{} in {:.0} s", self.built_at, self.build_secs),
            ),
        ])
    }
}

/// The file inside the element library's directory.
pub const BUILD_JSON: &str = "build.json";

pub fn pointer(project: &Project) -> PathBuf {
    project.xtask_dir().join("sst.json")
}

/// The project's SST, if `cargo xtask sst build` made one that still exists.
pub fn current(project: &Project) -> Result<Option<Built>> {
    let built: Option<Built> = crate::cache::read_json_if_present(&pointer(project))?;
    Ok(built.filter(|b| b.bin_dir().join("sst").is_file() && b.elements.join(LIBRARY).is_file()))
}

/// ACALSim's element library: SST loads element `acalsim` from `libacalsim.so`.
pub const LIBRARY: &str = "libacalsim.so";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_shows_one_field_a_line_and_json_keeps_the_records_fields() {
        let built = Built {
            prefix: "/c/sst/core-1234".into(),
            elements: "/c/sst/element-5678".into(),
            version: "SST-Core Version (15.1.2)".into(),
            core_key: "k".into(),
            element_key: "e".into(),
            core_source: "SST_CORE_SRC=/s/sst-core-15.1.2.tar.xz".into(),
            core_identity: "sha256 x".into(),
            acalsim: "ACALSIM_SRC=/a".into(),
            component_sha256: "c".into(),
            components: vec!["VirtIODevice".into()],
            built_at: "2026-12-05T11:00:00Z".into(),
            build_secs: 900.2,
        };
        let text = built.describe();
        assert!(text.contains("\ncomponents   VirtIODevice\n"), "{text}");
        let v = serde_json::to_value(&built).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 12);
        assert_eq!(v["components"][0], "VirtIODevice");
    }
}
