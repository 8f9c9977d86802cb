//! Where ACALSim's sources are: its QEMU device (`virtio-device/`), its guest
//! driver (`drivers/`) and the SST side live under `src/qemu-acalsim-sst-linux`
//! of an ACALSim checkout. A user points at one with `ACALSIM_SRC` or the
//! `[qemu] acalsim` key: the checkout, that directory, or a tarball of either
//! (unpacked once into the user cache, by its sha256). The files are only
//! read, never changed: builds copy what they need.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::cache;

pub const ENV: &str = "ACALSIM_SRC";
/// The part of ACALSim this project builds from.
const SUBDIR: &str = "src/qemu-acalsim-sst-linux";
/// The device's files, as `virtio-device/README.md` lists them.
pub const DEVICE_FILES: &[&str] = &["virtio-sst.c", "virtio-sst.h", "sst-protocol.h"];

/// A located `src/qemu-acalsim-sst-linux` directory.
#[derive(Debug, Clone)]
pub struct Acalsim {
    pub dir: PathBuf,
    /// What the user gave, for messages and records.
    pub origin: String,
}

impl Acalsim {
    /// The QEMU device and the wire protocol header.
    pub fn device_dir(&self) -> PathBuf {
        self.dir.join("virtio-device")
    }

    /// The SST component (`ACALSimVirtIODeviceComponent`), for `sst build`.
    pub fn component_dir(&self) -> PathBuf {
        self.dir.join("acalsim-device")
    }
}

/// ACALSim from `ACALSIM_SRC`, else from the config's `acalsim` (relative to
/// `root`); neither set is an error that says how to set one.
pub fn locate(sh: &Shell, root: &Path, configured: Option<&Path>) -> Result<Acalsim> {
    let Some((given, origin)) = given(root, configured) else {
        bail!(
            "ACALSim's sources are needed (its virtio-sst device and guest driver) but none are set: \
             set {ENV}=PATH or `acalsim = \"PATH\"` in the [qemu] table of acalsim.toml, where PATH is an \
             ACALSim checkout, its {SUBDIR} directory, or a tarball of one"
        );
    };
    let tree = if given.is_file() {
        unpack(sh, &given).with_context(|| format!("{origin}: unpacking the tarball"))?
    } else if given.is_dir() {
        given.clone()
    } else {
        bail!("{origin}: {} does not exist (expected an ACALSim checkout, its {SUBDIR}, or a tarball)", given.display());
    };
    let dir = find_subdir(&tree).with_context(|| {
        format!(
            "{origin}: no {SUBDIR} (with virtio-device/ and drivers/) in {}",
            given.display()
        )
    })?;
    let acalsim = Acalsim { dir, origin };
    check_device_files(&acalsim)?;
    Ok(acalsim)
}

/// The path the user gave and how they gave it: `ACALSIM_SRC`, else the
/// config's `acalsim` (relative to `root`).
fn given(root: &Path, configured: Option<&Path>) -> Option<(PathBuf, String)> {
    match std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        Some(v) => Some((
            PathBuf::from(&v),
            format!("{ENV}={}", PathBuf::from(&v).display()),
        )),
        None => configured.map(|p| {
            (
                root.join(p),
                format!("[qemu] acalsim = \"{}\"", p.display()),
            )
        }),
    }
}

/// What [`locate`] would find, without unpacking a tarball (`doctor
/// --cosim`): where the sources are set and what is there, or why they
/// cannot be used (`None`: not set at all).
pub fn check(root: &Path, configured: Option<&Path>) -> Option<Result<Found, String>> {
    let (given, origin) = given(root, configured)?;
    if given.is_file() {
        return Some(Ok(Found {
            origin,
            what: "a tarball".into(),
        }));
    }
    if !given.is_dir() {
        return Some(Err(format!("{origin}: {} does not exist", given.display())));
    }
    let Some(dir) = find_subdir(&given) else {
        return Some(Err(format!(
            "{origin}: no {SUBDIR} (with virtio-device/ and drivers/) in {}",
            given.display()
        )));
    };
    let acalsim = Acalsim { dir, origin };
    Some(match check_device_files(&acalsim) {
        Ok(()) => Ok(Found {
            what: "a directory".into(),
            origin: acalsim.origin,
        }),
        Err(e) => Err(e.to_string()),
    })
}

/// Where ACALSim's sources were found ([`check`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// How the user set them: `ACALSIM_SRC=PATH` or the config key.
    pub origin: String,
    /// `a directory` or `a tarball`.
    pub what: String,
}

/// Every device file is there, or an error naming the missing ones.
fn check_device_files(a: &Acalsim) -> Result<()> {
    let missing: Vec<&str> = DEVICE_FILES
        .iter()
        .copied()
        .filter(|f| !a.device_dir().join(f).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: {} lacks {} (ACALSim's QEMU device)",
            a.origin,
            a.device_dir().display(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// `tree` itself, `tree/src/qemu-acalsim-sst-linux`, or that one level down
/// (a tarball's top directory).
fn find_subdir(tree: &Path) -> Option<PathBuf> {
    let is_it = |d: &Path| d.join("virtio-device").is_dir() && d.join("drivers").is_dir();
    if is_it(tree) {
        return Some(tree.to_path_buf());
    }
    if is_it(&tree.join(SUBDIR)) {
        return Some(tree.join(SUBDIR));
    }
    let mut tops: Vec<PathBuf> = std::fs::read_dir(tree)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    tops.sort();
    tops.into_iter().map(|t| t.join(SUBDIR)).find(|d| is_it(d))
}

/// The tarball unpacked into `$XDG_CACHE_HOME/acalsim/acalsim-src/SHA` (once;
/// a half-unpacked tree is never used).
fn unpack(sh: &Shell, tarball: &Path) -> Result<PathBuf> {
    let sha = cache::sha256_file(tarball)?;
    let base = cache::cache_dir()?.join("acalsim-src");
    let dest = base.join(&sha[..16]);
    if dest.is_dir() {
        return Ok(dest);
    }
    let partial = base.join(format!("{}.partial", &sha[..16]));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    cmd!(sh, "tar -xf {tarball} -C {partial}")
        .quiet()
        .run()
        .with_context(|| format!("unpacking {}", tarball.display()))?;
    std::fs::rename(&partial, &dest).with_context(|| format!("moving to {}", dest.display()))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subdir_is_found_at_any_of_the_three_levels() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().join("acalsim").join(SUBDIR);
        for d in ["virtio-device", "drivers"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        assert_eq!(find_subdir(t.path()), Some(top.clone()));
        assert_eq!(find_subdir(&t.path().join("acalsim")), Some(top.clone()));
        assert_eq!(find_subdir(&top), Some(top.clone()));
        assert_eq!(find_subdir(&top.join("drivers")), None);
    }

    #[test]
    fn the_check_says_where_the_sources_are_or_why_not_without_unpacking() {
        if std::env::var_os(ENV).is_some() {
            return; // the environment decides; the config is not read
        }
        let t = tempfile::tempdir().unwrap();
        assert_eq!(check(t.path(), None), None);
        let gone = check(t.path(), Some(Path::new("nowhere")))
            .unwrap()
            .unwrap_err();
        assert!(
            gone.starts_with("[qemu] acalsim = \"nowhere\": ") && gone.ends_with("does not exist"),
            "{gone}"
        );
        std::fs::write(t.path().join("a.tar.xz"), b"x").unwrap();
        let tarball = check(t.path(), Some(Path::new("a.tar.xz")))
            .unwrap()
            .unwrap();
        assert!(tarball.what.contains("tarball"), "{tarball:?}");
        let empty = check(t.path(), Some(Path::new("."))).unwrap().unwrap_err();
        assert!(empty.contains("no src/qemu-acalsim-sst-linux"), "{empty}");
    }
}
