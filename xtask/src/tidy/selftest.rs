//! The checkers on small trees with exactly the fault each exists to find:
//! each test shows its checker failing on the broken tree and quiet once the
//! fault is fixed, so a checker that silently stops working fails here.

use std::path::Path;

use super::buildroot::{buildroot_utils, check_package_problems};
use super::docs::{dead_link_problems, readme_commands};
use super::imports::import_cycle_problems;
use super::layout::{long_file_problems, long_function_problems};
use super::rust::{full_tier_problems, module_doc_problems, rustfmt_problems};
use super::rust_text::{code_only, test_modules, TestModules};
use super::shell::{shell_dialect, shellcheck_problems};

/// A scratch tree, removed when dropped.
struct Probe(tempfile::TempDir);

impl Probe {
    fn new() -> Self {
        Probe(tempfile::tempdir().expect("a temporary directory"))
    }

    fn dir(&self) -> &Path {
        self.0.path()
    }

    /// Writes `text` to `rel` under the tree, creating directories.
    fn write(&self, rel: &str, text: &str) {
        let path = self.dir().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn rustfmt_check_finds_unformatted_code() {
    let p = Probe::new();
    p.write(
        "Cargo.toml",
        "[package]\nname = \"tidy-probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    );
    p.write("src/lib.rs", "//! Probe.\npub fn f( )->u32{1}\n");
    let fmt = rustfmt_problems(p.dir());
    assert!(
        fmt.iter()
            .any(|p| p.contains("lib.rs") && p.contains("not formatted")),
        "{fmt:?}"
    );
    p.write("src/lib.rs", "//! Probe.\npub fn f() -> u32 {\n    1\n}\n");
    assert_eq!(rustfmt_problems(p.dir()), Vec::<String>::new());
}

#[test]
fn shellcheck_finds_unquoted_variables_and_bashisms_in_sh() {
    let p = Probe::new();
    p.write("guest/job.sh", "#!/bin/sh\nrm -rf $1/data\n");
    p.write("guest/bashism", "#!/bin/sh\n[[ -e x ]] && echo yes\n");
    let sc = shellcheck_problems(p.dir());
    assert!(
        sc.iter()
            .any(|p| p.contains("job.sh") && p.contains("SC2086")),
        "an unquoted variable: {sc:?}"
    );
    assert!(
        sc.iter().any(|p| p.contains("bashism")),
        "[[ ]] in a POSIX sh script: {sc:?}"
    );
    p.write("guest/job.sh", "#!/bin/sh\nrm -rf \"$1/data\"\n");
    p.write("guest/bashism", "#!/bin/sh\n[ -e x ] && echo yes\n");
    assert_eq!(shellcheck_problems(p.dir()), Vec::<String>::new());
}

#[test]
fn module_comment_check_finds_a_file_without_one() {
    let p = Probe::new();
    p.write("src/lib.rs", "//! Probe.\npub fn f() -> u32 {\n    1\n}\n");
    p.write("src/undocumented.rs", "pub fn g() {}\n");
    let docs = module_doc_problems(p.dir());
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert!(docs[0].contains("undocumented.rs:1:"), "{docs:?}");
    p.write(
        "src/undocumented.rs",
        "//! Documented now.\npub fn g() {}\n",
    );
    assert_eq!(module_doc_problems(p.dir()), Vec::<String>::new());
}

#[test]
fn tier_check_finds_a_full_test_without_its_note() {
    let p = Probe::new();
    p.write(
        "tests/boot.rs",
        "//! Boots.\n#[test]\nfn full_boot_is_systemd() {}\n",
    );
    let full = full_tier_problems(p.dir());
    assert!(
        full.len() == 1 && full[0].contains("boot.rs:3:"),
        "a full_ test without its note: {full:?}"
    );
    p.write(
        "tests/boot.rs",
        "//! Boots.\n/// Full tier only: slow.\n#[test]\nfn full_boot_is_systemd() {}\n",
    );
    assert_eq!(full_tier_problems(p.dir()), Vec::<String>::new());
}

#[test]
fn link_check_finds_links_that_point_nowhere() {
    let p = Probe::new();
    p.write(
        "README.md",
        "See [the docs](docs/guide.md), [web](https://example.org) and [here](#top).\n",
    );
    p.write("docs/a.md", "![plot](bench/missing.svg)\n");
    let links = dead_link_problems(p.dir());
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(
        links[0].contains("README.md:1: link to `docs/guide.md`"),
        "{links:?}"
    );
    assert!(
        links[1].contains("a.md:1: link to `bench/missing.svg`"),
        "{links:?}"
    );
    p.write("docs/guide.md", "# Guide\n");
    p.write("docs/bench/missing.svg", "<svg/>\n");
    assert_eq!(dead_link_problems(p.dir()), Vec::<String>::new());
}

#[test]
fn readme_table_and_script_kinds_are_read_right() {
    let readme = "# x\n## Commands\n\n| command | does |\n|---|---|\n| `cargo xtask doctor [--fix]` | d |\n| `cargo xtask buildroot defconfig` | b |\n| `cargo xtask buildroot check` | c |\n| `cargo xtask images` | i |\n\n`--config`\n\n## Where\n| `cargo xtask nope` | x |\n";
    assert_eq!(readme_commands(readme), ["buildroot", "doctor", "images"]);
    assert_eq!(shell_dialect("init", "#!/bin/busybox sh"), Some("sh"));
    assert_eq!(shell_dialect("run", "#!/usr/bin/env bash"), Some("bash"));
    assert_eq!(shell_dialect("x.py", "#!/usr/bin/env python3"), None);
    assert_eq!(shell_dialect("run.sh.in", "# template"), Some("sh"));
    assert_eq!(shell_dialect("notes.txt", "hello"), None);
}

#[test]
fn check_package_reports_a_broken_init_script() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let utils = buildroot_utils(scratch.path());
    let ext = scratch.path().join("ext");
    let init = ext.join("board/x/rootfs-overlay/etc/init.d/S50thing");
    std::fs::create_dir_all(init.parent().unwrap()).unwrap();
    std::fs::write(ext.join("external.desc"), "name: PROBE\ndesc: probe\n").unwrap();
    std::fs::write(&init, "#!/bin/sh\n  echo start\n").unwrap();
    let problems = check_package_problems(&utils, &ext);
    assert!(
        problems.iter().any(|p| p.contains("S50thing")),
        "{problems:?}"
    );
}

/// `(path, text)` pairs, as the layout checks take them.
fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// A function `lines` long (its `fn` line and closing brace included).
fn function(name: &str, lines: usize) -> String {
    let body: String = (0..lines - 2)
        .map(|i| format!("    let _x{i} = 0;\n"))
        .collect();
    format!("fn {name}() {{\n{body}}}\n")
}

#[test]
fn rust_text_blanks_comments_and_literals_but_keeps_lines_and_lifetimes() {
    let text = "fn f<'a>(s: &'a str) -> char { // crate::x }\n    /* { /* nested */ } */ let c = '}';\n    let s = r#\"crate::y \"}\"#; let t = \"\\\"{\"; 'q' }\n";
    let code = code_only(text);
    assert_eq!(code.lines().count(), text.lines().count());
    assert!(
        !code.contains("crate::") && !code.contains("nested"),
        "{code}"
    );
    assert!(code.contains("fn f<'a>(s: &'a str)"), "{code}");
    assert_eq!(code.matches('{').count(), 1, "{code}");
    assert_eq!(code.matches('}').count(), 1, "{code}");
    let tests = "fn a() {}\n#[cfg(test)]\nmod golden;\n#[cfg(test)]\n#[allow(unused)]\nmod tests {\n    fn b() {}\n}\n";
    assert_eq!(
        test_modules(&code_only(tests)),
        TestModules {
            blocks: vec![(3, 7)],
            declared: vec!["golden".into()]
        }
    );
}

#[test]
fn file_length_check_finds_a_file_over_500_lines() {
    let long = "//! Long.\n".repeat(501);
    let problems = long_file_problems(&sources(&[("src/big.rs", &long)]));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("src/big.rs: 501 lines (limit 500)"));
    let ok = "//! Long.\n".repeat(500);
    assert_eq!(
        long_file_problems(&sources(&[("src/big.rs", &ok)])),
        Vec::<String>::new()
    );
}

#[test]
fn function_length_check_finds_a_long_fn_without_a_reason() {
    let text = format!(
        "//! F.\n\n/// Does it.\n#[allow(unused)]\n{}",
        function("long_one", 81)
    );
    let problems = long_function_problems("src", &sources(&[("src/f.rs", &text)]));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("src/f.rs:5: fn long_one is 81 lines (limit 80)")
            && problems[0].contains("// long: <reason>"),
        "{problems:?}"
    );
    // A reason among the doc comment and attributes lets it stay.
    let reason = format!(
        "//! F.\n\n/// Does it.\n// long: one match arm per opcode, a table\n#[allow(unused)]\n{}",
        function("long_one", 81)
    );
    // 80 lines, braces in strings, a trait fn without a body: all fine.
    let fine = format!(
        "//! F.\ntrait T {{\n    fn decl(&self);\n}}\n{}pub(crate) fn strings() {{ let _ = \"}}\"; }}\n",
        function("eighty", 80)
    );
    let empty_reason = format!("//! F.\n// long:\n{}", function("long_one", 81));
    let files = sources(&[
        ("src/reason.rs", &reason),
        ("src/fine.rs", &fine),
        ("src/empty.rs", &empty_reason),
    ]);
    let problems = long_function_problems("src", &files);
    assert!(
        problems.len() == 1 && problems[0].starts_with("src/empty.rs:3: fn long_one"),
        "a `// long:` without a reason does not count: {problems:?}"
    );
}

#[test]
fn function_length_check_skips_test_code() {
    let inline = format!(
        "//! F.\nfn a() {{}}\n\n#[cfg(test)]\nmod tests {{\n{}}}\n",
        function("golden_table", 120)
    );
    let main = "//! Main.\nmod f;\n#[cfg(test)]\nmod golden;\n";
    let golden = format!("//! Golden.\n{}", function("every_case", 120));
    let files = sources(&[
        ("src/main.rs", main),
        ("src/f.rs", &inline),
        ("src/golden.rs", &golden),
    ]);
    assert_eq!(long_function_problems("src", &files), Vec::<String>::new());
    let not_test = format!("//! F.\n{}", function("every_case", 120));
    let files = sources(&[("src/main.rs", main), ("src/f.rs", &not_test)]);
    assert_eq!(long_function_problems("src", &files).len(), 1);
}

#[test]
fn import_loop_check_finds_loops_and_names_what_each_file_takes() {
    let files = sources(&[
        (
            "src/main.rs",
            "//! Main.\nmod a;\nmod b;\nmod x;\nfn main() { a::run(); }\n",
        ),
        (
            "src/a.rs",
            "//! A.\nuse crate::b::{self, Thing};\npub fn run() {}\n",
        ),
        (
            "src/b.rs",
            "//! B.\npub struct Thing;\nfn f() { crate::a::run() }\n",
        ),
        (
            "src/x/mod.rs",
            "//! X.\nmod child;\npub use child::Item;\npub fn helper() {}\n",
        ),
        (
            "src/x/child.rs",
            "//! Child.\nuse super::helper;\npub struct Item;\n",
        ),
    ]);
    let problems = import_cycle_problems("src", &files);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert_eq!(
        problems[0],
        "import loop: src/a.rs -> src/b.rs -> src/a.rs\n    src/a.rs:2 takes crate::b, crate::b::Thing\n    src/b.rs:3 takes crate::a::run"
    );
    assert!(
        problems[1].starts_with("import loop: src/x/mod.rs -> src/x/child.rs -> src/x/mod.rs")
            && problems[1].contains("src/x/mod.rs:3 takes child::Item")
            && problems[1].contains("src/x/child.rs:2 takes super::helper"),
        "a parent re-exporting a child that takes from it: {problems:#?}"
    );
}

#[test]
fn import_loop_check_ignores_comments_strings_tests_and_one_way_uses() {
    let files = sources(&[
        ("src/main.rs", "//! Main.\nmod a;\nmod b;\nmod x;\n"),
        ("src/a.rs", "//! Uses `crate::b::Thing`.\nuse crate::b::Thing;\n"),
        (
            "src/b.rs",
            "//! B.\npub struct Thing;\nconst S: &str = \"crate::a\"; // crate::a\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        ),
        ("src/x/mod.rs", "//! X.\nmod child;\nmod helper;\npub use child::Item;\n"),
        ("src/x/child.rs", "//! Child.\nuse super::helper::help;\npub struct Item;\n"),
        ("src/x/helper.rs", "//! Helper.\npub fn help() {}\n"),
    ]);
    assert_eq!(import_cycle_problems("src", &files), Vec::<String>::new());
}
