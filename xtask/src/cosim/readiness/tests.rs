//! `doctor --cosim` on the facts of a ready and a fresh checkout: the
//! lines, the verdict and the JSON.

use super::*;

/// The main checkout on 2026-12-05: everything built, ACALSim set.
fn ready() -> Facts {
    Facts {
        image: "cosim".into(),
        image_needs_acalsim: true,
        qemu: Qemu::Found {
            chosen_by: ChosenBy::Project,
            path: "/c/qemu/46f1/bin/qemu-system-riscv64".into(),
            version: "QEMU emulator version 10.2.2 (acalsim-46f12361e4e8)".into(),
            device: true,
        },
        acalsim: Some(Ok(Found {
            origin: "ACALSIM_SRC=../shared/acalsim/acalsim-qemu-sst-linux-45f4b74.tar.xz".into(),
            what: "a tarball".into(),
        })),
        sst: Some("SST-Core Version (15.1.2)".into()),
        sst_core_set: false,
        sst_side: None,
        built: BuiltState::Current {
            created: "2026-12-05T19:17:07Z".into(),
        },
        snapshot: Snapshot::Current {
            key: "e12ccfaf5f9f3642".into(),
            smp: 2,
            memory_mib: 4096,
            created: "2026-12-05T19:19:14Z".into(),
        },
    }
}

/// A fresh checkout: nothing built, nothing set, the host's QEMU 10.0.
fn fresh() -> Facts {
    Facts {
        qemu: Qemu::Found {
            chosen_by: ChosenBy::Host,
            path: "qemu-system-riscv64".into(),
            version: "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)".into(),
            device: false,
        },
        acalsim: None,
        sst: None,
        built: BuiltState::NotBuilt,
        snapshot: Snapshot::None,
        ..ready()
    }
}

#[test]
fn everything_built_is_ready_and_every_line_is_ok() {
    let r = report(&ready());
    assert!(r.ready);
    assert!(r.items.iter().all(|i| i.ok && i.fix.is_none()), "{r:?}");
    let text = render(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ok        qemu      QEMU 10.2.2, the project's build, with virtio-sst-device"
    );
    assert_eq!(
        lines[1],
        "ok        acalsim   ACALSIM_SRC=../shared/acalsim/acalsim-qemu-sst-linux-45f4b74.tar.xz (a tarball)"
    );
    assert_eq!(
        lines[2],
        "ok        sst       SST-core 15.1.2, the project's build, with element acalsim"
    );
    assert_eq!(
        lines[3],
        "ok        image     `cosim` built 2026-12-05 19:17, current"
    );
    assert!(lines[4].starts_with("ok        snapshot  e12ccfaf5f9f3642 of `cosim` (smp 2, 4096M)"));
    assert_eq!(lines[5], "ready: `cargo xtask cosim -- CMD` boots `cosim`");
    assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
}

#[test]
fn a_fresh_checkout_is_not_ready_and_each_line_ends_with_its_fix() {
    let r = report(&fresh());
    assert!(!r.ready);
    let text = render(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0]
        .starts_with("missing   qemu      QEMU 10.0.2, the host's, has no virtio-sst-device"));
    assert!(
        lines[0].ends_with("  fix: cargo xtask qemu build"),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "missing   acalsim   not set; building QEMU and the image needs them  fix: export ACALSIM_SRC=PATH"
    );
    assert_eq!(
        lines[2],
        "absent    sst       none: the reference peer answers  fix: SST_CORE_SRC=PATH cargo xtask sst build"
    );
    assert!(lines[3].ends_with("`cosim` is not built  fix: cargo xtask image cosim"));
    assert!(
        lines[4].ends_with("  fix: cargo xtask cosim --warm -- true"),
        "{text}"
    );
    assert_eq!(
        lines[5],
        "not ready: qemu, acalsim, image (run the fix at the end of each line)"
    );
    assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
}

#[test]
fn acalsim_and_sst_block_only_when_something_needs_them() {
    let built_without_sources = Facts {
        acalsim: None,
        built: BuiltState::Unchecked {
            created: "2026-12-05T19:17:07Z".into(),
            because: "ACALSim's sources are needed but none are set".into(),
        },
        ..ready()
    };
    let r = report(&built_without_sources);
    assert!(r.ready, "{r:?}");
    assert_eq!(r.items[1].status, Status::Absent);
    assert_eq!(r.items[3].status, Status::Unchecked);
    assert!(r.items[3]
        .fix
        .as_deref()
        .is_some_and(|f| f.starts_with("export ACALSIM_SRC")));
    let real_sst = Facts {
        sst: None,
        sst_side: Some("sst linux_basic.py".into()),
        sst_core_set: true,
        ..ready()
    };
    let r = report(&real_sst);
    assert!(!r.ready);
    assert_eq!(r.items[2].fix.as_deref(), Some("cargo xtask sst build"));
    let outdated = Facts {
        built: BuiltState::Outdated {
            created: "2026-12-05T19:17:07Z".into(),
        },
        ..ready()
    };
    let r = report(&outdated);
    assert!(!r.ready && r.items[3].status == Status::Outdated);
    assert_eq!(r.items[3].fix.as_deref(), Some("cargo xtask image cosim"));
}

#[test]
fn the_report_serializes_with_the_documented_fields() {
    let v = serde_json::to_value(report(&fresh())).unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["image"], "cosim");
    let first = v["items"][0].as_object().unwrap();
    let keys: Vec<&String> = first.keys().collect();
    assert_eq!(keys, ["detail", "fix", "item", "ok", "required", "status"]);
    assert_eq!(v["items"][0]["status"], "missing");
    assert_eq!(v["items"][4]["status"], "absent");
    assert_eq!(v["items"][4]["fix"], "cargo xtask cosim --warm -- true");
}

#[test]
fn an_image_without_acalsims_driver_is_not_ready_however_current() {
    let f = Facts {
        image: "e2e-python".into(),
        image_needs_acalsim: false,
        ..ready()
    };
    let r = report(&f);
    assert!(!r.ready, "{r:?}");
    let text = render(&r);
    assert!(
        text.contains(
            "missing   image     `e2e-python` has no ACALSim driver  fix: [cosim] image with acalsim:drivers\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("not ready: image (run the fix at the end of each line)"),
        "{text}"
    );
}
