//! What produced a sweep's results, recorded in every point: the image (its
//! content key and its manifest's sha256), the QEMU binary, the SST side,
//! ACALSim's sources and this checkout. A sweep compares the record of its
//! completed points with what it would run now and refuses to mix results
//! of different inputs (gem5art's rule).

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::project::Project;
use crate::run::{BuiltImage, ChosenQemu};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub image: ImageId,
    pub qemu: QemuId,
    pub sst: SstId,
    /// Where ACALSim's device came from and the sha256 of its sources, from
    /// the project's QEMU build; `None` for a QEMU without it.
    pub acalsim: Option<AcalsimId>,
    pub project: ProjectId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageId {
    pub name: String,
    /// The image's content key over its config and inputs.
    pub config_hash: String,
    pub manifest_sha256: String,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QemuId {
    pub binary: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SstId {
    /// "reference peer", "sst" or "none".
    pub side: String,
    /// SST-core's `--version` and `cargo xtask sst build`'s cache keys of
    /// SST-core and the element library (with a real SST side that build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcalsimId {
    pub source: String,
    pub device_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectId {
    /// `git rev-parse HEAD`, or "unknown" outside a git checkout.
    pub commit: String,
    /// Tracked files differ from the commit.
    pub dirty: bool,
}

/// Which SST side the points run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Side {
    Peer,
    Sst,
    None,
}

/// The provenance of a sweep run now with `image` on `qemu`.
pub fn gather(
    project: &Project,
    image: &BuiltImage,
    qemu: &ChosenQemu,
    side: Side,
) -> Result<Provenance> {
    let manifest = image.dir.join("manifest.json");
    let built_qemu = crate::qemu::record::current(project)?.filter(|b| b.sha256 == qemu.sha256);
    let sst = match side {
        Side::Peer => SstId::named("reference peer"),
        Side::None => SstId::named("none"),
        Side::Sst => match crate::sst::record::current(project)? {
            Some(b) => SstId {
                side: "sst".into(),
                version: Some(b.version),
                core_key: Some(b.core_key),
                element_key: Some(b.element_key),
                component_sha256: Some(b.component_sha256),
            },
            // An SST on the user's PATH that this project did not build.
            None => SstId::named("sst"),
        },
    };
    Ok(Provenance {
        image: ImageId {
            name: image.name.clone(),
            config_hash: image.manifest.config_hash.clone(),
            manifest_sha256: crate::cache::sha256_file(&manifest)?,
            created: image.manifest.created.clone(),
        },
        qemu: QemuId {
            binary: qemu.path.display().to_string(),
            version: qemu.version.clone(),
            sha256: qemu.sha256.clone(),
        },
        sst,
        acalsim: built_qemu.map(|b| AcalsimId {
            source: b.acalsim,
            device_sha256: b.acalsim_device_sha256,
        }),
        project: checkout(project, &project.root),
    })
}

impl SstId {
    fn named(side: &str) -> SstId {
        SstId {
            side: side.into(),
            version: None,
            core_key: None,
            element_key: None,
            component_sha256: None,
        }
    }
}

/// The commit of the checkout at `root` and whether tracked files changed.
fn checkout(project: &Project, root: &Path) -> ProjectId {
    let sh = &project.sh;
    let _dir = sh.push_dir(root);
    let commit = cmd!(sh, "git rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read();
    let status = cmd!(sh, "git status --porcelain --untracked-files=no")
        .quiet()
        .ignore_stderr()
        .read();
    match (commit, status) {
        (Ok(commit), Ok(status)) => ProjectId {
            commit,
            dirty: !status.trim().is_empty(),
        },
        _ => ProjectId {
            commit: "unknown".into(),
            dirty: false,
        },
    }
}

/// What differs between the inputs of completed results (`then`) and a run
/// now, as lines for people; the checkout's commit is not an input.
pub fn changed(then: &Provenance, now: &Provenance) -> Vec<String> {
    let mut out = Vec::new();
    if then.image != now.image {
        out.push(format!(
            "image `{}`: built {} (manifest sha256 {}) then, {} (manifest sha256 {}) now",
            now.image.name,
            then.image.created,
            short(&then.image.manifest_sha256),
            now.image.created,
            short(&now.image.manifest_sha256)
        ));
    }
    if then.qemu.sha256 != now.qemu.sha256 {
        out.push(format!(
            "QEMU: {} (sha256 {}) then, {} (sha256 {}) now",
            then.qemu.version,
            short(&then.qemu.sha256),
            now.qemu.version,
            short(&now.qemu.sha256)
        ));
    }
    if then.sst != now.sst {
        out.push(format!(
            "SST side: {} then, {} now",
            describe_sst(&then.sst),
            describe_sst(&now.sst)
        ));
    }
    if then.acalsim != now.acalsim {
        let sha = |a: &Option<AcalsimId>| {
            a.as_ref()
                .map_or("none".into(), |a| short(&a.device_sha256).to_string())
        };
        out.push(format!(
            "ACALSim's device sources: sha256 {} then, {} now",
            sha(&then.acalsim),
            sha(&now.acalsim)
        ));
    }
    out
}

fn describe_sst(s: &SstId) -> String {
    match (&s.core_key, &s.element_key) {
        (Some(core), Some(element)) => format!(
            "{} (core {}, element {})",
            s.side,
            short(core),
            short(element)
        ),
        _ => s.side.clone(),
    }
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn sample() -> Provenance {
        Provenance {
            image: ImageId {
                name: "cosim".into(),
                config_hash: "c0".into(),
                manifest_sha256: "aa".repeat(32),
                created: "2026-12-05T10:00:00Z".into(),
            },
            qemu: QemuId {
                binary: "/q".into(),
                version: "QEMU emulator version 10.2.2".into(),
                sha256: "bb".repeat(32),
            },
            sst: SstId::named("reference peer"),
            acalsim: None,
            project: ProjectId {
                commit: "abc".into(),
                dirty: false,
            },
        }
    }

    #[test]
    fn a_rebuilt_image_or_another_qemu_is_a_change_and_a_new_commit_is_not() {
        let then = sample();
        let mut now = sample();
        now.project.commit = "def".into();
        now.project.dirty = true;
        assert!(changed(&then, &now).is_empty());
        now.image.manifest_sha256 = "cc".repeat(32);
        now.image.created = "2026-12-05T11:00:00Z".into();
        now.qemu.sha256 = "dd".repeat(32);
        let lines = changed(&then, &now);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("image `cosim`: built 2026-12-05T10:00:00Z"),
            "{lines:?}"
        );
        assert!(lines[1].contains("bbbbbbbbbbbb) then"), "{lines:?}");
    }
}
