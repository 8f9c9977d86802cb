//! The QEMU command line, as a pure function of plain data.
//!
//! [`plan`] turns an image's manifest and the `run` options into a [`Machine`];
//! [`argv`] turns a machine into QEMU's arguments. Neither touches the disk,
//! so every option is unit-tested here and `run.rs` only supervises.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::manifest::Manifest;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    /// QEMU's format name: `raw` or `qcow2`.
    pub format: String,
    /// Writes go to a temporary overlay QEMU deletes itself; the image is untouched.
    pub snapshot: bool,
}

/// What the user asked of `run`, minus what only the supervisor needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
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
pub fn plan(m: &Manifest, image_dir: &Path, o: &Options) -> Result<Machine> {
    let mode = match o.mode {
        Some(mode) => mode,
        None if disk_artifact(m).is_some() => Mode::Disk,
        None => Mode::Initramfs,
    };
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
                snapshot: !o.persist,
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
            if o.persist {
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
    let mut cmdline = base_cmdline.clone();
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
        cmdline.push(' ');
        cmdline.push_str(word);
    }
    Ok(Machine {
        qemu: o.qemu.clone(),
        smp: o.smp.unwrap_or(m.run.smp),
        memory_mib: o.memory_mib.unwrap_or(m.run.memory_mib),
        kernel: image_dir.join(&m.kernel.path),
        initrd,
        firmware: m.firmware.as_ref().map(|f| image_dir.join(&f.path)),
        disk,
        cmdline,
        console: o.console.clone(),
        shares: o.shares.clone(),
        forwards: o.forwards.clone(),
        ports: o.ports.clone(),
        sst_socket: o.sst_socket.clone(),
        drives: o.drives.clone(),
    })
}

/// Raw ext4 boots fastest; qcow2 when that is all there is.
fn disk_artifact(m: &Manifest) -> Option<(&'static str, &crate::manifest::Artifact)> {
    [("ext4", "raw"), ("qcow2", "qcow2")]
        .into_iter()
        .find_map(|(key, format)| m.rootfs.get(key).map(|a| (format, a)))
}

fn formats(m: &Manifest) -> String {
    m.rootfs.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// QEMU's arguments (without the binary) for `m`.
pub fn argv(m: &Machine) -> Vec<OsString> {
    let mut a = Args::default();
    a.add(["-machine", "virt", "-bios"]);
    match &m.firmware {
        Some(firmware) => a.path(firmware),
        None => a.add(["default"]),
    }
    a.add(["-no-reboot"]);
    a.add([
        "-smp".to_string(),
        m.smp.to_string(),
        "-m".to_string(),
        format!("{}M", m.memory_mib),
    ]);
    a.add(["-kernel"]);
    a.path(&m.kernel);
    if let Some(initrd) = &m.initrd {
        a.add(["-initrd"]);
        a.path(initrd);
    }
    a.add(["-append", &m.cmdline]);
    match &m.console {
        Console::Terminal => a.add(["-nographic"]),
        Console::Socket(path) => {
            a.add(["-display", "none", "-monitor", "none", "-chardev"]);
            a.opt("socket,id=console,path=", path, "");
            a.add(["-serial", "chardev:console"]);
        }
    }
    if let Some(disk) = &m.disk {
        a.add(["-drive"]);
        let snapshot = if disk.snapshot { ",snapshot=on" } else { "" };
        a.opt(
            "file=",
            &disk.path,
            &format!(",format={},if=none,id=root{snapshot}", disk.format),
        );
        a.add(["-device", "virtio-blk-device,drive=root"]);
    }
    // On PCI: the root stays the first virtio-mmio disk (vda, which the
    // kernel command line names) and these follow as vdb, vdc, …
    for (i, drive) in m.drives.iter().enumerate() {
        a.add(["-drive"]);
        a.opt("file=", drive, &format!(",format=raw,if=none,id=drive{i}"));
        a.add([
            "-device".to_string(),
            format!("virtio-blk-pci,drive=drive{i}"),
        ]);
    }
    // User networking; forwards listen on loopback only, never on 0.0.0.0.
    let mut netdev = "user,id=net".to_string();
    for f in &m.forwards {
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{}-:{}", f.host, f.guest));
    }
    a.add([
        "-netdev",
        &netdev,
        "-device",
        "virtio-net-device,netdev=net",
    ]);
    a.add(["-device", "virtio-rng-device"]);
    // 9p and the serial ports go on PCI: virt has only eight virtio-mmio slots.
    for s in &m.shares {
        a.add(["-fsdev"]);
        let ro = if s.readonly { ",readonly=on" } else { "" };
        a.opt(
            &format!("local,id=fs_{},path=", s.name),
            &s.host,
            &format!(",security_model=none{ro}"),
        );
        a.add([
            "-device".to_string(),
            format!("virtio-9p-pci,fsdev=fs_{0},mount_tag=acalsim_{0}", s.name),
        ]);
    }
    if !m.ports.is_empty() {
        a.add(["-device", "virtio-serial-pci,id=vser"]);
        for (i, p) in m.ports.iter().enumerate() {
            a.add(["-chardev"]);
            a.opt(&format!("socket,id=port{i},path="), &p.socket, "");
            a.add([
                "-device".to_string(),
                format!("virtserialport,bus=vser.0,chardev=port{i},name={}", p.name),
            ]);
        }
    }
    if let Some(socket) = &m.sst_socket {
        a.add(["-device"]);
        a.opt("virtio-sst-device,socket=", socket, "");
    }
    a.0
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn add<S: AsRef<str>>(&mut self, words: impl IntoIterator<Item = S>) {
        self.0
            .extend(words.into_iter().map(|w| OsString::from(w.as_ref())));
    }
    fn path(&mut self, p: &Path) {
        self.0.push(p.as_os_str().to_owned());
    }
    /// `prefix` + path + `suffix` as one word. QEMU splits options at commas,
    /// so a comma in the path is doubled.
    fn opt(&mut self, prefix: &str, p: &Path, suffix: &str) {
        let mut w = OsString::from(prefix);
        w.push(p.as_os_str().to_string_lossy().replace(',', ",,"));
        w.push(suffix);
        self.0.push(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Artifact;

    fn artifact(path: &str) -> Artifact {
        Artifact {
            path: path.into(),
            sha256: "0".repeat(64),
            size: 1,
        }
    }

    fn manifest(formats: &[&str]) -> Manifest {
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

    fn options() -> Options {
        Options {
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

    fn words(m: &Machine) -> Vec<String> {
        argv(m)
            .into_iter()
            .map(|w| w.into_string().unwrap())
            .collect()
    }

    /// The word after `flag`, for each occurrence.
    fn after(words: &[String], flag: &str) -> Vec<String> {
        words
            .windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].clone())
            .collect()
    }

    #[test]
    fn interactive_disk_boot_is_a_snapshot_of_the_raw_image() {
        let m = plan(&manifest(&["ext4", "qcow2"]), Path::new("/img"), &options()).unwrap();
        let w = words(&m);
        assert_eq!(
            &w[..6],
            ["-machine", "virt", "-bios", "default", "-no-reboot", "-smp"]
        );
        assert_eq!(after(&w, "-smp"), ["2"]);
        assert_eq!(after(&w, "-m"), ["4096M"]);
        assert_eq!(after(&w, "-kernel"), ["/img/vmlinux"]);
        assert_eq!(after(&w, "-initrd"), ["/img/initrd.img"]);
        assert_eq!(
            after(&w, "-append"),
            ["root=/dev/vda rw console=ttyS0 panic=-1 acalsim.run"]
        );
        assert_eq!(
            after(&w, "-drive"),
            ["file=/img/rootfs.ext4,format=raw,if=none,id=root,snapshot=on"]
        );
        assert!(w.contains(&"-nographic".to_string()));
        assert!(after(&w, "-device").contains(&"virtio-blk-device,drive=root".to_string()));
        assert_eq!(after(&w, "-netdev"), ["user,id=net"]);
    }

    #[test]
    fn persist_writes_the_image_and_qcow2_is_used_when_alone() {
        let o = Options {
            persist: true,
            ..options()
        };
        let m = plan(&manifest(&["qcow2"]), Path::new("/img"), &o).unwrap();
        assert_eq!(
            after(&words(&m), "-drive"),
            ["file=/img/rootfs.qcow2,format=qcow2,if=none,id=root"]
        );
    }

    #[test]
    fn smp_and_memory_flags_override_the_image_defaults() {
        let o = Options {
            smp: Some(1),
            memory_mib: Some(1536),
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert_eq!(after(&w, "-smp"), ["1"]);
        assert_eq!(after(&w, "-m"), ["1536M"]);
    }

    #[test]
    fn initramfs_mode_passes_the_rootfs_as_initrd_without_a_disk() {
        let o = Options {
            mode: Some(Mode::Initramfs),
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4", "initramfs"]), Path::new("/img"), &o).unwrap());
        assert_eq!(after(&w, "-initrd"), ["/img/rootfs.cpio.zst"]);
        assert!(after(&w, "-drive").is_empty());
        assert_eq!(
            after(&w, "-append"),
            ["rdinit=/init console=ttyS0 panic=-1 acalsim.run"]
        );
        // An image with only an initramfs boots that way by default.
        let w = words(&plan(&manifest(&["initramfs"]), Path::new("/img"), &options()).unwrap());
        assert_eq!(after(&w, "-initrd"), ["/img/rootfs.cpio.zst"]);
    }

    #[test]
    fn impossible_modes_are_explained() {
        let o = Options {
            mode: Some(Mode::Initramfs),
            ..options()
        };
        let e = plan(&manifest(&["ext4"]), Path::new("/img"), &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("without format \"initramfs\"") && e.contains("formats: ext4"),
            "{e}"
        );
        let o = Options {
            mode: Some(Mode::Disk),
            ..options()
        };
        let e = plan(&manifest(&["initramfs"]), Path::new("/img"), &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no disk image") && e.contains("--initramfs"),
            "{e}"
        );
        let o = Options {
            persist: true,
            ..options()
        };
        let e = plan(&manifest(&["initramfs"]), Path::new("/img"), &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--persist needs a disk"), "{e}");
    }

    #[test]
    fn fast_job_boot_replaces_init_and_flags_the_job() {
        let o = Options {
            boot: Boot::Fast,
            job: true,
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4", "initramfs"]), Path::new("/img"), &o).unwrap());
        assert_eq!(
            after(&w, "-append"),
            ["root=/dev/vda rw console=ttyS0 panic=-1 acalsim.run acalsim.job init=/usr/lib/acalsim/acalsim-init"]
        );
        let o = Options {
            mode: Some(Mode::Initramfs),
            ..o
        };
        let w = words(&plan(&manifest(&["ext4", "initramfs"]), Path::new("/img"), &o).unwrap());
        assert_eq!(
            after(&w, "-append"),
            ["console=ttyS0 panic=-1 acalsim.run acalsim.job rdinit=/usr/lib/acalsim/acalsim-init"]
        );
    }

    #[test]
    fn buildroot_style_image_boots_its_firmware_without_an_initrd() {
        let mut m = manifest(&["ext4", "initramfs"]);
        m.initrd = None;
        m.firmware = Some(artifact("fw_jump.elf"));
        m.cmdline
            .insert("initramfs".into(), "console=ttyS0 panic=-1".into());
        let w = words(&plan(&m, Path::new("/img"), &options()).unwrap());
        assert_eq!(after(&w, "-bios"), ["/img/fw_jump.elf"]);
        assert!(after(&w, "-initrd").is_empty(), "{w:?}");
        let o = Options {
            mode: Some(Mode::Initramfs),
            boot: Boot::Fast,
            job: true,
            ..options()
        };
        let w = words(&plan(&m, Path::new("/img"), &o).unwrap());
        assert_eq!(after(&w, "-append"), ["console=ttyS0 panic=-1 acalsim.run acalsim.job rdinit=/usr/lib/acalsim/acalsim-init"]);
    }

    #[test]
    fn appended_kernel_arguments_come_last() {
        let o = Options {
            boot: Boot::Fast,
            append: vec!["init=/bin/sh".into(), "quiet".into()],
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert!(
            after(&w, "-append")[0]
                .ends_with("init=/usr/lib/acalsim/acalsim-init init=/bin/sh quiet"),
            "{w:?}"
        );
    }

    #[test]
    fn full_job_boot_selects_the_job_target_and_ssh_implies_network() {
        let o = Options {
            job: true,
            ssh: true,
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert_eq!(
            after(&w, "-append"),
            ["root=/dev/vda rw console=ttyS0 panic=-1 acalsim.run acalsim.job acalsim.net acalsim.ssh systemd.unit=acalsim-job.target"]
        );
    }

    #[test]
    fn headless_console_goes_to_a_socket_and_ports_to_virtio_serial() {
        let o = Options {
            console: Console::Socket("/t/console.sock".into()),
            ports: vec![
                Port {
                    name: "acalsim.stdout".into(),
                    socket: "/t/out.sock".into(),
                },
                Port {
                    name: "acalsim.stderr".into(),
                    socket: "/t/err.sock".into(),
                },
            ],
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert!(!w.contains(&"-nographic".to_string()));
        assert_eq!(after(&w, "-display"), ["none"]);
        assert_eq!(after(&w, "-monitor"), ["none"]);
        assert_eq!(after(&w, "-serial"), ["chardev:console"]);
        assert_eq!(
            after(&w, "-chardev"),
            [
                "socket,id=console,path=/t/console.sock",
                "socket,id=port0,path=/t/out.sock",
                "socket,id=port1,path=/t/err.sock"
            ]
        );
        let devices = after(&w, "-device");
        assert!(devices.contains(&"virtio-serial-pci,id=vser".to_string()));
        assert!(devices
            .contains(&"virtserialport,bus=vser.0,chardev=port0,name=acalsim.stdout".to_string()));
        assert!(devices
            .contains(&"virtserialport,bus=vser.0,chardev=port1,name=acalsim.stderr".to_string()));
    }

    #[test]
    fn shares_are_9p_with_fixed_tags_and_readonly_where_asked() {
        let o = Options {
            shares: vec![
                Share {
                    name: "scripts".into(),
                    host: "/p/guest-scripts".into(),
                    readonly: true,
                },
                Share {
                    name: "share".into(),
                    host: "/w/a,b".into(),
                    readonly: false,
                },
            ],
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert_eq!(
            after(&w, "-fsdev"),
            [
                "local,id=fs_scripts,path=/p/guest-scripts,security_model=none,readonly=on",
                "local,id=fs_share,path=/w/a,,b,security_model=none"
            ]
        );
        let devices = after(&w, "-device");
        assert!(devices
            .contains(&"virtio-9p-pci,fsdev=fs_scripts,mount_tag=acalsim_scripts".to_string()));
        assert!(
            devices.contains(&"virtio-9p-pci,fsdev=fs_share,mount_tag=acalsim_share".to_string())
        );
    }

    #[test]
    fn forwards_bind_loopback_only() {
        let o = Options {
            forwards: vec![
                Forward {
                    host: 2222,
                    guest: 22,
                },
                "8080:80".parse().unwrap(),
            ],
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert_eq!(
            after(&w, "-netdev"),
            ["user,id=net,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80"]
        );
        assert!(!w.iter().any(|w| w.contains("0.0.0.0")));
    }

    #[test]
    fn forward_parsing_names_the_bad_value() {
        for bad in ["8080", "a:80", "0:22", "70000:22", "1:2:3"] {
            let e = bad.parse::<Forward>().unwrap_err();
            assert!(e.contains(bad) && e.contains("HOST:GUEST"), "{e}");
        }
    }

    #[test]
    fn extra_drives_follow_the_root_disk_and_are_written_in_place() {
        let o = Options {
            drives: vec!["/c/build.ext4".into()],
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert_eq!(
            after(&w, "-drive"),
            [
                "file=/img/rootfs.ext4,format=raw,if=none,id=root,snapshot=on",
                "file=/c/build.ext4,format=raw,if=none,id=drive0"
            ]
        );
        let devices = after(&w, "-device");
        let root = devices
            .iter()
            .position(|d| d == "virtio-blk-device,drive=root")
            .unwrap();
        let extra = devices
            .iter()
            .position(|d| d == "virtio-blk-pci,drive=drive0")
            .unwrap();
        assert!(root < extra);
    }

    #[test]
    fn sst_socket_adds_the_acalsim_device() {
        let o = Options {
            sst_socket: Some("/tmp/sst.sock".into()),
            ..options()
        };
        let w = words(&plan(&manifest(&["ext4"]), Path::new("/img"), &o).unwrap());
        assert!(
            after(&w, "-device").contains(&"virtio-sst-device,socket=/tmp/sst.sock".to_string())
        );
    }
}
