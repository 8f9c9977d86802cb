//! The config parser's errors and defaults, from config text.

use super::buildroot as br;
use super::*;

fn sets() -> Vec<String> {
    ["base", "python", "torch"].map(String::from).to_vec()
}

fn err(text: &str) -> String {
    format!("{:#}", parse(text, "acalsim.toml", &sets()).unwrap_err())
}

const GOOD: &str = r#"
default_image = "torch"
[run]
smp = 2
memory = "4G"
[images.small]
suite = "sid"
package_sets = ["base", "python"]
size = "2G"
[images.torch]
extends = "small"
package_sets = ["base", "python", "torch"]
formats = ["ext4", "qcow2"]
run = { memory = "6G" }
"#;

#[test]
fn extends_inherits_and_overrides_keys() {
    let c = parse(GOOD, "acalsim.toml", &sets()).unwrap();
    let t = c.image(None).unwrap();
    assert_eq!(t.name, "torch");
    assert_eq!(t.size, Some(2 << 30));
    assert_eq!(
        t.debian().unwrap().package_sets,
        ["base", "python", "torch"]
    );
    assert_eq!(t.formats, [Format::Ext4, Format::Qcow2]);
    assert_eq!(
        t.run,
        RunDefaults {
            smp: 2,
            memory_mib: 6144
        }
    );
    let s = c.image(Some("small")).unwrap();
    assert_eq!(s.run.memory_mib, 4096);
    assert_eq!(s.debian().unwrap().mirror, "http://deb.debian.org/debian");
    assert_eq!(s.debian().unwrap().bootstrapper, Bootstrapper::Mmdebstrap);
    assert_eq!(s.debian().unwrap().check_valid_until, None);
}

#[test]
fn unknown_key_names_line_and_column() {
    let e = err("[images.a]\nsuite = \"sid\"\npackages = [\"x\"]\n");
    assert!(
        e.starts_with("acalsim.toml:3:1: unknown field `packages`"),
        "{e}"
    );
    assert!(e.contains("package_sets"), "should list valid keys: {e}");
}

#[test]
fn wrong_type_is_located() {
    let e = err("[images.a]\nsize = 4\n");
    assert!(e.starts_with("acalsim.toml:2:8:"), "{e}");
    assert!(e.contains("string"), "{e}");
}

#[test]
fn unknown_image_names_are_rejected_with_valid_names() {
    let e = err("default_image = \"nope\"\n[images.a]\n");
    assert!(
        e.starts_with("acalsim.toml:1:17:") && e.contains("valid: a"),
        "{e}"
    );
    let e = err("[images.a]\nextends = \"b\"\n");
    assert!(
        e.starts_with("acalsim.toml:2:11:") && e.contains("no such image"),
        "{e}"
    );
    let c = parse("[images.a]\n", "f", &sets()).unwrap();
    let e = format!("{:#}", c.image(Some("zz")).unwrap_err());
    assert!(e.contains("unknown image `zz`") && e.contains(": a"), "{e}");
}

#[test]
fn extends_cycle_is_an_error() {
    let e = err("[images.a]\nextends = \"b\"\n[images.b]\nextends = \"a\"\n");
    assert!(e.contains("cycle"), "{e}");
}

#[test]
fn impossible_sizes_are_rejected() {
    for bad in ["1M", "3P", "lots", "-1G", "99999999999999T"] {
        let e = err(&format!("[images.a]\nsize = \"{bad}\"\n"));
        assert!(e.starts_with("acalsim.toml:2:8: size"), "{bad}: {e}");
    }
    let e = err("[images.a]\nrun = { memory = \"64M\" }\n");
    assert!(e.contains("at least 128M"), "{e}");
}

#[test]
fn enumerations_list_valid_values() {
    let e = err("[images.a]\nformats = [\"ext4\", \"vmdk\"]\n");
    assert!(
        e.contains("unknown format `vmdk`; valid: ext4, qcow2, initramfs"),
        "{e}"
    );
    let e = err("[images.a]\nbootstrapper = \"cdebootstrap\"\n");
    assert!(e.contains("valid: mmdebstrap, debootstrap"), "{e}");
    let e = err("[images.a]\npackage_sets = [\"base\", \"torh\"]\n");
    assert!(
        e.contains("unknown package set `torh`; valid: base, python, torch"),
        "{e}"
    );
    let e = err("[images.a]\nextra_package_sets = [\"torh\"]\n");
    assert!(
        e.contains("2:22: unknown package set `torh`; valid: base, python, torch"),
        "{e}"
    );
    let e = err("[images.a]\nflavour = \"arch\"\n");
    assert!(e.contains("valid: debian, buildroot"), "{e}");
    let e = err("[images.a]\nformats = [\"qcow2\"]\n");
    assert!(e.contains("list \"ext4\" too"), "{e}");
    let e = err("[images.a]\nwheels = [\"torch-2.14.tar.gz\"]\n");
    assert!(
        e.contains("acalsim.toml:2:10") && e.contains("is not a wheel file"),
        "{e}"
    );
    let e = err("[images.a]\nremove_packages = [\"Python3-Torch\"]\n");
    assert!(
        e.contains("remove_packages: `Python3-Torch` is not a valid name"),
        "{e}"
    );
}

#[test]
fn buildroot_tables_are_validated_where_they_are_written() {
    let ok = "[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\npackages = [\"python3\", \"python-numpy\"]\n";
    let c = parse(ok, "acalsim.toml", &sets()).unwrap();
    let br = c.image(Some("br")).unwrap().buildroot().cloned().unwrap();
    assert_eq!(br.version, "2024.02.13");
    assert_eq!(br.defconfig, "br");
    assert_eq!(br.libc, "glibc");
    assert!(br.cxx && br.opensbi);
    assert!(
        matches!(br.source, br::Source::Git { ref commit, .. } if commit == br::DEFAULT_COMMIT)
    );
    assert_eq!(c.image(Some("br")).unwrap().flavour.name(), "buildroot");

    let e = err("[images.br]\nflavour = \"buildroot\"\nsuite = \"sid\"\n");
    assert!(
        e.starts_with("acalsim.toml:3:9: `suite` applies to Debian images"),
        "{e}"
    );
    let e = err("[images.d]\n[images.d.buildroot]\nversion = \"2024.02.13\"\n");
    assert!(e.contains("needs `flavour = \"buildroot\"`"), "{e}");
    let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\nlibc = \"bionic\"\n");
    assert!(
        e.contains("acalsim.toml:4:8") && e.contains("valid: glibc, musl, uclibc"),
        "{e}"
    );
    let e =
        err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\ncommit = \"e687e38\"\n");
    assert!(e.contains("full 40-hex-digit commit id"), "{e}");
    let e = err(
        "[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\nversion = \"2026.02.3\"\n",
    );
    assert!(
        e.contains("acalsim.toml:4:11") && e.contains("needs `commit`"),
        "{e}"
    );
    let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\ntarball = \"https://x/b.tar.xz\"\n");
    assert!(e.contains("`tarball` needs `sha256`"), "{e}");
    let e = err(
        "[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\npackages = [\"Python3\"]\n",
    );
    assert!(
        e.contains("`Python3` is not a Buildroot package name"),
        "{e}"
    );
    let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\nsymbols = { PYTHON3_SSL = \"y\" }\n");
    assert!(e.contains("`PYTHON3_SSL` is not a Buildroot symbol"), "{e}");
    let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\npackges = []\n");
    assert!(e.contains("unknown field `packges`"), "{e}");
}

#[test]
fn kernel_headers_are_the_kernels_or_a_series_no_newer_than_it() {
    let table = |keys: &str| {
        format!("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\n{keys}\n")
    };
    let headers = |keys: &str| {
        let c = parse(&table(keys), "acalsim.toml", &sets()).unwrap();
        let br = c.image(Some("br")).unwrap().buildroot().cloned().unwrap();
        br.kernel_headers
    };
    assert_eq!(headers(""), br::KernelHeaders::AsKernel);
    assert_eq!(
        headers("kernel_headers = \"kernel\""),
        br::KernelHeaders::AsKernel
    );
    assert_eq!(
        headers("kernel_version = \"6.18\"\nkernel_headers = \"6.6\""),
        br::KernelHeaders::Series(6, 6)
    );
    let e = err(&table(
        "kernel_version = \"6.18\"\nkernel_headers = \"6.6.84\"",
    ));
    assert!(
        e.contains("acalsim.toml:5:18") && e.contains("such as \"6.6\""),
        "{e}"
    );
    let e = err(&table(
        "kernel_version = \"6.1.44\"\nkernel_headers = \"6.6\"",
    ));
    assert!(
        e.contains("kernel_headers `6.6` is newer than kernel_version `6.1.44`"),
        "{e}"
    );
}

#[test]
fn bad_names_are_rejected() {
    assert!(err("[images.a]\nextra_packages = [\"Python3\"]\n")
        .contains("`Python3` is not a valid name"));
    assert!(err("[images.a]\nhostname = \"my_host\"\n").contains("hostname"));
    assert!(err("[images.a]\nuser = \"root\"\n").contains("other than root"));
    assert!(err("[images.a]\nmirror = \"ftp.debian.org\"\n").contains("http://"));
    assert!(err("[images.Bad]\n").contains("image name `Bad`"));
}

#[test]
fn check_valid_until_accepts_host_or_bool() {
    let c = parse(
        "[images.a]\ncheck_valid_until = false\n[images.b]\ncheck_valid_until = \"host\"\n",
        "f",
        &sets(),
    )
    .unwrap();
    assert_eq!(
        c.images["a"].debian().unwrap().check_valid_until,
        Some(false)
    );
    assert_eq!(c.images["b"].debian().unwrap().check_valid_until, None);
    assert!(err("[images.a]\ncheck_valid_until = \"maybe\"\n").starts_with("acalsim.toml:2:21:"));
}

#[test]
fn sizes_parse_binary_units() {
    assert_eq!(parse_size("4G"), Ok(4 << 30));
    assert_eq!(parse_size("512M"), Ok(512 << 20));
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_size("100"), Ok(100));
    assert!(parse_size("4X").is_err());
}

#[test]
fn kernel_modules_take_acalsim_subdirs_or_paths_once_each() {
    let c = parse(
        "[images.a]\nkernel_modules = [\"acalsim:drivers\", \"mods/hello\"]\n",
        "acalsim.toml",
        &sets(),
    )
    .unwrap();
    assert_eq!(
        c.image(Some("a")).unwrap().kernel_modules,
        [
            KernelModule::Acalsim("drivers".into()),
            KernelModule::Dir("mods/hello".into())
        ]
    );
    let e = err("[images.a]\nkernel_modules = [\"acalsim:../x\"]\n");
    assert!(
        e.starts_with("acalsim.toml:2:18: kernel_modules: `acalsim:../x`"),
        "{e}"
    );
    let e = err("[images.a]\nkernel_modules = [\"m\", \"m\"]\n");
    assert!(e.contains("`m` is listed twice"), "{e}");
}

#[test]
fn the_qemu_table_pins_its_source_or_says_how() {
    let c = parse(GOOD, "acalsim.toml", &sets()).unwrap();
    assert_eq!(c.qemu.version, "10.2.2");
    assert!(
        matches!(&c.qemu.source, QemuSource::Debian { suite, sha256: Some(_), .. } if suite == "sid")
    );
    let e = err(&format!("{GOOD}[qemu]\nsource = \"qemu.tar.xz\"\n"));
    assert!(e.contains("a tarball `source` needs `sha256`"), "{e}");
    let e = err(&format!(
        "{GOOD}[qemu]\nsource = \"~/qemu\"\nsha256 = \"{}\"\n",
        "a".repeat(64)
    ));
    assert!(
        e.contains("a checkout `source` is pinned by `commit`"),
        "{e}"
    );
    let e = err(&format!("{GOOD}[qemu]\ncommit = \"{}\"\n", "a".repeat(40)));
    assert!(e.contains("`commit` pins a local git checkout"), "{e}");
    let e = err(&format!("{GOOD}[qemu]\nversion = \"ten\"\n"));
    assert!(e.contains("version `ten`: expected a QEMU release"), "{e}");
}

#[test]
fn the_cosim_table_gives_defaults_and_names_a_bad_key() {
    let c = parse(GOOD, "acalsim.toml", &sets()).unwrap();
    assert_eq!(c.cosim.sst, None);
    assert_eq!(c.cosim.listen_timeout.as_secs(), 60);
    let c = parse(
        &format!("{GOOD}[cosim]\nimage = \"small\"\nsst = \"sst x.py\"\nsocket = \"/tmp/s.sock\"\nlisten_timeout = 5\n"),
        "acalsim.toml",
        &sets(),
    )
    .unwrap();
    assert_eq!(
        (c.cosim.image.as_deref(), c.cosim.sst.as_deref()),
        (Some("small"), Some("sst x.py"))
    );
    assert_eq!(c.cosim.listen_timeout.as_secs(), 5);
    let e = err(&format!("{GOOD}[cosim]\nsst = \" \"\n"));
    assert!(e.contains("sst is empty"), "{e}");
    let e = err(&format!("{GOOD}[cosim]\nlisten_timeout = 0\n"));
    assert!(e.contains("listen_timeout must be at least 1"), "{e}");
    let e = err(&format!("{GOOD}[cosim]\nimage = \"nope\"\n"));
    assert!(
        e.contains("[cosim] image `nope` is not an image here; valid: "),
        "{e}"
    );
    let e = err(&format!(
        "{GOOD}[cosim]\nsocket = \"/{}\"\n",
        "s".repeat(120)
    ));
    assert!(e.contains("a Unix socket path has at most 107"), "{e}");
    let e = err(&format!("{GOOD}[cosim]\nsst_wait = 3\n"));
    assert!(e.contains("sst_wait"), "{e}");
}
