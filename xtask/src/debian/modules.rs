//! `kernel_modules` on a Debian image: each Kbuild directory compiled against
//! the headers of exactly the image's kernel, with the compiler Debian built
//! that kernel with, and installed into `/usr/lib/modules/KVER/updates` with
//! the module index rebuilt, so the driver loads by its modalias at boot.
//!
//! The compiler runs natively: a cached amd64 root of the image's suite with
//! riscv64 as a foreign architecture, where apt resolves the headers package
//! `linux-headers-KVER:riscv64` at the image kernel's version to its
//! `gcc-N-for-host` (the riscv64 cross gcc-N), `linux-kbuild-KVER` (amd64)
//! and pahole. (Measured 2026-12-02: the root 32 s once, ACALSim's driver
//! 2.4 s; see docs/cosim.md for the emulated alternative.)

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::cache::ContentKey;
use crate::kernel_modules::{first_compiler_error, ModuleTree};
use crate::manifest::installed_packages;
use crate::progress::Step;

use super::bootstrap::shared_mmdebstrap_args;
use super::chroot::in_chroot;
use super::context::Build;

/// Builds and installs `trees` for kernel `kver`; returns the installed
/// module files, relative to the rootfs.
pub fn build_and_install(
    b: &Build,
    step: &Step,
    trees: &[ModuleTree],
    kver: &str,
) -> Result<Vec<String>> {
    let sh = &b.project.sh;
    let kernel_pkg = format!("linux-image-{kver}");
    let version = package_version(&b.rootfs, &kernel_pkg)?;
    step.say(&format!("build root for {kver} ({kernel_pkg} {version})"));
    let root = ensure_root(b, step, kver, &version)?;
    let work = root.join("build");
    crate::output::remove_dir(&work)?;
    let mut installed = Vec::new();
    let updates = Path::new("usr/lib/modules").join(kver).join("updates");
    let dest = b.rootfs.join(&updates);
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    for (i, tree) in trees.iter().enumerate() {
        step.say(&format!("compiling {}", tree.written));
        let copy = work.join(i.to_string());
        tree.copy_into(&copy)?;
        let m = format!("M=/build/{i}/{}", tree.name());
        let headers = format!("/usr/src/linux-headers-{kver}");
        let argv = ["make", "-C", headers.as_str(), m.as_str(), "modules"];
        if let Err(e) = in_chroot(sh, step, &root, &[], &argv) {
            return Err(compile_error(e, tree, kver));
        }
        let kos = find_kos(&copy.join(tree.name()))?;
        if kos.is_empty() {
            bail!("kernel_modules `{}`: make built no .ko file (is it an out-of-tree module directory?)", tree.written);
        }
        for ko in kos {
            let name = ko.file_name().expect("a file").to_owned();
            std::fs::copy(&ko, dest.join(&name))
                .with_context(|| format!("installing {}", ko.display()))?;
            installed.push(updates.join(&name).display().to_string());
        }
    }
    crate::output::remove_dir(&work)?;
    step.say("depmod");
    depmod(sh, step, &b.rootfs, kver)?;
    Ok(installed)
}

/// The compiler's first error, which module and where the whole log is.
fn compile_error(e: anyhow::Error, tree: &ModuleTree, kver: &str) -> anyhow::Error {
    let text = format!("{e:#}");
    match first_compiler_error(&text) {
        Some(first) => anyhow::anyhow!(
            "kernel_modules `{}` ({}) does not compile against the image's kernel {kver}:\n    {first}\n\
             The previous image is unchanged.\n{text}",
            tree.written,
            tree.dir.display()
        ),
        None => e.context(format!(
            "kernel_modules `{}`: building against {kver} failed; the previous image is unchanged",
            tree.written
        )),
    }
}

/// The installed version of `package` in the rootfs.
fn package_version(rootfs: &Path, package: &str) -> Result<String> {
    let status = rootfs.join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&status)
        .with_context(|| format!("reading {}", status.display()))?;
    installed_packages(&text)
        .into_iter()
        .find(|p| p.name == package)
        .map(|p| p.version)
        .with_context(|| format!("{package} is not installed in the image: kernel_modules need the image's kernel package"))
}

/// The amd64 build root for headers `kver` at `version` (cached by suite, mirror and both).
fn ensure_root(b: &Build, step: &Step, kver: &str, version: &str) -> Result<PathBuf> {
    let d = b.debian;
    let mut key = ContentKey::new("kernel-module-root-v1");
    key.add("suite", d.suite.as_bytes())
        .add("mirror", d.mirror.as_bytes())
        .add("kernel", kver.as_bytes())
        .add("version", version.as_bytes())
        .add("check_valid_until", &[b.check_valid_until as u8]);
    let dir = b
        .cache
        .join("toolchains")
        .join(format!("kmod-{}-{}", d.suite, &key.hex()[..16]));
    let headers = format!("usr/src/linux-headers-{kver}");
    let Some(_building) = crate::cache::claim(&dir, |d| d.join(&headers).is_dir())? else {
        return Ok(dir);
    };
    let partial = dir.with_extension("partial");
    for p in [&partial, &dir] {
        crate::output::remove_dir(p)?;
    }
    let apt_cache = b.cache.join("apt").join(format!("{}-amd64", d.suite));
    std::fs::create_dir_all(&apt_cache)
        .with_context(|| format!("creating {}", apt_cache.display()))?;
    let mut args = vec![
        "--mode=root".to_string(),
        "--variant=apt".into(),
        "--architectures=amd64,riscv64".into(),
        format!("--include=make,linux-headers-{kver}:riscv64={version}"),
    ];
    args.extend(shared_mmdebstrap_args(&apt_cache, b.check_valid_until));
    args.extend([
        d.suite.clone(),
        partial.display().to_string(),
        d.mirror.clone(),
    ]);
    let sh = &b.project.sh;
    step.run(cmd!(sh, "mmdebstrap {args...}")).with_context(|| {
        format!(
            "bootstrapping the kernel-module build root: linux-headers-{kver} {version} from {} {} \
             (should apt say it cannot find that version, the archive has moved past the image's kernel: \
             rebuild the image with --no-cache to take the current one)",
            d.mirror, d.suite
        )
    })?;
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("renaming {} to {}", partial.display(), dir.display()))?;
    Ok(dir)
}

fn find_kos(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(find_kos(&path)?);
        } else if path.extension().is_some_and(|e| e == "ko") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The image's own depmod (kmod acts on the name it is called by; the
/// build may have diverted `depmod` itself, so a fresh link is used).
fn depmod(sh: &Shell, step: &Step, rootfs: &Path, kver: &str) -> Result<()> {
    let script = r#"ln -sf /usr/bin/kmod /tmp/depmod && /tmp/depmod -a "$1"; rc=$?; rm -f /tmp/depmod; exit $rc"#;
    in_chroot(sh, step, rootfs, &[], &["sh", "-c", script, "depmod", kver])
        .context("depmod in the image after installing kernel_modules")
}
