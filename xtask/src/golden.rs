//! Golden files: for one Debian and one Buildroot manifest, the manifest
//! round trip, `run.sh` and QEMU's argv for the ways `run` boots must stay
//! byte-for-byte what `tests/data/golden/` holds.
//!
//! A deliberate change rewrites them with `ACALSIM_BLESS=1 cargo xtask test
//! --quick -- -E 'test(golden)'`; the diff then shows in review what changed.

use std::path::{Path, PathBuf};

use crate::manifest::Manifest;
use crate::run::argv::argv;
use crate::run::machine::{self, Boot, Console, Forward, MachineOptions, Mode, Port, Share};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/golden")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with ACALSIM_BLESS=1 (see golden.rs)",
            path.display()
        )
    })
}

/// Compares `actual` with the golden file, or writes it when blessing (and
/// says so when that changed it).
fn check(file: &str, actual: &str) {
    let path = golden_dir().join(file);
    if crate::test::blessing().unwrap_or_else(|e| panic!("{e:#}")) {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(actual) {
            std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            eprintln!("ACALSIM_BLESS: rewrote {}", path.display());
        }
        return;
    }
    let expected = read(&path);
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from what the code produces, first at line {}:\n  golden: {:?}\n  actual: {:?}",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

fn manifest(flavour: &str) -> Manifest {
    let path = golden_dir().join(format!("{flavour}-manifest.json"));
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shares() -> Vec<Share> {
    ["job", "scripts", "share"]
        .iter()
        .map(|name| Share {
            name: name.to_string(),
            host: PathBuf::from(format!("/host/{name}")),
            readonly: *name == "scripts",
        })
        .collect()
}

fn ports() -> Vec<Port> {
    ["stdout", "stderr"]
        .iter()
        .map(|p| Port {
            name: format!("acalsim.{p}"),
            socket: PathBuf::from(format!("/run/acalsim/{p}.sock")),
        })
        .collect()
}

/// The ways `run` boots: interactive, a headless job on disk and in RAM,
/// and a job with every option that adds to the command line.
fn cases() -> Vec<(&'static str, MachineOptions)> {
    let interactive = MachineOptions {
        net: true,
        shares: shares(),
        ..crate::run::fixtures::options()
    };
    let job = MachineOptions {
        boot: Boot::Fast,
        job: true,
        console: Console::Socket("/run/acalsim/console.sock".into()),
        ports: ports(),
        ..interactive.clone()
    };
    let initramfs_job = MachineOptions {
        mode: Some(Mode::Initramfs),
        net: false,
        ..job.clone()
    };
    let everything = MachineOptions {
        qemu: "/opt/qemu/bin/qemu-system-riscv64".into(),
        smp: Some(1),
        memory_mib: Some(1536),
        boot: Boot::Full,
        persist: true,
        ssh: true,
        forwards: vec![
            Forward {
                host: 8080,
                guest: 80,
            },
            Forward {
                host: 2222,
                guest: 22,
            },
        ],
        sst_socket: Some("/run/acalsim/sst.sock".into()),
        append: vec!["loglevel=7".into(), "quiet".into()],
        drives: vec!["/data/a.img".into(), "/data/b.img".into()],
        ..job.clone()
    };
    vec![
        ("interactive", interactive),
        ("headless job", job),
        ("initramfs job", initramfs_job),
        ("persistent job with every option", everything),
    ]
}

fn argv_text(m: &Manifest) -> String {
    let mut text = String::new();
    for (name, options) in cases() {
        let machine = machine::plan(m, Path::new("/images/img"), &options)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        text.push_str(&format!("## {name}\n{}\n", machine.qemu.display()));
        for word in argv(&machine) {
            text.push_str(&word.to_string_lossy());
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

fn check_flavour(flavour: &str) {
    let m = manifest(flavour);
    let written = serde_json::to_string_pretty(&m).expect("a manifest serialises") + "\n";
    assert_eq!(
        written,
        read(&golden_dir().join(format!("{flavour}-manifest.json"))),
        "{flavour}-manifest.json does not survive a read and a write unchanged"
    );
    let template = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/run.sh.in"));
    check(
        &format!("{flavour}.run.sh"),
        &crate::output::render_run_script(&template, &m),
    );
    check(&format!("{flavour}.argv"), &argv_text(&m));
}

#[test]
fn golden_debian_manifest_run_script_and_argv() {
    check_flavour("debian");
}

#[test]
fn golden_buildroot_manifest_run_script_and_argv() {
    check_flavour("buildroot");
}

/// Every image of the project's and the tests' configs as the content key
/// sees it: a change here changes every image key, so every user rebuilds.
#[test]
fn golden_image_key_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sets: Vec<String> = std::fs::read_dir(root.join("debian/packages"))
        .expect("debian/packages")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".list").map(str::to_string)
        })
        .collect();
    let mut text = String::new();
    for file in ["acalsim.toml", "tests/configs/e2e.toml"] {
        let config = crate::config::load(&root.join(file), &sets)
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
        for (name, image) in &config.images {
            let json = image.key_input().expect("an image serialises");
            text.push_str(&format!("{file} {name}\n{json}\n"));
        }
    }
    check("image-key-inputs.txt", &text);
}
