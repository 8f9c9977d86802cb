//! `manifest.json`: the contract between an image and `cargo xtask run`.
//!
//! `run` reads nothing else, so a Debian and a Buildroot image boot alike.
//! Paths are relative to the image directory so the directory can be moved.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::RunDefaults;

pub const FILE: &str = "manifest.json";
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub schema: u32,
    pub name: String,
    pub flavour: String,
    pub arch: String,
    pub description: String,
    /// Content key over the image's config and every input file.
    pub config_hash: String,
    pub created: String,
    pub kernel: Artifact,
    /// The minimal initrd disk boots need (Debian: virtio/ext4 are modules);
    /// none where the kernel has its drivers built in (Buildroot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<Artifact>,
    /// Firmware for `-bios`; none means QEMU's bundled OpenSBI (`-bios default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<Artifact>,
    /// Root filesystems by format: `ext4`, `qcow2`, `initramfs`.
    pub rootfs: BTreeMap<String, Artifact>,
    /// Kernel command line by boot mode: `disk`, `initramfs`.
    pub cmdline: BTreeMap<String, String>,
    pub kernel_version: String,
    pub run: RunDefaults,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian: Option<DebianSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildroot: Option<BuildrootSource>,
    /// Out-of-tree modules (`kernel_modules`) installed, relative to the rootfs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_modules: Vec<String>,
    pub packages: Vec<Package>,
    pub tools: BTreeMap<String, String>,
    pub build: BuildInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DebianSource {
    pub suite: String,
    pub mirror: String,
    pub components: Vec<String>,
    pub bootstrapper: String,
    /// The `Date:` of the signed InRelease the packages came from.
    pub release_date: String,
    /// Whether apt enforced the Release file's Valid-Until.
    pub check_valid_until: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildrootSource {
    pub version: String,
    /// How the source tree was verified (commit id, sha256, or a local tree).
    pub source: String,
    /// sha256 of the defconfig the image was configured with.
    pub defconfig_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildInfo {
    pub total_secs: f64,
    pub steps: Vec<StepTime>,
    /// Whether the base layer came from the cache.
    pub base_layer_cached: bool,
    /// Bytes used inside the ext4 filesystem (what the files take, not the sparse size).
    pub rootfs_used_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepTime {
    pub step: String,
    pub secs: f64,
}

impl Manifest {
    pub fn read(image_dir: &Path) -> Result<Manifest> {
        let path = image_dir.join(FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The manifest of the built image `name` in `image_dir`. Not built (no
    /// manifest) is one error with the command that builds it, without the
    /// file system's "No such file" below it; a manifest that cannot be read
    /// names the file and says to rebuild.
    pub fn read_built(image_dir: &Path, name: &str) -> Result<Manifest> {
        if !image_dir.join(FILE).is_file() {
            bail!("image `{name}` is not built; build it with `cargo xtask image {name}`");
        }
        Manifest::read(image_dir).with_context(|| {
            format!("image `{name}` cannot be used; rebuild it with `cargo xtask image {name} --rebuild`")
        })
    }

    pub fn write(&self, image_dir: &Path) -> Result<()> {
        let path = image_dir.join(FILE);
        let text = serde_json::to_string_pretty(self).context("serialising manifest")?;
        std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    pub fn artifacts(&self) -> impl Iterator<Item = &Artifact> {
        [
            Some(&self.kernel),
            self.initrd.as_ref(),
            self.firmware.as_ref(),
        ]
        .into_iter()
        .flatten()
        .chain(self.rootfs.values())
    }

    /// True when every artifact is present with the recorded size. Hashing
    /// gigabytes on every no-op run would break the 2-second promise; sizes
    /// catch truncation and deletion, which is what actually happens.
    pub fn artifacts_present(&self, image_dir: &Path) -> bool {
        self.artifacts()
            .all(|a| std::fs::metadata(image_dir.join(&a.path)).is_ok_and(|m| m.len() == a.size))
    }
}

/// Parses `/var/lib/dpkg/status` into the installed packages, sorted by name.
pub fn installed_packages(status: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = status
        .split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|v| v.strip_prefix(':'))
                        .map(|v| v.trim().to_string())
                })
            };
            let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
            installed.then(|| Package {
                name: field("Package").unwrap_or_default(),
                version: field("Version").unwrap_or_default(),
                arch: field("Architecture").unwrap_or_default(),
            })
        })
        .filter(|p| !p.name.is_empty())
        .collect();
    packages.sort();
    packages
}

/// A small Debian manifest for other modules' tests to adjust.
#[cfg(test)]
pub fn sample() -> Manifest {
    let art = |p: &str| Artifact {
        path: p.into(),
        sha256: "0".repeat(64),
        size: 1,
    };
    Manifest {
        kernel_modules: vec![],
        schema: SCHEMA,
        name: "img".into(),
        flavour: "debian".into(),
        arch: "riscv64".into(),
        description: String::new(),
        config_hash: String::new(),
        created: String::new(),
        kernel: art("vmlinux"),
        initrd: Some(art("initrd.img")),
        firmware: None,
        rootfs: BTreeMap::from([("ext4".into(), art("rootfs.ext4"))]),
        cmdline: BTreeMap::from([
            (
                "disk".into(),
                "root=/dev/vda rw console=ttyS0 panic=-1".into(),
            ),
            (
                "initramfs".into(),
                "rdinit=/init console=ttyS0 panic=-1".into(),
            ),
        ]),
        kernel_version: "7.2".into(),
        run: RunDefaults {
            smp: 2,
            memory_mib: 4096,
        },
        debian: Some(DebianSource {
            suite: "sid".into(),
            mirror: "http://deb.debian.org/debian".into(),
            components: vec!["main".into()],
            bootstrapper: "mmdebstrap".into(),
            release_date: String::new(),
            check_valid_until: true,
        }),
        buildroot: None,
        packages: vec![],
        tools: BTreeMap::new(),
        build: BuildInfo {
            total_secs: 0.0,
            steps: vec![],
            base_layer_cached: false,
            rootfs_used_bytes: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_installed_packages_are_listed() {
        let status = "Package: zlib1g\nStatus: install ok installed\nArchitecture: riscv64\nVersion: 1:1.3\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                      Package: apt\nStatus: install ok installed\nPriority: important\nArchitecture: riscv64\nVersion: 3.1.11\nDescription: x\n multi\n";
        let p = installed_packages(status);
        assert_eq!(
            p,
            vec![
                Package {
                    name: "apt".into(),
                    version: "3.1.11".into(),
                    arch: "riscv64".into()
                },
                Package {
                    name: "zlib1g".into(),
                    version: "1:1.3".into(),
                    arch: "riscv64".into()
                },
            ]
        );
    }

    #[test]
    fn manifest_round_trips_and_checks_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Image"), b"kernel").unwrap();
        std::fs::write(dir.path().join("initrd"), b"ird").unwrap();
        let art = |p: &str, size| Artifact {
            path: p.into(),
            sha256: "x".into(),
            size,
        };
        let m = Manifest {
            kernel: art("Image", 6),
            initrd: Some(art("initrd", 3)),
            rootfs: BTreeMap::new(),
            ..sample()
        };
        m.write(dir.path()).unwrap();
        let back = Manifest::read(dir.path()).unwrap();
        assert_eq!(back, m);
        assert!(back.artifacts_present(dir.path()));
        std::fs::write(dir.path().join("initrd"), b"truncated-or-changed").unwrap();
        assert!(!back.artifacts_present(dir.path()));
    }

    #[test]
    fn an_image_without_a_manifest_is_not_built_and_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = Manifest::read_built(dir.path(), "img").unwrap_err();
        assert_eq!(e.chain().count(), 1, "{e:#}");
        assert_eq!(
            e.to_string(),
            "image `img` is not built; build it with `cargo xtask image img`"
        );
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        let e = Manifest::read_built(dir.path(), "img").unwrap_err();
        assert!(e.to_string().contains("--rebuild"), "{e}");
        assert!(format!("{e:#}").contains("parsing"), "{e:#}");
    }
}
