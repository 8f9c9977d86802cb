//! End-to-end with real Buildroot 2024.02.13 (its Kconfig and `make
//! show-info`), from the local tarball because buildroot.org is not reachable
//! here: the committed defconfig equals the generator's output, the Kconfig
//! check passes on our tree and names the seed's four silent losses, bad
//! sources fail early and clearly.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use tests::{root, stderr, xtask_bin};

/// The Buildroot source the tests use: ACALSIM_BUILDROOT_SRC if set, else
/// the tarball beside the checkout. Missing is a failure, never a skip.
fn buildroot_src() -> PathBuf {
    if let Some(src) = std::env::var_os("ACALSIM_BUILDROOT_SRC") {
        return PathBuf::from(src);
    }
    let tarball = root().join("../shared/buildroot/buildroot-2024.02.13.tar.xz");
    assert!(
        tarball.is_file(),
        "these tests need Buildroot 2024.02.13's source: {} is missing; set ACALSIM_BUILDROOT_SRC to a checkout or tarball",
        tarball.display()
    );
    tarball
}

fn xtask_with(config: &std::path::Path, args: &[&str], src: Option<&std::path::Path>) -> Output {
    let mut cmd = Command::new(xtask_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null());
    match src {
        Some(src) => cmd.env("ACALSIM_BUILDROOT_SRC", src),
        None => cmd.env_remove("ACALSIM_BUILDROOT_SRC"),
    };
    let out = cmd.output().expect("starting xtask");
    eprintln!(
        "$ xtask {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    out
}

fn project_config() -> PathBuf {
    root().join("acalsim.toml")
}

#[test]
fn committed_defconfig_is_what_the_config_generates() {
    let out = xtask_with(
        &project_config(),
        &["buildroot", "defconfig", "--check"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("acalsim_riscv64_defconfig: up to date"),
        "{}",
        stderr(&out)
    );

    // A config that asks for something else makes the committed file stale.
    let dir = tempfile::tempdir().unwrap();
    let changed = std::fs::read_to_string(project_config())
        .unwrap()
        .replace("\"git\", \"make\",", "\"git\",");
    let config = dir.path().join("acalsim.toml");
    std::fs::write(&config, changed).unwrap();
    let out = xtask_with(&config, &["buildroot", "defconfig", "--check"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("acalsim_riscv64_defconfig (image `buildroot-riscv64`)"),
        "{err}"
    );
    assert!(err.contains("cargo xtask buildroot defconfig"), "{err}");
}

#[test]
fn kconfig_keeps_every_symbol_of_our_tree_and_show_info_lists_the_packages() {
    let out = xtask_with(
        &project_config(),
        &["buildroot", "check"],
        Some(&buildroot_src()),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        stderr(&out).contains("git archive of commit e687e3815f76c1c5ea9fb52b6558bedfe53ab117"),
        "{}",
        stderr(&out)
    );
    assert!(
        text.contains("ok: Kconfig of Buildroot 2024.02.13 keeps every requested symbol"),
        "{text}"
    );
    assert!(
        !text.contains("DROPPED") && !text.contains("CHANGED") && !text.contains("not selected"),
        "{text}"
    );
    // What the seed intends, selected for real (make show-info).
    assert!(selected_packages(&text) >= 12, "{text}");
}

/// N of a check report's `packages: N of N requested are selected`, asserting
/// that every requested package is selected.
fn selected_packages(report: &str) -> u32 {
    let line = report
        .lines()
        .find(|l| l.starts_with("packages: "))
        .expect("a packages line");
    let (n, of) = line
        .trim_start_matches("packages: ")
        .split_once(" of ")
        .unwrap();
    assert_eq!(n, of.split_whitespace().next().unwrap(), "{line}");
    n.parse().unwrap()
}

#[test]
fn the_seeds_symbol_list_loses_four_symbols_and_each_is_named() {
    let seed = root().join("tests/data/seed-pytorch.defconfig");
    let out = xtask_with(
        &project_config(),
        &[
            "buildroot",
            "check",
            "--no-external",
            "--defconfig",
            seed.to_str().unwrap(),
        ],
        Some(&buildroot_src()),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "dropped symbols must fail the check"
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let dropped = |symbol: &str| {
        text.lines()
            .find(|l| l.contains(&format!("DROPPED  {symbol}=y")))
            .map(str::to_string)
    };
    let patchelf = dropped("BR2_PACKAGE_PATCHELF").expect("patchelf is named");
    assert!(patchelf.contains("BR2_PACKAGE_HOST_PATCHELF"), "{patchelf}");
    assert!(dropped("BR2_PACKAGE_NINJA")
        .expect("ninja is named")
        .contains("unknown symbol"));
    let cmake = dropped("BR2_PACKAGE_CMAKE").expect("cmake is named");
    assert!(
        cmake.contains("no prompt") && cmake.contains("BR2_PACKAGE_CMAKE_CTEST"),
        "{cmake}"
    );
    let numpy = dropped("BR2_PACKAGE_PYTHON_NUMPY").expect("numpy is named");
    assert!(
        numpy.contains("BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS=n"),
        "{numpy}"
    );
    assert!(
        stderr(&out).contains("4 requested setting(s) did not survive"),
        "{}",
        stderr(&out)
    );

    // Our external tree's one-line Config.in fix brings numpy back.
    let out = xtask_with(
        &project_config(),
        &["buildroot", "check", "--defconfig", seed.to_str().unwrap()],
        Some(&buildroot_src()),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains("DROPPED  BR2_PACKAGE_PYTHON_NUMPY"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("3 requested setting(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kernel_modules_become_the_external_trees_kernel_module_package_and_kconfig_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("acalsim.toml");
    let text = std::fs::read_to_string(project_config()).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[images.buildroot-kmod]\nextends = \"buildroot-riscv64\"\nkernel_modules = [\"tests/data/kmod-hello\"]\n"),
    )
    .unwrap();
    let out = xtask_with(
        &config,
        &["buildroot", "defconfig", "--print", "buildroot-kmod"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let defconfig_text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        defconfig_text.contains("\nBR2_PACKAGE_ACALSIM_KERNEL_MODULES=y\n"),
        "{defconfig_text}"
    );
    let defconfig = dir.path().join("buildroot_kmod_defconfig");
    std::fs::write(&defconfig, &defconfig_text).unwrap();
    let out = xtask_with(
        &config,
        &[
            "buildroot",
            "check",
            "buildroot-kmod",
            "--defconfig",
            defconfig.to_str().unwrap(),
        ],
        Some(&buildroot_src()),
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{report}\n{}", stderr(&out));
    assert!(
        report.contains("keeps every requested symbol") && !report.contains("DROPPED"),
        "{report}"
    );
    // make show-info selects exactly one package more than the image without modules.
    let base = xtask_with(
        &project_config(),
        &["buildroot", "check"],
        Some(&buildroot_src()),
    );
    assert!(base.status.success(), "{}", stderr(&base));
    assert_eq!(
        selected_packages(&report),
        selected_packages(&String::from_utf8_lossy(&base.stdout)) + 1,
        "acalsim-kernel-modules is not among the selected packages:\n{report}"
    );

    // ACALSim's driver on the image's Linux 6.1 is refused before any build.
    std::fs::write(
        &config,
        format!("{text}\n[images.buildroot-kmod]\nextends = \"buildroot-riscv64\"\nkernel_modules = [\"acalsim:drivers\"]\n"),
    )
    .unwrap();
    let out = Command::new(xtask_bin())
        .args([
            "--config",
            config.to_str().unwrap(),
            "image",
            "buildroot-kmod",
            "--offline",
        ])
        .env("ACALSIM_SRC", tests::acalsim_src())
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs Linux 6.11 or newer"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreachable_or_wrong_sources_fail_early_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(project_config()).unwrap();

    // No network to the git server: the error says how to work offline.
    let config = dir.path().join("git.toml");
    std::fs::write(
        &config,
        base.replace(
            "https://gitlab.com/buildroot.org/buildroot.git",
            "https://buildroot.invalid/buildroot.git",
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(xtask_bin())
        .args(["--config"])
        .arg(&config)
        .args(["buildroot", "check"])
        .env_remove("ACALSIM_BUILDROOT_SRC")
        .env("XDG_CACHE_HOME", cache.path())
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "cannot fetch Buildroot 2024.02.13 from https://buildroot.invalid/buildroot.git"
        ),
        "{err}"
    );
    assert!(err.contains("ACALSIM_BUILDROOT_SRC"), "{err}");

    // A tarball pinned by sha256 that the local file does not match.
    let config = dir.path().join("tarball.toml");
    let tarball_source = base.replace(
        "git = \"https://gitlab.com/buildroot.org/buildroot.git\"\ncommit = \"e687e3815f76c1c5ea9fb52b6558bedfe53ab117\"",
        &format!("tarball = \"https://buildroot.org/downloads/buildroot-2024.02.13.tar.xz\"\nsha256 = \"{}\"", "ab".repeat(32)),
    );
    assert_ne!(
        tarball_source, base,
        "the test's config rewrite did not apply"
    );
    std::fs::write(&config, tarball_source).unwrap();
    let out = xtask_with(&config, &["buildroot", "check"], Some(&buildroot_src()));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("differs from the config's abab"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_downloads_stop_the_build_before_it_starts_and_are_listed() {
    let cache = tempfile::tempdir().unwrap();
    let image_dir = root().join("target/xtask/images/buildroot-riscv64");
    let before = image_dir.join("manifest.json").exists();
    let attempt = || {
        let out = Command::new(xtask_bin())
            .args(["--config"])
            .arg(project_config())
            .args(["image", "buildroot-riscv64", "--offline"])
            .env("ACALSIM_BUILDROOT_SRC", buildroot_src())
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("BR2_DL_DIR")
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        eprintln!("{}", stderr(&out));
        out
    };
    let out = attempt();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let dl = cache.path().join("acalsim/buildroot/dl");
    assert!(
        err.contains(&format!(
            "are not in {} and --offline was given",
            dl.display()
        )),
        "{err}"
    );
    for file in [
        "linux/linux-6.1.44.tar.xz",
        "gcc/gcc-12.4.0.tar.xz",
        "python-numpy/numpy-",
        "llvm/llvm-15.0.3.src.tar.xz",
    ] {
        assert!(
            err.contains(&format!("  {file}")),
            "{file} not listed:\n{err}"
        );
    }
    assert!(
        err.contains("(https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.44.tar.xz)"),
        "with its URL: {err}"
    );
    assert!(
        !err.contains("==> [4/5] make"),
        "the build itself must not start: {err}"
    );
    assert_eq!(
        image_dir.join("manifest.json").exists(),
        before,
        "no image was installed"
    );

    // A pre-filled download directory is used: what is there is not missing.
    std::fs::create_dir_all(dl.join("linux")).unwrap();
    std::fs::write(
        dl.join("linux/linux-6.1.44.tar.xz"),
        b"placeholder; Buildroot checks the hash when it builds",
    )
    .unwrap();
    let err = stderr(&attempt());
    assert!(!err.contains("  linux/linux-6.1.44.tar.xz"), "{err}");
    assert!(err.contains("  gcc/gcc-12.4.0.tar.xz"), "{err}");
}
