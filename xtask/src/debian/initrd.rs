//! Initrds and initramfs images, packed natively on the host.
//!
//! The minimal initrd holds busybox-static, `debian/initramfs/init` and the
//! modules named in `debian/initramfs/modules` plus their dependencies, taken
//! from the image's own kernel. Building it here instead of running
//! initramfs-tools under qemu-user takes a second instead of a minute, and the
//! result is a few MB instead of 40.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::progress::CommandLog;

/// A module's name as modprobe sees it: `kernel/fs/ext4/ext4.ko.xz` -> `ext4`,
/// with `-` and `_` treated alike.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// The image kernel's module index files (from `/usr/lib/modules/VERSION/`).
#[derive(Default)]
pub struct ModuleIndex<'a> {
    /// modules.dep: `path: dependency paths…`, the hard dependencies.
    pub dep: &'a str,
    /// modules.builtin: paths of modules compiled into the kernel.
    pub builtin: &'a str,
    /// modules.softdep: `softdep MODULE pre: NAMES… post: NAMES…`; ext4 needs
    /// its `pre: crypto-crc32c` (6.12) or it cannot mount.
    pub softdep: &'a str,
    /// modules.alias: `alias NAME MODULE`, to resolve softdep names.
    pub alias: &'a str,
}

struct Resolver {
    deps: Vec<(String, Vec<String>)>,
    builtin: BTreeSet<String>,
    /// module name -> names it wants loaded before it.
    soft_pre: Vec<(String, Vec<String>)>,
    /// exact alias -> module name.
    aliases: Vec<(String, String)>,
}

impl Resolver {
    fn new(index: &ModuleIndex) -> Resolver {
        let deps = index
            .dep
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(m, d)| {
                let ds = d.split_whitespace().map(str::to_string).collect();
                (m.trim().to_string(), ds)
            })
            .collect();
        let soft_pre = index
            .softdep
            .lines()
            .filter_map(|l| l.strip_prefix("softdep "))
            .filter_map(|rest| {
                let mut words = rest.split_whitespace();
                let module = words.next()?.replace('-', "_");
                let pre = words
                    .take_while(|w| *w != "post:")
                    .filter(|w| *w != "pre:")
                    .map(str::to_string)
                    .collect();
                Some((module, pre))
            })
            .collect();
        let aliases = index
            .alias
            .lines()
            .filter_map(|l| l.strip_prefix("alias "))
            .filter_map(|rest| rest.split_once(' '))
            .map(|(a, m)| (a.to_string(), m.trim().replace('-', "_")))
            .collect();
        Resolver {
            deps,
            builtin: index.builtin.lines().map(module_name).collect(),
            soft_pre,
            aliases,
        }
    }

    fn path_of(&self, name: &str) -> Option<&str> {
        let name = name.replace('-', "_");
        self.deps
            .iter()
            .find(|(p, _)| module_name(p) == name)
            .map(|(p, _)| p.as_str())
    }

    /// A softdep name (module or alias) as a loadable path; None when built in
    /// or unknown (modprobe ignores a missing soft dependency too).
    fn soft_path(&self, name: &str) -> Option<&str> {
        let module = self
            .aliases
            .iter()
            .find(|(a, _)| a == name)
            .map_or(name.replace('-', "_"), |(_, m)| m.clone());
        if self.builtin.contains(&module) {
            return None;
        }
        self.path_of(&module)
    }

    fn visit(&self, path: &str, order: &mut Vec<String>) {
        if order.iter().any(|p| p == path) {
            return;
        }
        let name = module_name(path);
        if let Some((_, pre)) = self.soft_pre.iter().find(|(m, _)| *m == name) {
            for soft in pre.iter().filter_map(|n| self.soft_path(n)) {
                self.visit(soft, order);
            }
        }
        // modules.dep lists the full transitive closure; load those first.
        if let Some((_, ds)) = self.deps.iter().find(|(p, _)| p == path) {
            for d in ds.iter().rev() {
                self.visit(d, order);
            }
        }
        if !order.iter().any(|p| p == path) {
            order.push(path.to_string());
        }
    }
}

/// Module paths to load, dependencies (hard, and softdep `pre:`) first, for the
/// `wanted` modules. Built-in modules need no loading; an unknown wanted module
/// is an error naming the kernel.
pub fn module_load_order(
    index: &ModuleIndex,
    wanted: &[String],
    kernel: &str,
) -> Result<Vec<String>> {
    let resolver = Resolver::new(index);
    let mut order = Vec::new();
    for name in wanted {
        let name = name.replace('-', "_");
        if resolver.builtin.contains(&name) {
            continue;
        }
        let Some(path) = resolver.path_of(&name) else {
            bail!("kernel {kernel} has no module `{name}` (debian/initramfs/modules); it is neither in modules.dep nor built in");
        };
        resolver.visit(path, &mut order);
    }
    Ok(order)
}

/// The module list file: names, one per line, `#` comments.
pub fn parse_module_list(text: &str) -> Vec<String> {
    super::bootstrap::parse_package_set(text)
}

/// Builds the minimal initrd for the kernel `version` in `rootfs` into `out` (gzip cpio).
pub fn build_minimal(
    sh: &Shell,
    log: &CommandLog,
    project_root: &Path,
    rootfs: &Path,
    version: &str,
    out: &Path,
) -> Result<usize> {
    let moddir = rootfs.join("usr/lib/modules").join(version);
    let read = |name: &str| {
        let p = moddir.join(name);
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    };
    let wanted_file = project_root.join("debian/initramfs/modules");
    let wanted = parse_module_list(
        &std::fs::read_to_string(&wanted_file)
            .with_context(|| format!("reading {}", wanted_file.display()))?,
    );
    let (dep, builtin) = (
        read("modules.dep")?,
        read("modules.builtin").unwrap_or_default(),
    );
    let (softdep, alias) = (
        read("modules.softdep").unwrap_or_default(),
        read("modules.alias").unwrap_or_default(),
    );
    let index = ModuleIndex {
        dep: &dep,
        builtin: &builtin,
        softdep: &softdep,
        alias: &alias,
    };
    let order = module_load_order(&index, &wanted, version)?;

    let staging = tempfile::Builder::new()
        .prefix(".initrd-")
        .tempdir_in(out.parent().unwrap_or(Path::new(".")))
        .context("creating initrd staging dir")?;
    let dir = staging.path();
    for sub in ["bin", "lib/modules", "dev", "proc", "sys", "newroot"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}/{sub}", dir.display()))?;
    }
    let busybox = ["usr/bin/busybox", "bin/busybox"].iter().map(|p| rootfs.join(p)).find(|p| p.exists())
        .context("busybox-static is not in the image: keep it in debian/packages/base.list, the minimal initrd needs it")?;
    copy(&busybox, &dir.join("bin/busybox"))?;
    copy(
        &project_root.join("debian/initramfs/init"),
        &dir.join("init"),
    )?;

    let mut load_order = String::new();
    for path in &order {
        let file = format!("{}.ko", module_name(path));
        let src = moddir.join(path);
        let dst = dir.join("lib/modules").join(&file);
        decompress_module(sh, log, &src, &dst)?;
        load_order.push_str(&file);
        load_order.push('\n');
    }
    std::fs::write(dir.join("lib/modules/load-order"), load_order)
        .context("writing initrd load-order")?;
    pack_cpio(sh, log, dir, out, Compression::Gzip)?;
    Ok(order.len())
}

/// busybox's insmod takes plain ELF objects, so compressed modules are expanded here.
fn decompress_module(sh: &Shell, log: &CommandLog, src: &Path, dst: &Path) -> Result<()> {
    let name = src.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        "xz -dc"
    } else if name.ends_with(".zst") {
        "zstd -dcq"
    } else if name.ends_with(".gz") {
        "gzip -dc"
    } else {
        return copy(src, dst);
    };
    let script = format!("{tool} \"$1\" > \"$2\"");
    log.run(cmd!(sh, "sh -ec {script} decompress {src} {dst}"))
}

fn copy(src: &Path, dst: &Path) -> Result<()> {
    std::fs::copy(src, dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    Ok(())
}

#[derive(Clone, Copy)]
pub enum Compression {
    Gzip,
    Zstd,
}

/// Packs `dir` as a newc cpio (what the kernel unpacks), owned by root, in a
/// stable order so identical trees give identical archives.
pub fn pack_cpio(
    sh: &Shell,
    log: &CommandLog,
    dir: &Path,
    out: &Path,
    compression: Compression,
) -> Result<()> {
    let compressor = match compression {
        Compression::Gzip => "gzip -9n",
        Compression::Zstd => "zstd -T0 -q",
    };
    let script = format!(
        "cd \"$1\" && find . -xdev -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --owner=0:0 --quiet | {compressor} > \"$2\""
    );
    log.run(cmd!(sh, "sh -ec {script} pack-cpio {dir} {out}"))
        .with_context(|| format!("packing {} into {}", dir.display(), out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz kernel/lib/crc16.ko.xz\n\
kernel/fs/jbd2/jbd2.ko.xz:\n\
kernel/fs/mbcache.ko.xz:\n\
kernel/lib/crc16.ko.xz:\n\
kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz\n\
kernel/net/9p/9pnet.ko.xz:\n\
kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\n\
kernel/fs/netfs/netfs.ko.xz:\n";

    #[test]
    fn dependencies_load_first_and_once() {
        let wanted = ["virtio_blk", "ext4", "9pnet_virtio", "9p"].map(String::from);
        let index = ModuleIndex {
            dep: DEP,
            builtin: "kernel/drivers/block/virtio_blk.ko\n",
            ..Default::default()
        };
        let order = module_load_order(&index, &wanted, "7.2").unwrap();
        let names: Vec<_> = order.iter().map(|p| module_name(p)).collect();
        assert_eq!(
            names,
            [
                "crc16",
                "mbcache",
                "jbd2",
                "ext4",
                "9pnet",
                "9pnet_virtio",
                "netfs",
                "9p"
            ]
        );
    }

    /// Debian 6.12 (trixie): ext4 cannot mount without crc32c, which only its
    /// softdep names, through an alias; a built-in or unknown softdep is skipped.
    #[test]
    fn softdep_pre_modules_load_first_through_aliases() {
        let dep = format!("{DEP}kernel/crypto/crc32c_generic.ko.xz:\n");
        let index = ModuleIndex {
            dep: &dep,
            builtin: "kernel/lib/crc32.ko\n",
            softdep: "# comment\nsoftdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c crc32 nosuch post: crc16\n",
            alias: "alias crypto-crc32c crc32c_generic\nalias crc32c crc32c_generic\n",
        };
        let order = module_load_order(&index, &["ext4".into()], "6.12").unwrap();
        let names: Vec<_> = order.iter().map(|p| module_name(p)).collect();
        assert_eq!(
            names,
            ["crc32c_generic", "crc16", "mbcache", "jbd2", "ext4"]
        );
    }

    #[test]
    fn unknown_module_names_the_kernel() {
        let index = ModuleIndex {
            dep: DEP,
            ..Default::default()
        };
        let e = module_load_order(&index, &["nosuch".into()], "7.2.13-riscv64")
            .unwrap_err()
            .to_string();
        assert!(e.contains("7.2.13-riscv64") && e.contains("nosuch"), "{e}");
    }

    #[test]
    fn module_names_normalise_dashes_and_suffixes() {
        assert_eq!(
            module_name("kernel/drivers/virtio/virtio-mmio.ko.zst"),
            "virtio_mmio"
        );
        assert_eq!(module_name("ext4.ko"), "ext4");
    }
}
