//! The base layer: bootstrapped once (with the native helper built beside
//! it), then kept in the user cache as a tarball and unpacked by every later
//! build with the same base-layer key.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::progress::Step;

use super::bootstrap::{self, BootstrapPlan};
use super::context::Build;
use super::inputs::base_layer_key;
use super::native;

/// The cached layer for this build's base, and whether it is there to reuse.
pub fn cached_layer(b: &Build, no_cache: bool) -> anyhow::Result<(std::path::PathBuf, bool)> {
    let key = base_layer_key(b.debian, &b.inputs, b.check_valid_until)?;
    let layer = b
        .cache
        .join("layers")
        .join(format!("{}-{}.tar.zst", b.debian.suite, &key[..16]));
    let cached = layer.exists() && !no_cache;
    Ok((layer, cached))
}

/// Bootstraps the base layer into the rootfs, finishes what the hooks
/// deferred, and saves the layer to the cache.
pub fn bootstrap(b: &Build, step: &Step, layer: &Path) -> Result<()> {
    let sh = &b.project.sh;
    // The native helper bootstraps on the core the emulated dpkg leaves idle.
    let helper = {
        let (cache, spec, log) = (b.cache.clone(), b.native.clone(), b.native_log.clone());
        let verbose = b.project.verbose;
        std::thread::spawn(move || native::ensure(&Shell::new()?, &cache, &spec, &log, verbose))
    };
    let d = b.debian;
    let plan = BootstrapPlan {
        bootstrapper: d.bootstrapper,
        suite: d.suite.clone(),
        mirror: d.mirror.clone(),
        components: d.components.clone(),
        packages: b.inputs.base_packages.clone(),
        check_valid_until: b.check_valid_until,
        dpkg_excludes: b.project.root.join("debian/dpkg/path-exclude"),
        hooks_dir: b.project.root.join("debian/hooks"),
        apt_cache: b.cache.join("apt").join(format!("{}-riscv64", d.suite)),
        target: b.rootfs.clone(),
    };
    step.say(&format!(
        "{} {} packages + dependencies",
        d.bootstrapper,
        plan.packages.len()
    ));
    bootstrap::bootstrap(sh, step, &plan)?;
    let native = match helper.join() {
        Ok(Ok(dir)) => Some(dir),
        Ok(Err(e)) => {
            step.say(&format!(
                "native helper unavailable, finishing under emulation: {e:#}"
            ));
            None
        }
        Err(_) => None,
    };
    native::finish_deferred(sh, step, &b.rootfs, native.as_deref())?;
    save(sh, step, &b.rootfs, layer)
}

/// Unpacks the cached base layer into `rootfs`.
pub fn unpack(sh: &Shell, step: &Step, layer: &Path, rootfs: &Path) -> Result<()> {
    std::fs::create_dir_all(rootfs).with_context(|| format!("creating {}", rootfs.display()))?;
    step.run(cmd!(
        sh,
        "tar --numeric-owner --xattrs --xattrs-include=* -I zstd -xpf {layer} -C {rootfs}"
    ))
}

/// Stores the base layer in the user cache, written under a temporary name
/// and renamed, so a half-written layer is never mistaken for a good one.
fn save(sh: &Shell, step: &Step, rootfs: &Path, layer: &Path) -> Result<()> {
    step.say("saving base layer to the cache");
    let dir = layer.parent().context("layer path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // A name of this build's own: two checkouts saving one layer at once
    // each write their own file, and the last rename wins whole.
    let partial = tempfile::Builder::new()
        .prefix(".layer-")
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary layer file in {}", dir.display()))?;
    let tmp = partial.path().to_path_buf();
    step.run(cmd!(
        sh,
        "tar --numeric-owner --xattrs --xattrs-include=* -I 'zstd -T0 -1' -cf {tmp} -C {rootfs} ."
    ))?;
    partial
        .persist(layer)
        .with_context(|| format!("renaming {} to {}", tmp.display(), layer.display()))?;
    Ok(())
}
