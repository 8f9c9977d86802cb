//! A native (amd64) Debian root of the image's own suite, kept in the user
//! cache, for work that is architecture-independent but painfully slow under
//! qemu-user.
//!
//! Byte-compiling a torch image's ~7000 Python files costs ~57 ms a file under
//! emulation (minutes even on two cores) and seconds natively; depmod takes
//! ~40 s emulated. `.pyc` files depend only on the Python version and depmod's
//! indexes only on the kmod version, so the native tools of the same Debian
//! versions do the work (`debian/scripts/finish-deferred.sh`). If a version
//! differs (a mirror mid-update), the image's own tools run under emulation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::cache::ContentKey;
use crate::manifest::installed_packages;
use crate::progress::{CommandLog, Step};

/// What a native helper root holds.
pub const PACKAGES: &[&str] = &["python3", "kmod", "ca-certificates"];

#[derive(Debug, Clone)]
pub struct NativeSpec {
    pub suite: String,
    pub mirror: String,
    pub components: Vec<String>,
    pub check_valid_until: bool,
}

/// Where the helper root for `spec` lives in the cache.
pub fn root_dir(cache: &Path, spec: &NativeSpec) -> PathBuf {
    let mut key = ContentKey::new("native-helper-v1");
    key.add("suite", spec.suite.as_bytes())
        .add("mirror", spec.mirror.as_bytes())
        .add("components", spec.components.join(",").as_bytes())
        .add("packages", PACKAGES.join(",").as_bytes());
    cache
        .join("native")
        .join(format!("{}-amd64-{}", spec.suite, &key.hex()[..16]))
}

/// mmdebstrap argv for the helper root (native: no emulation, about half a minute).
pub fn mmdebstrap_args(spec: &NativeSpec, target: &Path, apt_cache: &Path) -> Vec<String> {
    let mut args = vec![
        "--mode=root".to_string(),
        "--variant=minbase".into(),
        "--architectures=amd64".into(),
        "--verbose".into(),
        format!("--components={}", spec.components.join(",")),
        format!("--include={}", PACKAGES.join(",")),
    ];
    args.extend(super::bootstrap::shared_mmdebstrap_args(
        apt_cache,
        spec.check_valid_until,
    ));
    args.extend([
        spec.suite.clone(),
        target.display().to_string(),
        spec.mirror.clone(),
    ]);
    args
}

/// Builds the helper root unless the cache has it; the root is renamed into
/// place only when complete. Logs its commands to `log`.
pub fn ensure(
    sh: &Shell,
    cache: &Path,
    spec: &NativeSpec,
    log: &Path,
    verbose: bool,
) -> Result<PathBuf> {
    let dir = root_dir(cache, spec);
    let Some(_building) = crate::cache::claim(&dir, |d| d.join("usr/bin/python3").exists())? else {
        return Ok(dir);
    };
    let partial = dir.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing {}", partial.display()))?;
    }
    let apt_cache = cache.join("apt").join(format!("{}-amd64", spec.suite));
    std::fs::create_dir_all(&apt_cache)
        .with_context(|| format!("creating {}", apt_cache.display()))?;
    let args = mmdebstrap_args(spec, &partial, &apt_cache);
    CommandLog::append_to(log, verbose)?
        .run(cmd!(sh, "mmdebstrap {args...}"))
        .context("bootstrapping the native helper root")?;
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("renaming {} to {}", partial.display(), dir.display()))?;
    Ok(dir)
}

/// Versions of the packages whose output the helper must reproduce exactly:
/// `kmod` (depmod's indexes) and `ca-certificates` (the certificate store).
fn tool_versions(root: &Path) -> BTreeMap<String, String> {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap_or_default();
    installed_packages(&status)
        .into_iter()
        .filter(|p| ["kmod", "ca-certificates"].contains(&p.name.as_str()))
        .map(|p| (p.name, p.version))
        .collect()
}

/// Whether the helper reproduces the image's tools: each of the image's
/// versions is present, identical, in the helper.
pub fn versions_match(image: &BTreeMap<String, String>, helper: &BTreeMap<String, String>) -> bool {
    image
        .iter()
        .all(|(name, version)| helper.get(name) == Some(version))
}

/// The byte-code magic number of a root's python3, as hex; `None` without python3.
/// Byte code is interchangeable exactly when the magic numbers are equal (the
/// riscv64 port often lags amd64 by a patch release, which is fine).
fn python_magic(sh: &Shell, log: &CommandLog, root: &Path) -> Option<String> {
    if !root.join("usr/bin/python3").exists() {
        return None;
    }
    let code = "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())";
    log.read(cmd!(sh, "chroot {root} python3 -I -c {code}"))
        .ok()
        .filter(|m| !m.is_empty())
}

/// Runs the deferred depmod, certificate store and byte-compilation: natively
/// when `helper` reproduces the image's tools, else with the image's own
/// tools under emulation.
pub fn finish_deferred(
    sh: &Shell,
    step: &Step,
    rootfs: &Path,
    helper: Option<&Path>,
) -> Result<()> {
    let script = sh.current_dir().join("debian/scripts/finish-deferred.sh");
    // ACALSIM_EMULATE_ONLY=1 forces the slow path: for tests and for doubt.
    let helper = helper.filter(|_| std::env::var_os("ACALSIM_EMULATE_ONLY").is_none());
    let mode = match helper {
        Some(h) => {
            let (image_tools, helper_tools) = (tool_versions(rootfs), tool_versions(h));
            let image_magic = python_magic(sh, step, rootfs);
            let helper_magic = image_magic.as_ref().and_then(|_| python_magic(sh, step, h));
            if versions_match(&image_tools, &helper_tools) && image_magic == helper_magic {
                "native"
            } else {
                step.say(&format!(
                    "helper differs (tools {helper_tools:?} vs {image_tools:?}, python magic {helper_magic:?} vs {image_magic:?}): running under emulation"
                ));
                "emulated"
            }
        }
        None => "emulated",
    };
    let helper = helper.unwrap_or(rootfs);
    step.say(&format!(
        "depmod, certificates and byte-compilation ({mode})"
    ));
    step.run(cmd!(
        sh,
        "unshare --mount --pid --fork --kill-child sh {script} {mode} {helper} {rootfs}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_match_exactly() {
        let v = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let img = v(&[("ca-certificates", "20260816"), ("kmod", "34.2-2")]);
        assert!(versions_match(&img, &img));
        assert!(
            versions_match(&v(&[("kmod", "34.2-2")]), &img),
            "an image without certificates needs only kmod"
        );
        assert!(!versions_match(
            &img,
            &v(&[("ca-certificates", "20260901"), ("kmod", "34.2-2")])
        ));
        assert!(
            !versions_match(&img, &v(&[("ca-certificates", "20260816")])),
            "kmod missing"
        );
    }

    #[test]
    fn helper_root_is_native_amd64_and_verified() {
        let spec = NativeSpec {
            suite: "sid".into(),
            mirror: "http://m/debian".into(),
            components: vec!["main".into()],
            check_valid_until: true,
        };
        let a = mmdebstrap_args(
            &spec,
            Path::new("/c/native/x.partial"),
            Path::new("/c/apt/sid-amd64"),
        );
        assert!(
            a.contains(&"--architectures=amd64".into())
                && a.contains(&"--include=python3,kmod,ca-certificates".into())
        );
        assert!(!a
            .iter()
            .any(|x| x.contains("Valid-Until") || x.contains("trusted")));
        assert_eq!(
            &a[a.len() - 3..],
            ["sid", "/c/native/x.partial", "http://m/debian"]
        );
        let dir = root_dir(Path::new("/c"), &spec);
        assert!(dir.starts_with("/c/native") && dir.to_string_lossy().contains("sid-amd64-"));
        let other = root_dir(
            Path::new("/c"),
            &NativeSpec {
                suite: "trixie".into(),
                ..spec
            },
        );
        assert_ne!(dir, other);
    }
}
