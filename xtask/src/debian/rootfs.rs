//! The root filesystem images: ext4 (sized from the content unless the
//! config fixes it), qcow2 converted from it, and the whole rootfs as an
//! initramfs cpio.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::config::{Format, Image};
use crate::progress::{human_bytes, CommandLog, Step};

use super::initrd::{self, Compression};

/// What was written: (format, file) pairs and the bytes in use inside the ext4.
pub struct RootfsImages {
    pub files: Vec<(String, String)>,
    pub used_bytes: u64,
}

/// Size for `size = "auto"`: the content plus a quarter and 256 MiB of room, in 64 MiB steps.
pub fn auto_size(content_bytes: u64) -> u64 {
    let want = content_bytes + content_bytes / 4 + (256 << 20);
    want.div_ceil(64 << 20) * (64 << 20)
}

/// Writes the formats the image asks for from `rootfs` into `out`.
pub fn write_images(
    sh: &Shell,
    step: &Step,
    image: &Image,
    rootfs: &Path,
    out: &Path,
) -> Result<RootfsImages> {
    let content = step
        .read(cmd!(sh, "du -sx --block-size=1 {rootfs}"))
        .context("measuring the rootfs with du")?;
    let content: u64 = content
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("parsing du output")?;
    let size = match image.size {
        Some(size) if size < content + content / 10 => bail!(
            "image `{}`: size = {} cannot hold the {} root filesystem; raise `size` in acalsim.toml or use \"auto\"",
            image.name, human_bytes(size), human_bytes(content)
        ),
        Some(size) => size,
        None => auto_size(content),
    };
    let mut files = Vec::new();
    let mut used = 0;
    if image.has_format(Format::Ext4) {
        let ext4 = out.join("rootfs.ext4");
        step.say(&format!(
            "mkfs.ext4 -d ({} in a {} filesystem)",
            human_bytes(content),
            human_bytes(size)
        ));
        let size_k = format!("{}k", size / 1024);
        step.run(cmd!(
            sh,
            "mkfs.ext4 -q -F -L acalsim-root -E root_owner=0:0 -d {rootfs} {ext4} {size_k}"
        ))?;
        used = ext4_used_bytes(sh, step, &ext4)?;
        files.push(("ext4".to_string(), "rootfs.ext4".to_string()));
    }
    if image.has_format(Format::Qcow2) {
        step.say("qemu-img convert to qcow2 (zstd)");
        let (ext4, qcow2) = (out.join("rootfs.ext4"), out.join("rootfs.qcow2"));
        step.run(cmd!(
            sh,
            "qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd {ext4} {qcow2}"
        ))?;
        files.push(("qcow2".to_string(), "rootfs.qcow2".to_string()));
    }
    if image.has_format(Format::Initramfs) {
        step.say("packing the rootfs as an initramfs cpio (zstd)");
        // The kernel runs /init from an initramfs; systemd is the init here too.
        let init = rootfs.join("init");
        let _ = std::fs::remove_file(&init);
        std::os::unix::fs::symlink("/sbin/init", &init).context("linking /init to /sbin/init")?;
        initrd::pack_cpio(
            sh,
            step,
            rootfs,
            &out.join("rootfs.cpio.zst"),
            Compression::Zstd,
        )?;
        files.push(("initramfs".to_string(), "rootfs.cpio.zst".to_string()));
    }
    Ok(RootfsImages {
        files,
        used_bytes: used,
    })
}

/// Blocks in use times block size, from the superblock.
fn ext4_used_bytes(sh: &Shell, log: &CommandLog, ext4: &Path) -> Result<u64> {
    let header = log
        .read(cmd!(sh, "dumpe2fs -h {ext4}"))
        .with_context(|| format!("dumpe2fs -h {}", ext4.display()))?;
    let field = |name: &str| -> Option<u64> {
        header.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.trim().trim_start_matches(':').trim().parse().ok())
        })
    };
    let (count, free, block) = (
        field("Block count"),
        field("Free blocks"),
        field("Block size"),
    );
    match (count, free, block) {
        (Some(c), Some(f), Some(b)) => Ok((c - f) * b),
        _ => bail!("unexpected dumpe2fs output for {}", ext4.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_size_leaves_room_in_64m_steps() {
        assert_eq!(auto_size(0), 256 << 20);
        let s = auto_size(1200 << 20);
        assert_eq!(s % (64 << 20), 0);
        assert!(s >= (1200 << 20) + (300 << 20) + (256 << 20));
    }
}
