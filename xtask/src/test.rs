//! `cargo xtask test`: the tiers of the suite through cargo-nextest, with the
//! end-to-end tests pointed at this very xtask binary so they drive exactly the
//! code under test, and a table of every test's wall time, slowest first.
//!
//! nextest rather than `cargo test`: it times every test, reports slow ones as
//! they run and writes a JUnit file, which is read back here for the table
//! (libtest on stable Rust prints no per-test times).

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::flags;
use crate::project::Project;

/// Which tests a run selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Unit tests, tidy, config errors: no image build, no QEMU.
    Quick,
    /// What CI runs: everything but the `full_…` tests.
    Ci,
    /// Everything.
    Full,
}

impl Tier {
    pub fn from_flags(flags: &flags::Test) -> Tier {
        match (flags.quick, flags.full) {
            (true, _) => Tier::Quick,
            (_, true) => Tier::Full,
            _ => Tier::Ci,
        }
    }

    /// The nextest filterset of the tier (`None`: every test).
    pub fn filterset(self) -> Option<&'static str> {
        match self {
            // xtask's unit tests (tidy among them) are a binary's; the tests
            // crate's own library tests are a lib's.
            Tier::Quick => Some("kind(bin) | kind(lib) | binary(config_errors)"),
            Tier::Ci => Some("not test(/^full_/)"),
            Tier::Full => None,
        }
    }
}

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// Ignored or not run: never counted as a pass.
    Skip,
}

/// One test's result from nextest's JUnit report.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTime {
    /// `binary test_name`, as nextest prints it.
    pub name: String,
    pub secs: f64,
    pub outcome: Outcome,
}

pub fn run(project: &Project, flags: &flags::Test) -> Result<()> {
    let sh = &project.sh;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    if cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_err()
    {
        bail!("cargo-nextest is not installed (the test runner: per-test times, a JUnit report): `cargo install --locked cargo-nextest`");
    }
    let blessing = blessing()?;
    let tier = Tier::from_flags(flags);
    let junit = project.root.join("target/nextest/default/junit.xml");
    let _ = std::fs::remove_file(&junit); // never report a previous run's times
    let args = nextest_args(tier, &flags.args);
    let outcome = cmd!(sh, "cargo nextest run --workspace {args...}")
        .env("ACALSIM_XTASK", &exe)
        .run();
    report_times(project, &junit)?;
    if blessing {
        report_blessed(sh)?;
    }
    outcome.context("some tests failed (see above)")
}

/// After a run with `ACALSIM_BLESS`: the golden files it rewrote, as git sees them.
fn report_blessed(sh: &xshell::Shell) -> Result<()> {
    let changed = cmd!(sh, "git status --porcelain -- tests/data/golden")
        .quiet()
        .read()
        .context("asking git which golden files the run rewrote")?;
    if changed.trim().is_empty() {
        eprintln!("ACALSIM_BLESS: no golden file changed");
    } else {
        eprintln!("ACALSIM_BLESS rewrote these golden files (review the diff):\n{changed}");
    }
    Ok(())
}

/// Whether `ACALSIM_BLESS` asks to rewrite the golden files; refused under
/// CI, where a rewrite would turn every golden test into a pass.
pub fn blessing() -> anyhow::Result<bool> {
    bless_mode(
        std::env::var_os("ACALSIM_BLESS").is_some(),
        std::env::var("CI").ok().as_deref(),
    )
}

fn bless_mode(bless: bool, ci: Option<&str>) -> anyhow::Result<bool> {
    let in_ci = ci.is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    if bless && in_ci {
        anyhow::bail!("ACALSIM_BLESS is set while CI is: golden files are blessed on a developer's machine and reviewed, never rewritten by CI (unset ACALSIM_BLESS)");
    }
    Ok(bless)
}

/// nextest's arguments for `tier` and the user's `args`. nextest runs the
/// union of several `-E` filtersets, so a user's `-E F` is folded into the
/// tier's as `(TIER) & (F)`: it narrows the tier, never widens it.
pub fn nextest_args(tier: Tier, args: &[String]) -> Vec<String> {
    let mut user_filters = Vec::new();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-E" | "--filterset" | "--filter-expr" => user_filters.extend(it.next().cloned()),
            _ => rest.push(a.clone()),
        }
    }
    let mut filter: Vec<String> = tier
        .filterset()
        .map(|f| format!("({f})"))
        .into_iter()
        .collect();
    filter.extend(user_filters.iter().map(|f| format!("({f})")));
    let mut out = Vec::new();
    if !filter.is_empty() {
        out.push("-E".to_string());
        out.push(filter.join(" & "));
    }
    out.extend(rest);
    out
}

/// Prints (and saves) the table of wall times from the JUnit report.
fn report_times(project: &Project, junit: &Path) -> Result<()> {
    let Ok(xml) = std::fs::read_to_string(junit) else {
        eprintln!("note: no test report at {}: nothing ran", junit.display());
        return Ok(());
    };
    let mut times = parse_junit(&xml);
    times.sort_by(|a, b| b.secs.total_cmp(&a.secs));
    let table = times_table(&times);
    println!("\n{table}");
    let out = project.root.join("target/xtask/test-times.md");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, &table).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Every `<testcase>` of a nextest JUnit report: its name, time and whether it passed.
pub fn parse_junit(xml: &str) -> Vec<TestTime> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<testcase ") {
        rest = &rest[start + "<testcase ".len()..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let self_closing = tag.ends_with('/');
        let body = if self_closing {
            ""
        } else {
            &rest[..rest.find("</testcase>").unwrap_or(rest.len())]
        };
        let attr = |key: &str| attribute(tag, key).unwrap_or_default();
        let outcome = if body.contains("<failure") || body.contains("<error") {
            Outcome::Fail
        } else if body.contains("<skipped") {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        out.push(TestTime {
            name: format!("{} {}", attr("classname"), attr("name")),
            secs: attr("time").parse().unwrap_or(0.0),
            outcome,
        });
    }
    out
}

/// The unescaped value of `key="…"` in a tag's attributes.
fn attribute(tag: &str, key: &str) -> Option<String> {
    let padded = format!(" {tag}");
    let needle = format!(" {key}=\"");
    let start = padded.find(&needle)? + needle.len();
    let value = &padded[start..];
    let value = &value[..value.find('"')?];
    Some(
        value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// A Markdown table of `times` in the order given, with the total and the
/// count of each outcome.
pub fn times_table(times: &[TestTime]) -> String {
    let total: f64 = times.iter().map(|t| t.secs).sum();
    let count = |o: Outcome| times.iter().filter(|t| t.outcome == o).count();
    let mut s = format!(
        "Test wall times, slowest first ({} tests: {} passed, {} failed, {} skipped; {:.0} s in all)\n\n| time | result | test |\n|---:|---|---|\n",
        times.len(),
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::Skip),
        total
    );
    for t in times {
        let result = match t.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skipped",
        };
        s.push_str(&format!("| {:.1} s | {result} | {} |\n", t.secs, t.name));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" failures="1" errors="0" uuid="x" timestamp="t" time="12.5">
    <testsuite name="tests::run" tests="2" disabled="0" errors="0" failures="1">
        <testcase name="ctrl_c_stops_the_guest" classname="tests::run" timestamp="t" time="10.250">
        </testcase>
        <testcase name="timeout_&quot;kills&quot;" classname="tests::run" timestamp="t" time="2.000">
            <failure type="test failure">thread panicked</failure>
            <system-err>boom</system-err>
        </testcase>
    </testsuite>
    <testsuite name="xtask::bin/xtask" tests="1">
        <testcase name="qemu::tests::argv" classname="xtask::bin/xtask" timestamp="t" time="0.250"/>
        <testcase name="qemu::tests::ignored" classname="xtask::bin/xtask" timestamp="t" time="0.000">
            <skipped/>
        </testcase>
    </testsuite>
</testsuites>"#;

    #[test]
    fn junit_report_gives_names_times_and_results() {
        let times = parse_junit(REPORT);
        assert_eq!(
            times,
            [
                TestTime {
                    name: "tests::run ctrl_c_stops_the_guest".into(),
                    secs: 10.25,
                    outcome: Outcome::Pass
                },
                TestTime {
                    name: "tests::run timeout_\"kills\"".into(),
                    secs: 2.0,
                    outcome: Outcome::Fail
                },
                TestTime {
                    name: "xtask::bin/xtask qemu::tests::argv".into(),
                    secs: 0.25,
                    outcome: Outcome::Pass
                },
                TestTime {
                    name: "xtask::bin/xtask qemu::tests::ignored".into(),
                    secs: 0.0,
                    outcome: Outcome::Skip
                },
            ]
        );
    }

    #[test]
    fn table_lists_every_test_with_its_time_and_the_total() {
        let table = times_table(&parse_junit(REPORT));
        assert!(
            table.contains("(4 tests: 2 passed, 1 failed, 1 skipped; 12 s in all)"),
            "{table}"
        );
        assert!(
            table.contains("| 0.0 s | skipped | xtask::bin/xtask qemu::tests::ignored |"),
            "a skipped test is not a pass: {table}"
        );
        assert!(
            table.contains("| 10.2 s | pass | tests::run ctrl_c_stops_the_guest |"),
            "{table}"
        );
        assert!(table.contains("| 2.0 s | FAIL |"), "{table}");
    }

    #[test]
    fn a_users_filterset_narrows_the_tier() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            nextest_args(Tier::Ci, &args(&["-E", "test(ssh)", "--no-capture"])),
            ["-E", "(not test(/^full_/)) & (test(ssh))", "--no-capture"]
        );
        assert_eq!(
            nextest_args(Tier::Full, &args(&["-E", "test(x)"])),
            ["-E", "(test(x))"]
        );
        assert_eq!(
            nextest_args(Tier::Full, &args(&["bad_config"])),
            ["bad_config"]
        );
    }

    #[test]
    fn blessing_is_refused_under_ci() {
        assert!(!bless_mode(false, Some("true")).unwrap());
        assert!(bless_mode(true, None).unwrap());
        assert!(bless_mode(true, Some("false")).unwrap());
        let e = bless_mode(true, Some("true")).unwrap_err().to_string();
        assert!(e.contains("never rewritten by CI"), "{e}");
    }

    #[test]
    fn tiers_select_by_kind_and_name() {
        let quick = Tier::Quick.filterset().unwrap();
        assert!(quick.contains("kind(bin)") && quick.contains("binary(config_errors)"));
        assert_eq!(Tier::Ci.filterset(), Some("not test(/^full_/)"));
        assert_eq!(Tier::Full.filterset(), None);
    }
}
