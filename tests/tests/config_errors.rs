//! A bad acalsim.toml is refused before anything is written: the error names
//! the file, line and column and what would be valid, and the exit is non-zero.

use tests::{image_dir, stderr, xtask, xtask_env};

/// Writes `text` as a config, runs `image NAME` on it with a fresh user
/// cache, and returns stderr. Before anything else an image build writes its
/// build directory, its log and the user cache (the base layers): none of
/// them may exist after a refusal.
fn refused(text: &str, name: Option<&str>) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, text).unwrap();
    let cache = dir.path().join("cache");
    let mut args = vec!["image"];
    args.extend(name);
    let out = xtask_env(&config, &args, &[("XDG_CACHE_HOME", &cache)], &[]);
    assert!(!out.status.success(), "a bad config must fail:\n{text}");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !cache.exists(),
        "a refused config wrote the user cache: {}",
        cache.display()
    );
    let xtask_dir = tests::root().join("target/xtask");
    for image in ["bad-one", "bad-two", "bad-three"] {
        for written in [
            xtask_dir.join("build").join(image),
            image_dir(image),
            xtask_dir.join("logs").join(format!("image-{image}.log")),
        ] {
            assert!(
                !written.exists(),
                "a refused config wrote {}",
                written.display()
            );
        }
    }
    (stderr(&out), config.display().to_string())
}

/// `run` with a size or count the guest cannot boot with is refused before
/// anything starts, naming the flag and the valid range.
#[test]
fn run_refuses_memory_below_the_boot_minimum_and_smp_outside_qemus_range() {
    let config = tests::root().join("tests/configs/e2e.toml");
    for (args, says) in [
        (
            &["run", "--memory", "512K", "--", "true"][..],
            "at least 128M",
        ),
        (&["run", "--memory", "100M", "--", "true"], "at least 128M"),
        (
            &["run", "--memory", "133121K", "--", "true"],
            "whole number of MiB",
        ),
        (&["run", "--smp", "0", "--", "true"], "1 to 512"),
        (&["run", "--smp", "513", "--", "true"], "1 to 512"),
        (&["pytorch", "build", "--smp", "0"], "1 to 512"),
    ] {
        let out = tests::xtask(&config, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} must say `{says}`: {err}");
        let flag = args.iter().position(|a| a.starts_with("--")).unwrap();
        let value = args[flag + 1];
        assert!(
            err.contains(&format!("'{value}'")) && err.contains(args[flag]),
            "{args:?} names the flag and its value: {err}"
        );
    }
}

#[test]
fn unknown_key_is_located_and_valid_keys_listed() {
    let (err, file) = refused(
        "[images.bad-one]\nsuite = \"sid\"\npackages = [\"python3\"]\n",
        None,
    );
    assert!(
        err.contains(&format!("{file}:3:1: unknown field `packages`")),
        "{err}"
    );
    assert!(
        err.contains("extra_packages"),
        "the valid keys are listed: {err}"
    );
}

#[test]
fn wrong_type_is_located() {
    let (err, file) = refused("[images.bad-one]\nsize = 4096\n", None);
    assert!(
        err.contains(&format!("{file}:2:8:")) && err.contains("expected a string"),
        "{err}"
    );
}

#[test]
fn unknown_image_on_the_command_line_lists_images() {
    let (err, _) = refused("[images.bad-one]\n[images.bad-two]\n", Some("bad-three"));
    assert!(
        err.contains("unknown image `bad-three`") && err.contains("bad-one, bad-two"),
        "{err}"
    );
}

#[test]
fn unknown_default_or_parent_image_is_located() {
    let (err, file) = refused("default_image = \"nope\"\n[images.bad-one]\n", None);
    assert!(
        err.contains(&format!("{file}:1:17: default_image `nope`"))
            && err.contains("valid: bad-one"),
        "{err}"
    );
    let (err, file) = refused("[images.bad-one]\nextends = \"ghost\"\n", None);
    assert!(
        err.contains(&format!("{file}:2:11:")) && err.contains("no such image"),
        "{err}"
    );
}

#[test]
fn impossible_size_is_refused() {
    let (err, file) = refused("[images.bad-one]\nsize = \"10M\"\n", None);
    assert!(
        err.contains(&format!("{file}:2:8: size `10M` is impossible")) && err.contains("\"auto\""),
        "{err}"
    );
    let (err, _) = refused("[images.bad-one]\nsize = \"4Q\"\n", None);
    assert!(err.contains("unknown unit `Q`"), "{err}");
}

#[test]
fn unknown_package_set_and_format_list_the_valid_ones() {
    let (err, file) = refused(
        "[images.bad-one]\npackage_sets = [\"base\", \"pytorch\"]\n",
        None,
    );
    assert!(
        err.contains(&format!(
            "{file}:2:16: unknown package set `pytorch`; valid: base, python, pytorch-build, torch"
        )),
        "{err}"
    );
    let (err, _) = refused("[images.bad-one]\nformats = [\"vdi\"]\n", None);
    assert!(
        err.contains("unknown format `vdi`; valid: ext4, qcow2, initramfs"),
        "{err}"
    );
}

#[test]
fn bad_package_name_and_bootstrapper_are_refused() {
    let (err, _) = refused("[images.bad-one]\nextra_packages = [\"Python3\"]\n", None);
    assert!(err.contains("`Python3` is not a valid name"), "{err}");
    let (err, _) = refused("[images.bad-one]\nbootstrapper = \"febootstrap\"\n", None);
    assert!(err.contains("valid: mmdebstrap, debootstrap"), "{err}");
}

#[test]
fn syntax_error_is_located() {
    let (err, file) = refused("[images.bad-one\nsuite = \"sid\"\n", None);
    assert!(err.contains(&format!("{file}:1:")), "{err}");
}

#[test]
fn missing_config_file_is_named() {
    let out = xtask(
        std::path::Path::new("/nonexistent/acalsim.toml"),
        &["image"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("reading config /nonexistent/acalsim.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_project_config_is_valid() {
    let out = xtask(&tests::root().join("acalsim.toml"), &["images"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.lines().any(|l| l.starts_with("debian-sid-torch* ")),
        "the default image is marked: {listing}"
    );
    let json = xtask(&tests::root().join("acalsim.toml"), &["images", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["default_image"], "debian-sid-torch", "{v}");
}

/// A bad experiment file is refused at its line and column before the sweep
/// writes anything (its results directory is not even created).
#[test]
fn a_bad_experiment_file_is_located_and_the_sweep_writes_nothing() {
    let config = tests::root().join("tests/configs/e2e.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let out_arg = out.display().to_string();
    for (text, says) in [
        (
            "command = [\"echo\", \"{count}\"]\n[matrix]\nn = [1, 2]\n",
            ":1:20: command: unknown `{count}`; valid here: {n}, {repeat}",
        ),
        (
            "command = [\"echo\", \"{n}\"]\n[matrix]\nn = 4\n",
            ":3:5: [matrix] n: not a list; give its values as one, e.g. n = [1, 2, 4]",
        ),
        (
            "command = [\"echo\"]\n[matrix]\n",
            ":2:1: [matrix]: no parameters",
        ),
    ] {
        let file = dir.path().join("exp.toml");
        std::fs::write(&file, text).unwrap();
        let file_arg = file.display().to_string();
        let run = xtask(&config, &["sweep", &file_arg, "--out", &out_arg]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(1), "{err}");
        assert!(
            err.starts_with(&format!("error: {file_arg}{says}")),
            "expected `{file_arg}{says}`:\n{err}"
        );
        assert!(
            !out.exists(),
            "a refused experiment created {}",
            out.display()
        );
    }
}

/// `doctor` fits its rows in 100 columns with versions, not banners, checks
/// the test runner, and says the same as JSON.
#[test]
fn doctor_rows_are_short_and_its_json_names_every_tool() {
    let config = tests::root().join("acalsim.toml");
    let out = xtask(&config, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line}"
        );
        assert!(!line.contains("***"), "a raw banner: {line}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("cargo-nextest ")),
        "{text}"
    );
    let json = xtask(&config, &["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("doctor --json");
    let tools = v["tools"].as_array().expect("tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(
        names.contains(&"mmdebstrap") && names.contains(&"cargo-nextest"),
        "{names:?}"
    );
    assert_eq!(
        json.status.code(),
        out.status.code(),
        "doctor and doctor --json disagree"
    );
    assert_eq!(v["ok"], out.status.success(), "{v}");
    let zstd = tools.iter().find(|t| t["name"] == "zstd").expect("zstd");
    assert!(
        zstd["version"]
            .as_str()
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.')),
        "{zstd}"
    );
}
