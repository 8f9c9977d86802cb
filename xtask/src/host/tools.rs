//! The table of host tools the project needs: what each is for, which Debian
//! package provides it and how to ask it for its version.

use super::binfmt::BINFMT_ENTRY;

/// Firmware qemu's `virt` machine loads for `-bios default`; without it the guest never starts.
pub const OPENSBI_FW: &str = "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin";
/// Headers and modules QEMU's build needs (`cargo xtask qemu build`), found by path.
const GLIB_DEV: &str = "/usr/include/glib-2.0/glib.h";
const ZLIB_DEV: &str = "/usr/include/zlib.h";
const FDT_DEV: &str = "/usr/include/libfdt.h";
const SLIRP_DEV: &str = "/usr/include/slirp/libslirp.h";
const PYTHON_VENV: &str = "/usr/share/doc/python3-venv/copyright";
const PYCOTAP: &str = "/usr/lib/python3/dist-packages/pycotap/__init__.py";
/// Buildroot's `utils/check-package` imports `magic` (Debian's python3 module).
const PYTHON_MAGIC: &str = "/usr/lib/python3/dist-packages/magic/__init__.py";
/// Debian's, not a pyenv's earlier on PATH: SST embeds the system Python.
const PYTHON_CONFIG: &str = "/usr/bin/python3-config";

/// One host tool the project needs.
pub struct Tool {
    /// Name shown in the doctor table.
    pub name: &'static str,
    /// Program looked up on PATH, or an absolute path for the pseudo-checks (firmware, binfmt).
    pub command: &'static str,
    /// Arguments that print a version; empty means "ask dpkg-query for the package version".
    pub version_args: &'static [&'static str],
    /// Debian package that provides it.
    pub package: &'static str,
    /// On bookworm, install from bookworm-backports (qemu 10 instead of 7.2).
    pub backports: bool,
    pub purpose: &'static str,
}

#[rustfmt::skip]
const fn t(name: &'static str, command: &'static str, version_args: &'static [&'static str], package: &'static str, backports: bool, purpose: &'static str) -> Tool {
    Tool { name, command, version_args, package, backports, purpose }
}
const VERSION: &[&str] = &["--version"];
const DASH_V: &[&str] = &["-V"];
const DPKG: &[&str] = &[];

// mmdebstrap and debootstrap come from backports on bookworm too: sid moves
// (apt 3, dpkg 1.23, merged /usr) and the bootstrappers follow it there.
#[rustfmt::skip]
pub const TOOLS: &[Tool] = &[
    t("mmdebstrap", "mmdebstrap", VERSION, "mmdebstrap", true, "build the riscv64 root filesystem"),
    t("debootstrap", "debootstrap", DPKG, "debootstrap", true, "fallback bootstrapper / suite scripts"),
    t("qemu-system-riscv64", "qemu-system-riscv64", VERSION, "qemu-system-misc", true, "boot the guest"),
    t("qemu-riscv64", "qemu-riscv64", VERSION, "qemu-user", true, "run riscv64 binaries during bootstrap"),
    t("qemu-img", "qemu-img", VERSION, "qemu-utils", true, "create and convert disk images"),
    t("mkfs.ext4", "mkfs.ext4", DASH_V, "e2fsprogs", false, "format the root filesystem image"),
    t("debugfs", "debugfs", DASH_V, "e2fsprogs", false, "inspect ext4 images without mounting"),
    t("dumpe2fs", "dumpe2fs", DASH_V, "e2fsprogs", false, "measure the space used in the image"),
    t("zstd", "zstd", VERSION, "zstd", false, "compress image artifacts"),
    t("cpio", "cpio", VERSION, "cpio", false, "pack initramfs archives"),
    t("xz", "xz", VERSION, "xz-utils", false, "decompress .xz artifacts"),
    t("arch-test", "arch-test", DPKG, "arch-test", false, "check riscv64 binaries can execute"),
    t("unshare", "unshare", VERSION, "util-linux", false, "user namespaces for mmdebstrap"),
    t("gpgv", "gpgv", VERSION, "gpgv", false, "verify Debian archive signatures"),
    t("ssh", "ssh", DASH_V, "openssh-client", false, "log in to a guest (run --ssh, cargo xtask ssh)"),
    t("dpkg-source", "dpkg-source", VERSION, "dpkg-dev", false, "unpack Debian source packages (pytorch build)"),
    t("make", "make", VERSION, "make", false, "Buildroot: its build system"),
    t("g++", "g++", VERSION, "g++", false, "Buildroot: host compiler for its toolchain"),
    t("git", "git", VERSION, "git", false, "Buildroot: fetch the pinned source"),
    t("rsync", "rsync", VERSION, "rsync", false, "Buildroot: rootfs overlays"),
    t("bc", "bc", VERSION, "bc", false, "Buildroot: kernel build"),
    t("unzip", "unzip", DPKG, "unzip", false, "Buildroot: some package sources"),
    t("file", "file", VERSION, "file", false, "Buildroot: dependency check"),
    t("patch", "patch", VERSION, "patch", false, "Buildroot: package patches"),
    t("wget", "wget", VERSION, "wget", false, "Buildroot: downloads"),
    t("curl", "curl", DPKG, "curl", false, "download QEMU's source (qemu build)"),
    t("ninja", "ninja", VERSION, "ninja-build", false, "qemu build: QEMU's build tool"),
    t("meson", "meson", VERSION, "meson", true, "qemu build: QEMU 10.2 needs meson >= 1.5 (bookworm has 1.0)"),
    t("pkg-config", "pkg-config", VERSION, "pkg-config", false, "qemu build: finds glib, libfdt, libslirp"),
    t("libglib2.0-dev", GLIB_DEV, DPKG, "libglib2.0-dev", false, "qemu build: glib"),
    t("zlib1g-dev", ZLIB_DEV, DPKG, "zlib1g-dev", false, "qemu build: zlib"),
    t("libfdt-dev", FDT_DEV, DPKG, "libfdt-dev", false, "qemu build: the riscv virt board's device tree"),
    t("libslirp-dev", SLIRP_DEV, DPKG, "libslirp-dev", false, "qemu build: user networking"),
    t("python3-venv", PYTHON_VENV, DPKG, "python3-venv", false, "qemu build: configure's Python venv"),
    t("python3-pycotap", PYCOTAP, DPKG, "python3-pycotap", true, "qemu build: configure requires it (bookworm-backports)"),
    t("autoconf", "autoconf", VERSION, "autoconf", false, "sst build: SST-core's autogen.sh"),
    t("automake", "automake", VERSION, "automake", false, "sst build: SST-core's autogen.sh"),
    t("libtoolize", "libtoolize", VERSION, "libtool", false, "sst build: SST-core's autogen.sh"),
    t("libtool", "libtool", VERSION, "libtool-bin", false, "sst build: autogen.sh looks for it beside libtoolize"),
    t("python3-config", PYTHON_CONFIG, DPKG, "python3-dev", false, "sst build: SST embeds Python"),
    t("shellcheck", "shellcheck", VERSION, "shellcheck", false, "tests: the tidy test checks every shell script"),
    t("flake8", "flake8", VERSION, "flake8", false, "tests: Buildroot's check-package lints Python with it"),
    t("python3-magic", PYTHON_MAGIC, DPKG, "python3-magic", false, "tests: Buildroot's check-package needs it"),
    t("opensbi firmware", OPENSBI_FW, DPKG, "qemu-system-data", true, "riscv64 firmware for qemu virt"),
    t("binfmt riscv64", BINFMT_ENTRY, DPKG, "qemu-user-binfmt", true, "kernel runs riscv64 ELF via qemu"),
];

/// The table rows for `commands` (each a command or a name), for other files' tests.
#[cfg(test)]
pub(super) fn by_command(commands: &[&str]) -> Vec<&'static Tool> {
    commands
        .iter()
        .map(|c| {
            TOOLS
                .iter()
                .find(|t| t.command == *c || t.name == *c)
                .expect(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_list_matches_the_project_needs() {
        let commands: Vec<&str> = TOOLS.iter().map(|t| t.command).collect();
        for c in [
            "mmdebstrap",
            "debootstrap",
            "qemu-system-riscv64",
            "qemu-riscv64",
            "qemu-img",
            "mkfs.ext4",
            "debugfs",
            "dumpe2fs",
            "zstd",
            "cpio",
            "xz",
            "arch-test",
            "unshare",
            "gpgv",
            "ssh",
            "make",
            "g++",
            "rsync",
            "wget",
            OPENSBI_FW,
            BINFMT_ENTRY,
        ] {
            assert!(commands.contains(&c), "{c} missing from TOOLS");
        }
        let from_backports = |t: &&Tool| {
            t.package.starts_with("qemu-")
                || t.package.ends_with("debstrap")
                || ["debootstrap", "meson", "python3-pycotap"].contains(&t.package)
        };
        assert!(TOOLS.iter().all(|t| from_backports(&t) == t.backports));
        assert!(by_command(&["debootstrap", "arch-test"])
            .iter()
            .all(|t| t.version_args.is_empty()));
    }
}
