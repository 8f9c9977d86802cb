//! The boot files: the image's own kernel copied out of /boot, and the
//! minimal initrd packed natively from its modules.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::progress::Step;

use super::context::Build;
use super::initrd;

pub const KERNEL_FILE: &str = "vmlinux";
pub const INITRD_FILE: &str = "initrd.img";

/// Copies the kernel and builds the initrd into the output directory;
/// returns the kernel version and the number of initrd modules.
pub fn kernel_and_initrd(b: &Build, step: &Step) -> Result<(String, usize)> {
    let version = kernel_version(&b.rootfs)?;
    step.say(&format!("kernel {version}"));
    std::fs::copy(
        b.rootfs.join("boot").join(format!("vmlinux-{version}")),
        b.out.join(KERNEL_FILE),
    )
    .with_context(|| format!("copying the kernel vmlinux-{version} from the rootfs"))?;
    let modules = initrd::build_minimal(
        &b.project.sh,
        step,
        &b.project.root,
        &b.rootfs,
        &version,
        &b.out.join(INITRD_FILE),
    )?;
    Ok((version, modules))
}

/// The single `vmlinux-VERSION` Debian installs in /boot.
fn kernel_version(rootfs: &Path) -> Result<String> {
    let boot = rootfs.join("boot");
    let mut versions: Vec<String> = std::fs::read_dir(&boot)
        .with_context(|| format!("listing {}", boot.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("vmlinux-")
                .map(str::to_string)
        })
        .collect();
    versions.sort();
    match versions.as_slice() {
        [] => bail!("no /boot/vmlinux-* in the rootfs: is the `kernel` package in acalsim.toml a riscv64 kernel image?"),
        [one] => Ok(one.clone()),
        many => bail!("several kernels in /boot ({}); list exactly one kernel package", many.join(", ")),
    }
}
