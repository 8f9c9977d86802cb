//! End-to-end with real Buildroot 2024.02.13 (its Kconfig and `make
//! show-info`), from the local tarball because buildroot.org is not reachable
//! here: the committed defconfig equals the generator's output, the Kconfig
//! check passes on our tree (Linux 6.18, 6.6 headers, ACALSim's driver
//! package) and lists every download with its checksum, it names the seed's
//! four silent losses, bad sources fail early and clearly.

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

/// `xtask --config CONFIG ARGS` with `src` as the Buildroot source (or
/// none) and ACALSim's sources set, as the project image's kernel_modules need.
fn command(config: &std::path::Path, args: &[&str], src: Option<&std::path::Path>) -> Command {
    let mut cmd = Command::new(xtask_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("ACALSIM_SRC", tests::acalsim_src())
        .current_dir(root())
        .stdin(Stdio::null());
    match src {
        Some(src) => cmd.env("ACALSIM_BUILDROOT_SRC", src),
        None => cmd.env_remove("ACALSIM_BUILDROOT_SRC"),
    };
    cmd
}

/// Runs `cmd`, showing its output in the test's log.
fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("starting xtask");
    eprintln!(
        "$ {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    out
}

fn xtask_with(config: &std::path::Path, args: &[&str], src: Option<&std::path::Path>) -> Output {
    output(&mut command(config, args, src))
}

fn project_config() -> PathBuf {
    root().join("acalsim.toml")
}

#[test]
fn committed_defconfig_is_what_the_config_generates() {
    // The defconfig only names the module package: ACALSim's sources are
    // given to make when an image is built, so generating it needs none.
    let mut cmd = command(
        &project_config(),
        &["buildroot", "defconfig", "--check"],
        None,
    );
    let out = output(cmd.env_remove("ACALSIM_SRC"));
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

/// The proof, on the project's own `buildroot-riscv64`: real Kconfig
/// and `make show-info` of Buildroot 2024.02.13 keep Linux 6.18, the toolchain's
/// 6.6 headers and the module package, and the report lists every download
/// with the checksum Buildroot holds for it.
#[test]
fn our_image_keeps_linux_6_18_its_headers_and_the_driver_package_and_lists_each_download_with_its_hash(
) {
    let dl = tempfile::tempdir().unwrap();
    let mut cmd = command(
        &project_config(),
        &["buildroot", "check"],
        Some(&buildroot_src()),
    );
    let out = output(cmd.env("BR2_DL_DIR", dl.path()));
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
    assert!(selected_packages(&text) >= 13, "{text}");

    // The kernel from the .config Kconfig wrote and show-info's versions.
    assert!(
        text.lines().any(|l| l
            == "kernel: linux 6.18 (BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE=\"6.18\"); toolchain headers: \
                linux-headers 6.6.84 (BR2_KERNEL_HEADERS_6_6); acalsim-kernel-modules: selected"),
        "linux 6.18, 6.6 headers and the module package are not all kept:\n{text}"
    );
    assert!(
        stderr(&out).contains("kernel_modules `acalsim:drivers`: ")
            && stderr(&out).contains("/drivers (with ../virtio-device)"),
        "{}",
        stderr(&out)
    );

    // Every download, each with Buildroot's checksum, except the custom kernel.
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  need  "))
        .collect();
    assert!(listed.len() >= 60, "{text}");
    assert!(
        text.contains(&format!(
            "downloads: {} source files (make show-info), 0 already in {};",
            listed.len(),
            dl.path().display()
        )),
        "{text}"
    );
    let unhashed: Vec<&&str> = listed
        .iter()
        .filter(|l| l.contains("  no hash in Buildroot  "))
        .collect();
    assert_eq!(
        unhashed,
        [&"linux/linux-6.18.tar.xz  no hash in Buildroot  https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.18.tar.xz"],
        "{text}"
    );
    assert!(
        text.contains(
            "\n  no hash in Buildroot: linux/linux-6.18.tar.xz: Buildroot does not check it"
        ) && text.contains("BR2_GLOBAL_PATCH_DIR"),
        "{text}"
    );
    // The headers' tarball, with the sha256 of Buildroot's linux/linux.hash.
    assert!(
        listed.contains(&"linux/linux-6.6.84.tar.xz  sha256 7fd20721551a61db347c5ac6ca05818e24058682be4e4389dc51e88d4ac17ba7  https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.6.84.tar.xz"),
        "{text}"
    );
    assert!(
        !text.contains("acalsim-kernel-modules-local"),
        "a local package is copied, not downloaded: {text}"
    );
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

/// Any image's kernel_modules become the external tree's package (Kconfig
/// keeps it: see the test above on the project's image, which has ACALSim's
/// driver); ACALSim's driver on a kernel older than 6.11 is refused early.
#[test]
fn kernel_modules_become_the_external_trees_package_and_acalsims_driver_needs_linux_6_11() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("acalsim.toml");
    let text = std::fs::read_to_string(project_config()).unwrap();
    let with = |extra: &str| {
        std::fs::write(
            &config,
            format!("{text}\n[images.buildroot-kmod]\nextends = \"buildroot-riscv64\"\n{extra}\n"),
        )
        .unwrap();
    };
    let defconfig = |modules: &str| {
        with(&format!("kernel_modules = {modules}"));
        let out = xtask_with(
            &config,
            &["buildroot", "defconfig", "--print", "buildroot-kmod"],
            None,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let package = "\nBR2_PACKAGE_ACALSIM_KERNEL_MODULES=y\n";
    let text_kmod = defconfig("[\"tests/data/kmod-hello\"]");
    assert!(text_kmod.contains(package), "{text_kmod}");
    let text_none = defconfig("[]");
    assert!(!text_none.contains("ACALSIM_KERNEL_MODULES"), "{text_none}");

    // ACALSim's driver on Linux 6.1 is refused before any build, by
    // `buildroot check` and by `image`.
    with(
        "kernel_modules = [\"acalsim:drivers\"]\n[images.buildroot-kmod.buildroot]\n\
         kernel_version = \"6.1.44\"\nkernel_headers = \"6.1\"",
    );
    for args in [
        &["buildroot", "check", "buildroot-kmod"][..],
        &["image", "buildroot-kmod", "--offline"],
    ] {
        let out = xtask_with(&config, args, Some(&buildroot_src()));
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("needs Linux 6.11 or newer")
                && stderr(&out).contains("kernel_version is 6.1.44"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn unreachable_or_wrong_sources_fail_early_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(project_config()).unwrap();

    // The image's ACALSim driver without ACALSim's sources: say which
    // variable to set, before Buildroot is even unpacked.
    let mut cmd = command(
        &project_config(),
        &["buildroot", "check"],
        Some(&buildroot_src()),
    );
    let out = output(cmd.env_remove("ACALSIM_SRC"));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("image `buildroot-riscv64`: kernel_modules `acalsim:drivers`")
            && err.contains("set ACALSIM_SRC=PATH"),
        "{err}"
    );
    assert!(!err.contains("Buildroot 2024.02.13:"), "{err}");

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
        .env("ACALSIM_SRC", tests::acalsim_src())
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
            .env("ACALSIM_SRC", tests::acalsim_src())
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
        "linux/linux-6.18.tar.xz",
        "linux/linux-6.6.84.tar.xz",
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
        err.contains("  linux/linux-6.18.tar.xz  no hash in Buildroot  https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.18.tar.xz"),
        "with its URL: {err}"
    );
    assert!(
        err.contains("  gcc/gcc-12.4.0.tar.xz  sha512 5bd29402cad2"),
        "with Buildroot's checksum: {err}"
    );
    assert!(
        !err.contains("acalsim-kernel-modules-local"),
        "the module package's local sources are no download: {err}"
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
        dl.join("linux/linux-6.6.84.tar.xz"),
        b"placeholder; Buildroot checks the hash when it builds",
    )
    .unwrap();
    let err = stderr(&attempt());
    assert!(!err.contains("  linux/linux-6.6.84.tar.xz"), "{err}");
    assert!(err.contains("  linux/linux-6.18.tar.xz"), "{err}");
    assert!(err.contains("  gcc/gcc-12.4.0.tar.xz"), "{err}");
}
