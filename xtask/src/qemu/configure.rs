//! QEMU's configure line for the project's build, as plain data: part of the
//! build's cache key, and unit-tested.
//!
//! Auto-detected features are off (`--without-default-features`), so what is
//! built does not depend on which `-dev` packages a host happens to have;
//! what the guest needs is switched on by name: TCG, user networking
//! (libslirp), the 9p share (`virtfs`, which needs `attr`: glibc's xattr
//! calls) and the device tree library the riscv `virt` board requires (the
//! system's: meson's fallback is a git subproject, unreachable here).

/// The QEMU target the guests need.
pub const TARGET: &str = "riscv64-softmmu";
/// The one program built and installed.
pub const PROGRAM: &str = "qemu-system-riscv64";
/// `python3` on PATH may be another interpreter (pyenv) that cannot see
/// Debian's meson; QEMU's venv must be built on the system one.
pub const PYTHON: &str = "/usr/bin/python3";

/// `configure` arguments; `pkgversion` shows in `--version` (which build booted).
pub fn args(pkgversion: &str) -> Vec<String> {
    let mut a = vec![
        format!("--python={PYTHON}"),
        format!("--target-list={TARGET}"),
    ];
    a.extend(
        [
            "--without-default-features",
            "--enable-tcg",
            "--enable-slirp",
            "--enable-virtfs",
            "--enable-attr",
            "--enable-fdt=system",
            "--disable-download",
            "--disable-install-blobs",
            "--disable-docs",
            "--disable-werror",
        ]
        .map(String::from),
    );
    a.push(format!("--with-pkgversion={pkgversion}"));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_builds_one_riscv_target_with_9p_and_slirp_and_no_downloads() {
        let a = args("acalsim-0123");
        for want in [
            "--target-list=riscv64-softmmu",
            "--without-default-features",
            "--enable-virtfs",
            "--enable-attr",
            "--enable-slirp",
            "--enable-fdt=system",
            "--disable-download",
            "--with-pkgversion=acalsim-0123",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        assert_eq!(a[0], format!("--python={PYTHON}"));
        assert!(TARGET.starts_with("riscv64") && PROGRAM.ends_with("riscv64"));
    }
}
