//! QEMU's arguments for a [`Machine`], as a pure function.
//!
//! [`argv`] reads as the list of devices the guest gets, one named step each;
//! the golden test (`golden.rs`) pins its output byte for byte.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::machine::{Console, Disk, Forward, Machine, Port, Share};

/// QEMU's arguments (without the binary) for `m`.
pub fn argv(m: &Machine) -> Vec<OsString> {
    let mut a = Args::default();
    board(&mut a, m);
    kernel(&mut a, m);
    console(&mut a, &m.console);
    if let Some(disk) = &m.disk {
        root_disk(&mut a, disk);
    }
    extra_drives(&mut a, &m.drives);
    network(&mut a, &m.forwards);
    a.add(["-device", "virtio-rng-device"]);
    // 9p and the serial ports go on PCI: virt has only eight virtio-mmio slots.
    shares(&mut a, &m.shares);
    serial_ports(&mut a, &m.ports);
    if let Some(socket) = &m.sst_socket {
        a.add(["-device"]);
        a.opt("virtio-sst-device,socket=", socket, "");
    }
    snapshot_control(&mut a, m);
    a.0
}

/// The monitor a warm run drives, and `-incoming defer` for a restore.
fn snapshot_control(a: &mut Args, m: &Machine) {
    if let Some(qmp) = &m.qmp {
        a.add(["-qmp"]);
        a.opt("unix:", qmp, ",server=on,wait=off");
    }
    if m.incoming {
        a.add(["-incoming", "defer"]);
    }
}

/// The virt board, its firmware, CPUs and memory.
fn board(a: &mut Args, m: &Machine) {
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
}

fn kernel(a: &mut Args, m: &Machine) {
    a.add(["-kernel"]);
    a.path(&m.kernel);
    if let Some(initrd) = &m.initrd {
        a.add(["-initrd"]);
        a.path(initrd);
    }
    a.add(["-append", &m.cmdline]);
}

fn console(a: &mut Args, console: &Console) {
    match console {
        Console::Terminal => a.add(["-nographic"]),
        Console::Socket(path) => {
            a.add(["-display", "none", "-monitor", "none", "-chardev"]);
            a.opt("socket,id=console,path=", path, "");
            a.add(["-serial", "chardev:console"]);
        }
    }
}

fn root_disk(a: &mut Args, disk: &Disk) {
    a.add(["-drive"]);
    let snapshot = if disk.snapshot { ",snapshot=on" } else { "" };
    a.opt(
        "file=",
        &disk.path,
        &format!(",format={},if=none,id=root{snapshot}", disk.format),
    );
    a.add(["-device", "virtio-blk-device,drive=root"]);
}

/// On PCI: the root stays the first virtio-mmio disk (vda, which the kernel
/// command line names) and these follow as vdb, vdc, …
fn extra_drives(a: &mut Args, drives: &[PathBuf]) {
    for (i, drive) in drives.iter().enumerate() {
        a.add(["-drive"]);
        a.opt("file=", drive, &format!(",format=raw,if=none,id=drive{i}"));
        a.add([
            "-device".to_string(),
            format!("virtio-blk-pci,drive=drive{i}"),
        ]);
    }
}

/// User networking; forwards listen on loopback only, never on 0.0.0.0.
fn network(a: &mut Args, forwards: &[Forward]) {
    let mut netdev = "user,id=net".to_string();
    for f in forwards {
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{}-:{}", f.host, f.guest));
    }
    a.add([
        "-netdev",
        &netdev,
        "-device",
        "virtio-net-device,netdev=net",
    ]);
}

fn shares(a: &mut Args, shares: &[Share]) {
    for s in shares {
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
}

fn serial_ports(a: &mut Args, ports: &[Port]) {
    if ports.is_empty() {
        return;
    }
    a.add(["-device", "virtio-serial-pci,id=vser"]);
    for (i, p) in ports.iter().enumerate() {
        a.add(["-chardev"]);
        a.opt(&format!("socket,id=port{i},path="), &p.socket, "");
        a.add([
            "-device".to_string(),
            format!("virtserialport,bus=vser.0,chardev=port{i},name={}", p.name),
        ]);
    }
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
    use super::super::fixtures::{manifest, options};
    use super::super::machine::{plan, MachineOptions};
    use super::*;

    /// QEMU's words for an image with `formats` and the options `o`.
    fn words(formats: &[&str], o: &MachineOptions) -> Vec<String> {
        let m = plan(&manifest(formats), Path::new("/img"), o).unwrap();
        argv(&m)
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
        let w = words(&["ext4", "qcow2"], &options());
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
    fn persistent_qcow2_disk_has_no_snapshot_and_initramfs_has_no_drive() {
        let o = MachineOptions {
            persist: true,
            ..options()
        };
        assert_eq!(
            after(&words(&["qcow2"], &o), "-drive"),
            ["file=/img/rootfs.qcow2,format=qcow2,if=none,id=root"]
        );
        let w = words(&["initramfs"], &options());
        assert_eq!(after(&w, "-initrd"), ["/img/rootfs.cpio.zst"]);
        assert!(after(&w, "-drive").is_empty());
    }

    #[test]
    fn headless_console_goes_to_a_socket_and_ports_to_virtio_serial() {
        let o = MachineOptions {
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
        let w = words(&["ext4"], &o);
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
        let o = MachineOptions {
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
        let w = words(&["ext4"], &o);
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
        let o = MachineOptions {
            forwards: vec![
                Forward {
                    host: 2222,
                    guest: 22,
                },
                "8080:80".parse().unwrap(),
            ],
            ..options()
        };
        let w = words(&["ext4"], &o);
        assert_eq!(
            after(&w, "-netdev"),
            ["user,id=net,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80"]
        );
        assert!(!w.iter().any(|w| w.contains("0.0.0.0")));
    }

    #[test]
    fn extra_drives_follow_the_root_disk_and_are_written_in_place() {
        let o = MachineOptions {
            drives: vec!["/c/build.ext4".into()],
            ..options()
        };
        let w = words(&["ext4"], &o);
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
        let o = MachineOptions {
            sst_socket: Some("/tmp/sst.sock".into()),
            ..options()
        };
        let w = words(&["ext4"], &o);
        assert!(
            after(&w, "-device").contains(&"virtio-sst-device,socket=/tmp/sst.sock".to_string())
        );
    }

    #[test]
    fn a_warm_restore_listens_on_its_monitor_and_waits_for_the_state() {
        let mut m = plan(&manifest(&["ext4"]), Path::new("/img"), &options()).unwrap();
        let cold: Vec<String> = argv(&m)
            .into_iter()
            .map(|w| w.into_string().unwrap())
            .collect();
        assert!(!cold.iter().any(|w| w == "-qmp" || w == "-incoming"));
        m.qmp = Some("/run/x/qmp.sock".into());
        m.incoming = true;
        let w: Vec<String> = argv(&m)
            .into_iter()
            .map(|w| w.into_string().unwrap())
            .collect();
        assert_eq!(
            after(&w, "-qmp"),
            ["unix:/run/x/qmp.sock,server=on,wait=off"]
        );
        assert_eq!(after(&w, "-incoming"), ["defer"]);
        assert_eq!(
            &w[..cold.len()],
            &cold[..],
            "the devices are the cold run's, in order"
        );
    }
}
