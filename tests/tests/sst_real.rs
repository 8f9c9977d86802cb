//! Real SST (`--full` tier: SST-core compiles for about 7 minutes on 2 cores):
//! `cargo xtask sst build` from the shared SST-core and ACALSim sources,
//! then a `cosim` session whose SST side is ACALSim's own `linux_basic.py`
//! with the real `acalsim.VirtIODevice` component, on the socket path that
//! config hard-codes.

use std::path::{Path, PathBuf};

use tests::cosim::*;
use tests::*;

/// ACALSim's `sst-config/` directory, from the tarball unpacked the way a
/// user would (`tar -xf`), under `into`.
fn acalsim_sst_config(into: &Path) -> PathBuf {
    let src = acalsim_src();
    let tree = if src.is_file() {
        run(std::process::Command::new("tar")
            .arg("-xf")
            .arg(&src)
            .arg("-C")
            .arg(into));
        into.to_path_buf()
    } else {
        src
    };
    // The checkout itself, or a tarball's one top directory.
    let sub = "src/qemu-acalsim-sst-linux/sst-config";
    let tops = std::fs::read_dir(&tree)
        .unwrap()
        .flatten()
        .map(|e| e.path().join(sub));
    std::iter::once(tree.join(sub))
        .chain(tops)
        .find(|d| d.join("linux_basic.py").is_file())
        .unwrap_or_else(|| panic!("no {sub}/linux_basic.py in {}", tree.display()))
}

/// Full tier only (`cargo xtask test --full`): SST-core compiles for minutes.
#[test]
fn full_sst_build_then_acalsims_component_answers_the_guests_computes() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let out = xtask_env(
        &e2e_config(),
        &["sst", "build"],
        &[
            ("SST_CORE_SRC", &sst_core_src()),
            ("ACALSIM_SRC", &acalsim_src()),
        ],
        &[],
    );
    assert!(out.status.success(), "sst build failed:\n{}", stderr(&out));
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("target/xtask/sst.json")).expect("sst.json"),
    )
    .expect("sst.json is JSON");
    assert!(
        record["version"].as_str().unwrap().contains("15.1.2"),
        "{record}"
    );
    assert_eq!(
        record["components"],
        serde_json::json!(["VirtIODevice"]),
        "{record}"
    );
    // `sst info --json` is that record.
    let info = xtask(&e2e_config(), &["sst", "info", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).expect("sst info --json");
    assert_eq!(v["version"], record["version"], "{v}");

    let unpacked = tempfile::tempdir().unwrap();
    let config_dir = acalsim_sst_config(unpacked.path());
    let socket = "/tmp/qemu-sst-linux.sock";
    let job = "python3 /mnt/scripts/sst/sst_check.py --units 1000 && \
               python3 /mnt/scripts/sst/sst_compute.py --count 200";
    let out = xtask(
        &e2e_config(),
        &[
            "cosim",
            "e2e-cosim",
            "--socket",
            socket,
            "--sst-dir",
            config_dir.to_str().unwrap(),
            "--sst",
            "sst linux_basic.py",
            "--",
            "sh",
            "-c",
            job,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = stderr(&out);
    assert!(out.status.success(), "the session failed:\n{stdout}\n{err}");
    eprintln!("the guest said:\n{stdout}");
    assert!(
        stdout.contains("COMPUTE: OK (status 0) units=1000 cycles=100000"),
        "real SST did not answer 1000 units with 100000 cycles:\n{stdout}"
    );
    assert!(stdout.contains("COMPUTE: 200 answers right"), "{stdout}");
    let sst_log = std::fs::read_to_string(run_folder(&out).join("sst.log")).unwrap();
    assert!(
        sst_log.contains("SST Linux Integration - Basic Configuration")
            && sst_log.contains("COMPUTE request (units=1000, cycles=100000)"),
        "the SST log does not show ACALSim's component at work:\n{sst_log}"
    );
    assert!(!Path::new(socket).exists(), "{socket} was left behind");
    assert!(
        err.contains("SST from `cargo xtask sst build` first on PATH"),
        "{err}"
    );
}
