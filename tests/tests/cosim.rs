//! Co-simulation, for real: the project's QEMU 10.2.2 built from Debian's
//! verified tarball with ACALSim's unmodified virtio-sst-device, an image
//! carrying ACALSim's unmodified guest driver, and `/dev/sst0` answering in
//! the booted guest. ACALSim's sources come from `ACALSIM_SRC` or the tarball
//! in `../shared/acalsim/`.

use std::path::{Path, PathBuf};

use tests::cosim::*;
use tests::*;

const QEMU_TARBALL_SHA256: &str =
    "be05230fe47a6937cd29f28f562932c8125f9c93c2a82c625198f7a4aa601dfb";

/// The e2e config with `extra` appended, in `dir`.
fn config_with(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(e2e_config()).expect("reading e2e.toml");
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n{extra}\n")).expect("writing a test config");
    path
}

fn qemu_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    base.join("acalsim/qemu")
}

fn work_dirs() -> Vec<PathBuf> {
    std::fs::read_dir(qemu_cache())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("work-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn qemu_build_refuses_unverified_sources_builds_acalsims_device_and_reruns_as_a_noop() {
    let _lock = build_lock();
    let dir = tempfile::tempdir().unwrap();

    let out = xtask_env(&e2e_config(), &["qemu", "build"], &[], &["ACALSIM_SRC"]);
    assert!(!out.status.success(), "built without ACALSim's sources");
    let err = stderr(&out);
    assert!(
        err.contains("set ACALSIM_SRC=PATH") && err.contains("[qemu] table"),
        "{err}"
    );

    let before = work_dirs();
    let wrong_pin = config_with(
        dir.path(),
        "wrong-pin.toml",
        &format!("[qemu]\nsha256 = \"{}\"", "ab".repeat(32)),
    );
    let out = xtask_env(
        &wrong_pin,
        &["qemu", "build"],
        &[("ACALSIM_SRC", &acalsim_src())],
        &[],
    );
    assert!(!out.status.success(), "a wrong sha256 pin was accepted");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "sha256 {QEMU_TARBALL_SHA256} in sid's signed Sources"
        )) && err.contains("nothing was downloaded or unpacked"),
        "{err}"
    );

    let tampered = dir.path().join("qemu-10.2.2.tar.xz");
    std::fs::write(&tampered, b"not the QEMU source").unwrap();
    let local = config_with(
        dir.path(),
        "tampered.toml",
        &format!(
            "[qemu]\nsource = \"{}\"\nsha256 = \"{QEMU_TARBALL_SHA256}\"",
            tampered.display()
        ),
    );
    let out = xtask_env(
        &local,
        &["qemu", "build"],
        &[("ACALSIM_SRC", &acalsim_src())],
        &[],
    );
    assert!(!out.status.success(), "a tampered tarball was accepted");
    let err = stderr(&out);
    assert!(
        err.contains("its sha256 is") && err.contains("refusing it (nothing was unpacked)"),
        "{err}"
    );
    let new: Vec<_> = work_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert!(new.is_empty(), "a refused source was unpacked into {new:?}");

    build_qemu();
    let record = qemu_record();
    let binary = PathBuf::from(record["binary"].as_str().expect("binary"));
    assert!(
        record["version"].as_str().unwrap().contains("10.2.2"),
        "{record}"
    );
    assert!(
        record["source"]
            .as_str()
            .unwrap()
            .contains(QEMU_TARBALL_SHA256),
        "{record}"
    );
    let devices =
        run(std::process::Command::new(&binary).args(["-machine", "virt", "-device", "help"]));
    assert!(devices.contains("name \"virtio-sst-device\""), "{devices}");
    assert!(
        work_dirs().is_empty(),
        "the work tree was left behind: {:?}",
        work_dirs()
    );

    let again = build_qemu();
    assert!(
        stderr(&again).contains("qemu: up to date"),
        "{}",
        stderr(&again)
    );
    assert_eq!(qemu_record(), record, "a no-op re-run changed the record");
}

#[test]
fn acalsims_driver_in_the_image_answers_on_dev_sst0_through_the_projects_qemu() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let m = manifest("e2e-cosim");
    let kver = m["kernel_version"].as_str().unwrap().to_string();
    let modules: Vec<&str> = m["kernel_modules"]
        .as_array()
        .expect("kernel_modules")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for ko in ["virtio-sst.ko", "acalsim_hello.ko"] {
        let want = format!("usr/lib/modules/{kver}/updates/{ko}");
        assert!(
            modules.contains(&want.as_str()),
            "{want} not in {modules:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nothing-listens.sock");
    let socket_arg = socket.display().to_string();
    let job = "ls -l /dev/sst0 && cut -d' ' -f1 /proc/modules | grep -x virtio_sst \
               && modprobe acalsim_hello && dmesg | grep -o 'acalsim_hello: loaded'; \
               python3 /mnt/scripts/sst/sst_check.py";
    let out = xtask(
        &e2e_config(),
        &[
            "run",
            "e2e-cosim",
            "--sst-socket",
            &socket_arg,
            "--",
            "sh",
            "-c",
            job,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the guest check failed:\n{stdout}\n{}",
        stderr(&out)
    );
    // Nothing listens on the socket: said on the terminal, not only in the boot log.
    assert!(
        stderr(&out).contains(&format!(
            "warning: QEMU's SST device: Failed to connect to SST at {socket_arg}"
        )) && stderr(&out).contains("(NO_DEVICE)"),
        "{}",
        stderr(&out)
    );
    for want in [
        "/dev/sst0",
        "virtio_sst",
        "NOOP: OK user_data=11",
        "ECHO: OK 4080 bytes back, identical",
        "GET_INFO: OK version=0x00010000",
        "COMPUTE: NO_DEVICE (status 5)",
        "NOOP after COMPUTE: OK user_data=33",
        "sst check: ok",
    ] {
        assert!(
            stdout.contains(want),
            "`{want}` missing from the guest's output:\n{stdout}"
        );
    }
    let folder = run_folder(&out);
    let boot_log = std::fs::read_to_string(folder.join("boot.log")).unwrap();
    let binary = qemu_record()["binary"].as_str().unwrap().to_string();
    let record = run_record(&folder);
    assert_eq!(record["qemu"]["path"], binary.as_str(), "{record}");
    assert_eq!(
        record["qemu"]["sha256"],
        qemu_record()["sha256"],
        "{record}"
    );
    assert!(
        boot_log
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("# qemu: ")
                && l.contains(&binary)
                && l.contains("10.2.2")),
        "the boot log does not name the project's QEMU first:\n{}",
        boot_log.lines().take(2).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn a_kernel_module_that_does_not_compile_stops_the_build_and_keeps_the_previous_image() {
    let _lock = build_lock();
    let out = build_cosim_image();
    assert!(
        out.status.success(),
        "building e2e-cosim failed:\n{}",
        stderr(&out)
    );
    let before = manifest("e2e-cosim");

    write_hello_module(true);
    let out = xtask_env(
        &e2e_config(),
        &["image", "e2e-cosim"],
        &[("ACALSIM_SRC", &acalsim_src())],
        &[],
    );
    write_hello_module(false);
    assert!(!out.status.success(), "a broken module built");
    let err = stderr(&out);
    assert!(
        err.contains("does not compile against the image's kernel")
            && err.contains("acalsim_hello.c:")
            && err.contains("error: ")
            && err.contains("acalsim_undeclared_symbol")
            && err.contains("image-e2e-cosim.log"),
        "{err}"
    );
    assert_eq!(manifest("e2e-cosim"), before, "the previous image changed");
    let ext4 = image_dir("e2e-cosim").join("rootfs.ext4");
    assert!(ext4.is_file(), "the previous image's rootfs is gone");
}

#[test]
fn doctor_cosim_says_what_is_ready_and_ends_each_missing_line_with_its_fix() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let dir = tempfile::tempdir().unwrap();
    let src = acalsim_src();
    let env = [("ACALSIM_SRC", src.as_path())];
    let ready = config_with(dir.path(), "ready.toml", "[cosim]\nimage = \"e2e-cosim\"");
    let out = xtask_env(&ready, &["doctor", "--cosim"], &env, &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(
            "ok        qemu      QEMU 10.2.2, the project's build, with virtio-sst-device"
        ),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ok        image     `e2e-cosim` built ")
                && l.ends_with(", current")),
        "{text}"
    );
    for line in &lines[..lines.len() - 1] {
        assert!(
            line.starts_with("ok ") || line.contains("  fix: "),
            "a line without its fix: {line}"
        );
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line}"
        );
    }
    assert_eq!(
        lines.last(),
        Some(&"ready: `cargo xtask cosim -- CMD` boots `e2e-cosim`"),
        "{text}"
    );

    let json = xtask_env(&ready, &["doctor", "--cosim", "--json"], &env, &[]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("doctor --cosim --json");
    assert_eq!(
        (&v["ready"], &v["image"]),
        (&serde_json::json!(true), &serde_json::json!("e2e-cosim")),
        "{v}"
    );
    let items: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["item"].as_str())
        .collect();
    assert_eq!(
        items,
        ["qemu", "acalsim", "sst", "image", "snapshot"],
        "{v}"
    );

    // An image that is not built: not ready, and the line says how to build it.
    let unbuilt = config_with(
        dir.path(),
        "unbuilt.toml",
        "[cosim]\nimage = \"e2e-cosim-never-built\"\n\
         [images.e2e-cosim-never-built]\nextends = \"e2e-cosim\"",
    );
    let out = xtask_env(&unbuilt, &["doctor", "--cosim"], &env, &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.lines().any(|l| l.starts_with("missing   image ")
            && l.ends_with("  fix: cargo xtask image e2e-cosim-never-built")),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("not ready: image (run the fix at the end of each line)"),
        "{text}"
    );
    // An image without ACALSim's driver would boot with no /dev/sst0.
    let driverless = config_with(
        dir.path(),
        "driverless.toml",
        "[cosim]\nimage = \"e2e-python\"",
    );
    let out = xtask_env(&driverless, &["doctor", "--cosim"], &env, &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("`e2e-python` has no ACALSim driver  fix: "),
        "{text}"
    );
}
