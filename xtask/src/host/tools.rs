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
    /// The Debian package (or Rust crate) that provides it.
    pub package: &'static str,
    /// Where `package` comes from.
    pub source: Source,
    /// What it is for, short enough for a 100-column table.
    pub purpose: &'static str,
}

/// Where a tool's package comes from, and so how `--fix` installs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The release's own Debian archive.
    Debian,
    /// bookworm-backports on Debian 12 (qemu 10 instead of 7.2), else the release's.
    Backports,
    /// A Rust crate, `cargo install --locked PACKAGE` by the user who runs it.
    Cargo,
}

impl Tool {
    /// True for an apt package pinned to bookworm-backports on bookworm.
    pub fn backports(&self) -> bool {
        self.source == Source::Backports
    }
}

#[rustfmt::skip]
const fn t(name: &'static str, command: &'static str, version_args: &'static [&'static str], package: &'static str, source: Source, purpose: &'static str) -> Tool {
    Tool { name, command, version_args, package, source, purpose }
}
const DEB: Source = Source::Debian;
const BPO: Source = Source::Backports;
const VERSION: &[&str] = &["--version"];
const DASH_V: &[&str] = &["-V"];
const DPKG: &[&str] = &[];
/// `cargo-nextest nextest --version` is what `cargo nextest --version` runs.
const NEXTEST_VERSION: &[&str] = &["nextest", "--version"];

// mmdebstrap and debootstrap come from backports on bookworm too: sid moves
// (apt 3, dpkg 1.23, merged /usr) and the bootstrappers follow it there.
#[rustfmt::skip]
pub const TOOLS: &[Tool] = &[
    t("mmdebstrap", "mmdebstrap", VERSION, "mmdebstrap", BPO, "build the riscv64 root filesystem"),
    t("debootstrap", "debootstrap", DPKG, "debootstrap", BPO, "fallback bootstrapper, suite scripts"),
    t("qemu-system-riscv64", "qemu-system-riscv64", VERSION, "qemu-system-misc", BPO, "boot the guest"),
    t("qemu-riscv64", "qemu-riscv64", VERSION, "qemu-user", BPO, "run riscv64 binaries in bootstrap"),
    t("qemu-img", "qemu-img", VERSION, "qemu-utils", BPO, "create and convert disk images"),
    t("mkfs.ext4", "mkfs.ext4", DASH_V, "e2fsprogs", DEB, "format the root filesystem image"),
    t("debugfs", "debugfs", DASH_V, "e2fsprogs", DEB, "inspect ext4 images without mounting"),
    t("dumpe2fs", "dumpe2fs", DASH_V, "e2fsprogs", DEB, "measure the space used in the image"),
    t("zstd", "zstd", VERSION, "zstd", DEB, "compress image artifacts"),
    t("cpio", "cpio", VERSION, "cpio", DEB, "pack initramfs archives"),
    t("xz", "xz", VERSION, "xz-utils", DEB, "decompress .xz artifacts"),
    t("arch-test", "arch-test", DPKG, "arch-test", DEB, "check riscv64 binaries can execute"),
    t("unshare", "unshare", VERSION, "util-linux", DEB, "user namespaces for mmdebstrap"),
    t("gpgv", "gpgv", VERSION, "gpgv", DEB, "verify Debian archive signatures"),
    t("ssh", "ssh", DASH_V, "openssh-client", DEB, "log in to a guest (run --ssh, ssh)"),
    t("dpkg-source", "dpkg-source", VERSION, "dpkg-dev", DEB, "pytorch build: unpack Debian sources"),
    t("make", "make", VERSION, "make", DEB, "Buildroot: its build system"),
    t("g++", "g++", VERSION, "g++", DEB, "Buildroot: host compiler"),
    t("git", "git", VERSION, "git", DEB, "Buildroot: fetch the pinned source"),
    t("rsync", "rsync", VERSION, "rsync", DEB, "Buildroot: rootfs overlays"),
    t("bc", "bc", VERSION, "bc", DEB, "Buildroot: kernel build"),
    t("unzip", "unzip", DPKG, "unzip", DEB, "Buildroot: some package sources"),
    t("file", "file", VERSION, "file", DEB, "Buildroot: dependency check"),
    t("patch", "patch", VERSION, "patch", DEB, "Buildroot: package patches"),
    t("wget", "wget", VERSION, "wget", DEB, "Buildroot: downloads"),
    t("curl", "curl", DPKG, "curl", DEB, "qemu build: download QEMU's source"),
    t("ninja", "ninja", VERSION, "ninja-build", DEB, "qemu build: QEMU's build tool"),
    t("meson", "meson", VERSION, "meson", BPO, "qemu build: needs meson >= 1.5"),
    t("pkg-config", "pkg-config", VERSION, "pkg-config", DEB, "qemu build: finds its libraries"),
    t("libglib2.0-dev", GLIB_DEV, DPKG, "libglib2.0-dev", DEB, "qemu build: glib"),
    t("zlib1g-dev", ZLIB_DEV, DPKG, "zlib1g-dev", DEB, "qemu build: zlib"),
    t("libfdt-dev", FDT_DEV, DPKG, "libfdt-dev", DEB, "qemu build: the virt board's devicetree"),
    t("libslirp-dev", SLIRP_DEV, DPKG, "libslirp-dev", DEB, "qemu build: user networking"),
    t("python3-venv", PYTHON_VENV, DPKG, "python3-venv", DEB, "qemu build: configure's Python venv"),
    t("python3-pycotap", PYCOTAP, DPKG, "python3-pycotap", BPO, "qemu build: configure requires it"),
    t("autoconf", "autoconf", VERSION, "autoconf", DEB, "sst build: SST-core's autogen.sh"),
    t("automake", "automake", VERSION, "automake", DEB, "sst build: SST-core's autogen.sh"),
    t("libtoolize", "libtoolize", VERSION, "libtool", DEB, "sst build: SST-core's autogen.sh"),
    t("libtool", "libtool", VERSION, "libtool-bin", DEB, "sst build: autogen.sh wants it too"),
    t("python3-config", PYTHON_CONFIG, DPKG, "python3-dev", DEB, "sst build: SST embeds Python"),
    t("shellcheck", "shellcheck", VERSION, "shellcheck", DEB, "tests: tidy lints shell scripts"),
    t("flake8", "flake8", VERSION, "flake8", DEB, "tests: check-package lints Python"),
    t("python3-magic", PYTHON_MAGIC, DPKG, "python3-magic", DEB, "tests: check-package needs it"),
    t("cargo-nextest", "cargo-nextest", NEXTEST_VERSION, "cargo-nextest", Source::Cargo, "tests: `cargo xtask test` runs it"),
    t("opensbi firmware", OPENSBI_FW, DPKG, "qemu-system-data", BPO, "riscv64 firmware for qemu virt"),
    t("binfmt riscv64", BINFMT_ENTRY, DPKG, "qemu-user-binfmt", BPO, "kernel runs riscv64 ELF via qemu"),
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
            "cargo-nextest",
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
        assert!(TOOLS.iter().all(|t| from_backports(&t) == t.backports()));
        let crates: Vec<&str> = TOOLS
            .iter()
            .filter(|t| t.source == Source::Cargo)
            .map(|t| t.package)
            .collect();
        assert_eq!(crates, ["cargo-nextest"]);
        assert!(TOOLS.iter().all(|t| t.purpose.chars().count() <= 39));
        assert!(by_command(&["debootstrap", "arch-test"])
            .iter()
            .all(|t| t.version_args.is_empty()));
    }
}
