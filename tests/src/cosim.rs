//! What the co-simulation tests share: the e2e config, the project's QEMU
//! and the `e2e-cosim` image with ACALSim's driver and a test module.

use std::path::PathBuf;

use crate::*;

pub fn e2e_config() -> PathBuf {
    root().join("tests/configs/e2e.toml")
}

pub fn qemu_record() -> serde_json::Value {
    let path = root().join("target/xtask/qemu.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("qemu.json is JSON")
}

/// `cargo xtask qemu build` with ACALSim from the shared checkout; asserts success.
pub fn build_qemu() -> std::process::Output {
    let acalsim = acalsim_src();
    let out = xtask_env(
        &e2e_config(),
        &["qemu", "build"],
        &[("ACALSIM_SRC", &acalsim)],
        &[],
    );
    assert!(out.status.success(), "qemu build failed:\n{}", stderr(&out));
    out
}

/// Writes the test module (good, or with a compile error) where e2e-cosim expects it.
pub fn write_hello_module(broken: bool) {
    let dest = root().join("target/xtask/test-kmod/hello");
    std::fs::create_dir_all(&dest).unwrap();
    let data = root().join("tests/data/kmod-hello");
    for f in ["Makefile", "acalsim_hello.c"] {
        let mut text = std::fs::read_to_string(data.join(f)).unwrap();
        if broken && f.ends_with(".c") {
            text = text.replace("return 0;", "return acalsim_undeclared_symbol;");
        }
        std::fs::write(dest.join(f), text).unwrap();
    }
}

pub fn build_cosim_image() -> std::process::Output {
    write_hello_module(false);
    xtask_env(
        &e2e_config(),
        &["image", "e2e-cosim"],
        &[("ACALSIM_SRC", &acalsim_src())],
        &[],
    )
}

/// The project's QEMU and the e2e-cosim image, built (no-ops when current);
/// asserts both succeeded.
pub fn ensure_cosim_ready() {
    build_qemu();
    let out = build_cosim_image();
    assert!(
        out.status.success(),
        "building e2e-cosim failed:\n{}",
        stderr(&out)
    );
}
