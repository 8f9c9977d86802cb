//! What QEMU runs, as plain data, and [`plan`], the pure function that
//! resolves an image's manifest and the [`MachineOptions`] into a [`Machine`].
//!
//! Nothing here touches the disk, so every option is unit-tested here; `argv.rs`
//! turns a [`Machine`] into QEMU's arguments.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::manifest::{Artifact, Manifest};

/// Where the root filesystem comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ext4 raw or qcow2 on virtio-blk, behind the minimal initrd.
    Disk,
    /// The whole rootfs as a compressed cpio passed with `-initrd`.
    Initramfs,
}

/// Which init runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// The image's own init (systemd on Debian): what an interactive run gets.
    Full,
    /// `acalsim-init` as PID 1: mounts, runs the job, powers off (seconds sooner).
    Fast,
}

/// Where the serial console goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Console {
    /// The terminal, multiplexed with the monitor (Ctrl-A X quits, Ctrl-A C monitor).
    Terminal,
    /// A unix socket the host listens on (headless runs log it).
    Socket(PathBuf),
}

/// A host directory shared over 9p; the guest mounts tag `acalsim_NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub name: String,
    pub host: PathBuf,
    pub readonly: bool,
}

/// A TCP port forward from 127.0.0.1:host on the host to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub guest: u16,
}

impl std::str::FromStr for Forward {
    type Err = String;
    fn from_str(s: &str) -> Result<Forward, String> {
        let bad = || format!("`{s}` is not HOST:GUEST (two TCP ports, e.g. 8080:80)");
        let (h, g) = s.split_once(':').ok_or_else(bad)?;
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(bad);
        Ok(Forward {
            host: port(h)?,
            guest: port(g)?,
        })
    }
}

/// A virtio-serial port named NAME in the guest, connected to a host unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub socket: PathBuf,
}

/// Everything one QEMU invocation needs, resolved to paths and numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub qemu: PathBuf,
    pub smp: u32,
    pub memory_mib: u64,
    pub kernel: PathBuf,
    /// The minimal initrd (disk mode, if the image has one) or the rootfs
    /// cpio (initramfs mode).
    pub initrd: Option<PathBuf>,
    /// `-bios`: the image's firmware, or QEMU's bundled OpenSBI.
    pub firmware: Option<PathBuf>,
    pub disk: Option<Disk>,
    pub cmdline: String,
    pub console: Console,
    pub shares: Vec<Share>,
    pub forwards: Vec<Forward>,
    pub ports: Vec<Port>,
    pub sst_socket: Option<PathBuf>,
    pub drives: Vec<PathBuf>,
    /// QEMU's monitor (QMP) as a unix socket it listens on: a warm run
    /// saves and restores the VM through it.
    pub qmp: Option<PathBuf>,
    /// Start paused, waiting for `migrate-incoming` (a warm restore).
    pub incoming: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    /// QEMU's format name: `raw` or `qcow2`.
    pub format: String,
    /// Writes go to a temporary overlay QEMU deletes itself; the image is untouched.
    pub snapshot: bool,
}

/// The machine a run asks for, with the host side already in place (shares,
/// sockets, forwards): what [`plan`] needs besides the image's manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineOptions {
    pub qemu: PathBuf,
    pub smp: Option<u32>,
    pub memory_mib: Option<u64>,
    /// `None`: disk if the image has one, else initramfs.
    pub mode: Option<Mode>,
    pub boot: Boot,
    pub persist: bool,
    /// Headless: a job is waiting in the `job` share.
    pub job: bool,
    /// Configure the guest network (the device is always there).
    pub net: bool,
    pub ssh: bool,
    pub console: Console,
    pub shares: Vec<Share>,
    pub forwards: Vec<Forward>,
    pub ports: Vec<Port>,
    pub sst_socket: Option<PathBuf>,
    /// Extra kernel arguments, last so they win.
    pub append: Vec<String>,
    /// Extra raw disks, written in place: /dev/vdb, /dev/vdc, … in the guest.
    pub drives: Vec<PathBuf>,
}

/// Where the fast boot's PID 1 lives in every image.
pub const FAST_INIT: &str = "/usr/lib/acalsim/acalsim-init";

/// The machine for `image_dir`'s manifest and the run options.
pub fn plan(m: &Manifest, image_dir: &Path, o: &MachineOptions) -> Result<Machine> {
    let mode = match o.mode {
        Some(mode) => mode,
        None if disk_artifact(m).is_some() => Mode::Disk,
        None => Mode::Initramfs,
    };
    let root = root_filesystem(m, image_dir, mode, o.persist)?;
    Ok(Machine {
        qemu: o.qemu.clone(),
        smp: o.smp.unwrap_or(m.run.smp),
        memory_mib: o.memory_mib.unwrap_or(m.run.memory_mib),
        kernel: image_dir.join(&m.kernel.path),
        initrd: root.initrd,
        firmware: m.firmware.as_ref().map(|f| image_dir.join(&f.path)),
        disk: root.disk,
        cmdline: kernel_cmdline(root.base_cmdline, mode, o),
        console: o.console.clone(),
        shares: o.shares.clone(),
        forwards: o.forwards.clone(),
        ports: o.ports.clone(),
        sst_socket: o.sst_socket.clone(),
        drives: o.drives.clone(),
        qmp: None,
        incoming: false,
    })
}

/// What a boot mode takes from the image: the initrd, the root disk and the
/// manifest's kernel command line for that mode.
struct RootFilesystem<'m> {
    initrd: Option<PathBuf>,
    disk: Option<Disk>,
    base_cmdline: &'m str,
}

/// The image's artifacts for `mode`, or why the image cannot boot that way.
fn root_filesystem<'m>(
    m: &'m Manifest,
    image_dir: &Path,
    mode: Mode,
    persist: bool,
) -> Result<RootFilesystem<'m>> {
    let (initrd, disk, base_cmdline) = match mode {
        Mode::Disk => {
            let Some((format, artifact)) = disk_artifact(m) else {
                bail!(
                    "image `{}` has no disk image (formats: {}); boot it with --initramfs",
                    m.name,
                    formats(m)
                );
            };
            let disk = Disk {
                path: image_dir.join(&artifact.path),
                format: format.to_string(),
                snapshot: !persist,
            };
            (
                m.initrd.as_ref().map(|i| image_dir.join(&i.path)),
                Some(disk),
                m.cmdline.get("disk"),
            )
        }
        Mode::Initramfs => {
            let Some(cpio) = m.rootfs.get("initramfs") else {
                bail!(
                    "image `{}` was built without format \"initramfs\" (formats: {}); add it to the image's `formats` in the config and rebuild",
                    m.name,
                    formats(m)
                );
            };
            if persist {
                bail!("--persist needs a disk: an initramfs lives in RAM and is gone at power-off");
            }
            (
                Some(image_dir.join(&cpio.path)),
                None,
                m.cmdline.get("initramfs"),
            )
        }
    };
    let Some(base_cmdline) = base_cmdline else {
        bail!(
            "manifest of `{}` has no kernel command line for {mode:?} mode; rebuild the image",
            m.name
        );
    };
    Ok(RootFilesystem {
        initrd,
        disk,
        base_cmdline,
    })
}

/// The image's command line for the mode, then the flags the guest half of
/// `run` reads (`acalsim.*`), the fast boot's init, and `append` last.
fn kernel_cmdline(base: &str, mode: Mode, o: &MachineOptions) -> String {
    let mut cmdline = base.to_string();
    // The fast boot's rdinit= replaces the image's own.
    if o.boot == Boot::Fast && mode == Mode::Initramfs {
        cmdline = cmdline
            .split(' ')
            .filter(|w| !w.starts_with("rdinit="))
            .collect::<Vec<_>>()
            .join(" ");
    }
    let mut flag = |word: &str| {
        cmdline.push(' ');
        cmdline.push_str(word);
    };
    flag("acalsim.run");
    if o.job {
        flag("acalsim.job");
    }
    if o.net || o.ssh {
        flag("acalsim.net");
    }
    if o.ssh {
        flag("acalsim.ssh");
    }
    match (o.boot, mode) {
        (Boot::Fast, Mode::Disk) => flag(&format!("init={FAST_INIT}")),
        (Boot::Fast, Mode::Initramfs) => flag(&format!("rdinit={FAST_INIT}")),
        (Boot::Full, _) if o.job => flag("systemd.unit=acalsim-job.target"),
        (Boot::Full, _) => {}
    }
    for word in &o.append {
        flag(word);
    }
    cmdline
}

/// Raw ext4 boots fastest; qcow2 when that is all there is.
fn disk_artifact(m: &Manifest) -> Option<(&'static str, &Artifact)> {
    [("ext4", "raw"), ("qcow2", "qcow2")]
        .into_iter()
        .find_map(|(key, format)| m.rootfs.get(key).map(|a| (format, a)))
}

fn formats(m: &Manifest) -> String {
    m.rootfs.keys().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{artifact, manifest, options};
    use super::*;

    fn planned(formats: &[&str], o: &MachineOptions) -> Machine {
        plan(&manifest(formats), Path::new("/img"), o).unwrap()
    }

    #[test]
    fn interactive_disk_boot_plans_a_snapshot_of_the_raw_image() {
        let m = planned(&["ext4", "qcow2"], &options());
        assert_eq!((m.smp, m.memory_mib), (2, 4096));
        assert_eq!(m.kernel, Path::new("/img/vmlinux"));
        assert_eq!(m.initrd.as_deref(), Some(Path::new("/img/initrd.img")));
        assert_eq!(m.firmware, None);
        assert_eq!(
            m.disk,
            Some(Disk {
                path: "/img/rootfs.ext4".into(),
                format: "raw".into(),
                snapshot: true,
            })
        );
        assert_eq!(
            m.cmdline,
            "root=/dev/vda rw console=ttyS0 panic=-1 acalsim.run"
        );
    }

    #[test]
    fn persist_writes_the_image_and_qcow2_is_used_when_alone() {
        let o = MachineOptions {
            persist: true,
            ..options()
        };
        assert_eq!(
            planned(&["qcow2"], &o).disk,
            Some(Disk {
                path: "/img/rootfs.qcow2".into(),
                format: "qcow2".into(),
                snapshot: false,
            })
        );
    }

    #[test]
    fn smp_and_memory_flags_override_the_image_defaults() {
        let o = MachineOptions {
            smp: Some(1),
            memory_mib: Some(1536),
            ..options()
        };
        let m = planned(&["ext4"], &o);
        assert_eq!((m.smp, m.memory_mib), (1, 1536));
    }

    #[test]
    fn initramfs_mode_passes_the_rootfs_as_initrd_without_a_disk() {
        let o = MachineOptions {
            mode: Some(Mode::Initramfs),
            ..options()
        };
        let m = planned(&["ext4", "initramfs"], &o);
        assert_eq!(m.initrd.as_deref(), Some(Path::new("/img/rootfs.cpio.zst")));
        assert_eq!(m.disk, None);
        assert_eq!(m.cmdline, "rdinit=/init console=ttyS0 panic=-1 acalsim.run");
        // An image with only an initramfs boots that way by default.
        let m = planned(&["initramfs"], &options());
        assert_eq!(m.initrd.as_deref(), Some(Path::new("/img/rootfs.cpio.zst")));
    }

    #[test]
    fn impossible_modes_are_explained() {
        let initramfs = MachineOptions {
            mode: Some(Mode::Initramfs),
            ..options()
        };
        let disk = MachineOptions {
            mode: Some(Mode::Disk),
            ..options()
        };
        let persist = MachineOptions {
            persist: true,
            ..options()
        };
        for (formats, o, expected) in [
            (
                &["ext4"],
                initramfs,
                &["without format \"initramfs\"", "formats: ext4"][..],
            ),
            (&["initramfs"], disk, &["no disk image", "--initramfs"]),
            (&["initramfs"], persist, &["--persist needs a disk"]),
        ] {
            let e = plan(&manifest(formats), Path::new("/img"), &o)
                .unwrap_err()
                .to_string();
            assert!(expected.iter().all(|x| e.contains(x)), "{e}");
        }
    }

    #[test]
    fn fast_job_boot_replaces_init_and_flags_the_job() {
        let o = MachineOptions {
            boot: Boot::Fast,
            job: true,
            ..options()
        };
        assert_eq!(
            planned(&["ext4", "initramfs"], &o).cmdline,
            "root=/dev/vda rw console=ttyS0 panic=-1 acalsim.run acalsim.job init=/usr/lib/acalsim/acalsim-init"
        );
        let o = MachineOptions {
            mode: Some(Mode::Initramfs),
            ..o
        };
        assert_eq!(
            planned(&["ext4", "initramfs"], &o).cmdline,
            "console=ttyS0 panic=-1 acalsim.run acalsim.job rdinit=/usr/lib/acalsim/acalsim-init"
        );
    }

    #[test]
    fn buildroot_style_image_boots_its_firmware_without_an_initrd() {
        let mut manifest = manifest(&["ext4", "initramfs"]);
        manifest.initrd = None;
        manifest.firmware = Some(artifact("fw_jump.elf"));
        manifest
            .cmdline
            .insert("initramfs".into(), "console=ttyS0 panic=-1".into());
        let m = plan(&manifest, Path::new("/img"), &options()).unwrap();
        assert_eq!(m.firmware.as_deref(), Some(Path::new("/img/fw_jump.elf")));
        assert_eq!(m.initrd, None);
        let o = MachineOptions {
            mode: Some(Mode::Initramfs),
            boot: Boot::Fast,
            job: true,
            ..options()
        };
        let m = plan(&manifest, Path::new("/img"), &o).unwrap();
        assert_eq!(
            m.cmdline,
            "console=ttyS0 panic=-1 acalsim.run acalsim.job rdinit=/usr/lib/acalsim/acalsim-init"
        );
    }

    #[test]
    fn appended_kernel_arguments_come_last() {
        let o = MachineOptions {
            boot: Boot::Fast,
            append: vec!["init=/bin/sh".into(), "quiet".into()],
            ..options()
        };
        let m = planned(&["ext4"], &o);
        assert!(
            m.cmdline
                .ends_with("init=/usr/lib/acalsim/acalsim-init init=/bin/sh quiet"),
            "{}",
            m.cmdline
        );
    }

    #[test]
    fn full_job_boot_selects_the_job_target_and_ssh_implies_network() {
        let o = MachineOptions {
            job: true,
            ssh: true,
            ..options()
        };
        assert_eq!(
            planned(&["ext4"], &o).cmdline,
            "root=/dev/vda rw console=ttyS0 panic=-1 acalsim.run acalsim.job acalsim.net acalsim.ssh systemd.unit=acalsim-job.target"
        );
    }

    #[test]
    fn forward_parsing_names_the_bad_value() {
        for bad in ["8080", "a:80", "0:22", "70000:22", "1:2:3"] {
            let e = bad.parse::<Forward>().unwrap_err();
            assert!(e.contains(bad) && e.contains("HOST:GUEST"), "{e}");
        }
    }
}
