//! The doctor's report: one table row per tool, the note on backports, the
//! one-line summary, and the same as JSON (`doctor --json`).

use std::path::PathBuf;

use serde::Serialize;

use super::probe::ToolStatus;
use super::tools::Source;
use crate::table::format_table;

/// Marks a package that comes from bookworm-backports on Debian 12.
const BACKPORTS_MARK: &str = "*";

fn package_cell(s: &ToolStatus) -> String {
    match s.tool.source {
        Source::Debian => s.tool.package.to_string(),
        Source::Backports => format!("{}{BACKPORTS_MARK}", s.tool.package),
        Source::Cargo => format!("{} (cargo)", s.tool.package),
    }
}

fn status_row(s: &ToolStatus) -> Vec<String> {
    let status = if s.path.is_some() { "ok" } else { "missing" };
    vec![
        s.tool.name.to_string(),
        status.to_string(),
        s.version().unwrap_or_else(|| "-".to_string()),
        package_cell(s),
        s.tool.purpose.to_string(),
    ]
}

/// The table, then what the backports mark means.
pub(super) fn render_table(statuses: &[ToolStatus]) -> String {
    let header = ["TOOL", "STATUS", "VERSION", "PACKAGE", "PURPOSE"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(statuses.iter().map(status_row))
        .collect();
    let mut text = format_table(&rows);
    if statuses.iter().any(|s| s.tool.backports()) {
        text += &format!("\n{BACKPORTS_MARK} from bookworm-backports on Debian 12");
    }
    text
}

pub(super) fn summary(statuses: &[ToolStatus]) -> String {
    let missing: Vec<&str> = statuses
        .iter()
        .filter(|s| s.path.is_none())
        .map(|s| s.tool.name)
        .collect();
    if missing.is_empty() {
        format!("all {} host checks ok", statuses.len())
    } else {
        format!(
            "{} of {} host checks missing: {}",
            missing.len(),
            statuses.len(),
            missing.join(", ")
        )
    }
}

/// `doctor --json`: every check, and what fixes the missing ones.
#[derive(Serialize, Debug)]
pub struct Report {
    /// True when every check passed.
    pub ok: bool,
    pub tools: Vec<ToolJson>,
    /// Root shell commands that install what is missing (`doctor --fix` runs them).
    pub fix_as_root: Vec<String>,
    /// Commands the user who runs the tests runs (`cargo install …`).
    pub fix_as_user: Vec<String>,
}

/// One check of `doctor --json`.
#[derive(Serialize, Debug, PartialEq)]
pub struct ToolJson {
    pub name: &'static str,
    pub ok: bool,
    /// The version number, e.g. `1.5.4`.
    pub version: Option<String>,
    /// The line it was read from, e.g. `*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***`.
    pub banner: Option<String>,
    pub path: Option<PathBuf>,
    /// The Debian package or Rust crate that provides it, and where that comes from.
    pub package: &'static str,
    pub source: Source,
    pub purpose: &'static str,
}

pub(super) fn report(
    statuses: &[ToolStatus],
    fix_as_root: Vec<String>,
    fix_as_user: Vec<String>,
) -> Report {
    Report {
        ok: statuses.iter().all(|s| s.path.is_some()),
        tools: statuses
            .iter()
            .map(|s| ToolJson {
                name: s.tool.name,
                ok: s.path.is_some(),
                version: s.version(),
                banner: s.banner.clone(),
                path: s.path.clone(),
                package: s.tool.package,
                source: s.tool.source,
                purpose: s.tool.purpose,
            })
            .collect(),
        fix_as_root,
        fix_as_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::tools::TOOLS;

    fn all(path: Option<&str>, banner: Option<&str>) -> Vec<ToolStatus> {
        TOOLS
            .iter()
            .map(|tool| ToolStatus {
                tool,
                path: path.map(PathBuf::from),
                banner: banner.map(String::from),
            })
            .collect()
    }

    #[test]
    fn missing_tools_line_up_and_are_summed_up() {
        let statuses = all(None, None);
        let table = render_table(&statuses);
        let col = table.lines().next().and_then(|l| l.find("STATUS")).unwrap();
        let rows = table.lines().skip(1).take(TOOLS.len());
        assert!(rows.clone().all(|l| &l[col..col + 7] == "missing"));
        assert!(table.ends_with("\n* from bookworm-backports on Debian 12"));
        assert!(table.contains("qemu-system-misc* ") && table.contains("cargo-nextest (cargo) "));
        assert_eq!(
            summary(&statuses[..2]),
            "2 of 2 host checks missing: mmdebstrap, debootstrap"
        );
    }

    #[test]
    fn rows_fit_100_columns_and_show_the_version_not_the_banner() {
        let banner = "QEMU emulator version 10.0.12 (Debian 1:10.0.12+ds-2+deb13u1~bpo12+1)";
        let table = render_table(&all(Some("/usr/bin/x"), Some(banner)));
        for line in table.lines() {
            assert!(line.chars().count() <= 100, "{} wide: {line}", line.len());
        }
        assert!(
            table.contains("  ok      10.0.12  ") && !table.contains("Debian 1:"),
            "{table}"
        );
    }

    #[test]
    fn the_json_report_names_each_check_with_its_version_and_source() {
        let statuses = all(
            Some("/usr/bin/zstd"),
            Some("*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***"),
        );
        let r = report(&statuses[8..9], vec![], vec![]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["tools"][0]["name"], "zstd");
        assert_eq!(v["tools"][0]["version"], "1.5.4");
        assert_eq!(v["tools"][0]["source"], "debian");
        assert_eq!(v["tools"][0]["path"], "/usr/bin/zstd");
        let keys: Vec<&String> = v["tools"][0].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["banner", "name", "ok", "package", "path", "purpose", "source", "version"]
        );
        assert_eq!(
            serde_json::to_value(report(
                &all(None, None),
                vec!["apt-get update".into()],
                vec![]
            ))
            .unwrap()["ok"],
            false
        );
    }
}
