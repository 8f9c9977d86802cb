//! Test fixtures the machine and argv tests share: the sample manifest with
//! chosen rootfs formats, and the options of an interactive run that asks
//! for nothing.

use super::machine::{Boot, Console, MachineOptions};
use crate::manifest::{Artifact, Manifest};

pub fn artifact(path: &str) -> Artifact {
    Artifact {
        path: path.into(),
        sha256: "0".repeat(64),
        size: 1,
    }
}

/// The sample manifest with exactly these rootfs formats.
pub fn manifest(formats: &[&str]) -> Manifest {
    let files = [
        ("ext4", "rootfs.ext4"),
        ("qcow2", "rootfs.qcow2"),
        ("initramfs", "rootfs.cpio.zst"),
    ];
    Manifest {
        rootfs: files
            .iter()
            .filter(|(f, _)| formats.contains(f))
            .map(|(f, p)| (f.to_string(), artifact(p)))
            .collect(),
        ..crate::manifest::sample()
    }
}

/// An interactive run with nothing asked for.
pub fn options() -> MachineOptions {
    MachineOptions {
        qemu: "qemu-system-riscv64".into(),
        smp: None,
        memory_mib: None,
        mode: None,
        boot: Boot::Full,
        persist: false,
        job: false,
        net: false,
        ssh: false,
        console: Console::Terminal,
        shares: vec![],
        forwards: vec![],
        ports: vec![],
        sst_socket: None,
        append: vec![],
        drives: vec![],
    }
}
