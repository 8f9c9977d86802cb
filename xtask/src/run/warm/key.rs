//! A snapshot's key, as a pure function of what the restored guest is: the
//! image's files, the QEMU that saves and restores it, and the machine's
//! shape (CPUs, memory, kernel command line, devices in order). Host-side
//! paths (sockets, share directories, forwarded ports) are left out: QEMU
//! does not migrate them, so a snapshot serves every run that differs only
//! there.

use sha2::{Digest, Sha256};

use crate::manifest::Manifest;
use crate::run::machine::Machine;

/// Bumped when the guest protocol or the layout of a snapshot changes.
const SCHEMA: u32 = 1;

/// The text the key hashes, one line per input.
pub fn key_input(machine: &Machine, image: &Manifest, root_stamp: &str, qemu: &str) -> String {
    let mut lines = vec![
        format!("acalsim warm snapshot v{SCHEMA}"),
        format!("qemu {qemu}"),
    ];
    lines.push(format!("image {}", image.name));
    lines.push(format!("kernel {}", image.kernel.sha256));
    for (what, artifact) in [("initrd", &image.initrd), ("firmware", &image.firmware)] {
        if let Some(a) = artifact {
            lines.push(format!("{what} {}", a.sha256));
        }
    }
    for (format, artifact) in &image.rootfs {
        lines.push(format!("rootfs {format} {}", artifact.sha256));
    }
    match &machine.disk {
        Some(disk) => lines.push(format!("root disk {} {root_stamp}", disk.format)),
        None => lines.push("root initramfs".into()),
    }
    lines.push(format!(
        "smp {} memory {}M",
        machine.smp, machine.memory_mib
    ));
    lines.push(format!("cmdline {}", machine.cmdline));
    for share in &machine.shares {
        let mode = if share.readonly { "ro" } else { "rw" };
        lines.push(format!("share {} {mode}", share.name));
    }
    for port in &machine.ports {
        lines.push(format!("port {}", port.name));
    }
    lines.push(format!("sst-device {}", machine.sst_socket.is_some()));
    lines.push(format!("drives {}", machine.drives.len()));
    lines.join("\n") + "\n"
}

/// sha256 of [`key_input`], as hex.
pub fn key(input: &str) -> String {
    format!("{:x}", Sha256::digest(input.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::run::fixtures::{manifest, options};
    use crate::run::machine::{plan, Share};

    fn machine() -> Machine {
        plan(&manifest(&["ext4"]), Path::new("/img"), &options()).unwrap()
    }

    fn key_of(m: &Machine, image: &Manifest) -> String {
        key(&key_input(
            m,
            image,
            "size 1 mtime 2 inode 3",
            "QEMU 10.2.2 sha256 ab",
        ))
    }

    #[test]
    fn host_paths_leave_the_key_alone_and_the_guests_shape_changes_it() {
        let image = manifest(&["ext4"]);
        let base = key_of(&machine(), &image);
        let mut moved = machine();
        moved.shares.push(Share {
            name: "share".into(),
            host: "/a".into(),
            readonly: false,
        });
        let mut elsewhere = moved.clone();
        elsewhere.shares[0].host = "/somewhere/else".into();
        elsewhere.qmp = Some("/run/q.sock".into());
        assert_eq!(key_of(&moved, &image), key_of(&elsewhere, &image));
        assert_ne!(key_of(&moved, &image), base, "a share more");

        let changed = |f: &dyn Fn(&mut Machine)| {
            let mut m = machine();
            f(&mut m);
            key_of(&m, &image)
        };
        assert_ne!(changed(&|m| m.smp = 4), base);
        assert_ne!(changed(&|m| m.memory_mib = 2048), base);
        assert_ne!(
            changed(&|m| m.cmdline.push_str(" acalsim.warmup=torch")),
            base
        );
        assert_ne!(changed(&|m| m.sst_socket = Some("/s".into())), base);
        assert_ne!(changed(&|m| m.disk = None), base);
    }

    #[test]
    fn a_rebuilt_image_a_rewritten_disk_or_another_qemu_makes_a_new_key() {
        let m = machine();
        let image = manifest(&["ext4"]);
        let base = key_of(&m, &image);
        let mut rebuilt = image.clone();
        rebuilt.rootfs.get_mut("ext4").unwrap().sha256 = "new".into();
        assert_ne!(key_of(&m, &rebuilt), base);
        let mut kernel = image.clone();
        kernel.kernel.sha256 = "new".into();
        assert_ne!(key_of(&m, &kernel), base);
        let stamp = key(&key_input(
            &m,
            &image,
            "size 1 mtime 9 inode 3",
            "QEMU 10.2.2 sha256 ab",
        ));
        assert_ne!(stamp, base);
        let qemu = key(&key_input(
            &m,
            &image,
            "size 1 mtime 2 inode 3",
            "QEMU 10.2.2 sha256 cd",
        ));
        assert_ne!(qemu, base);
        assert_eq!(base.len(), 64);
    }
}
