//! The doctor's report: one table row per tool and the one-line summary.

use super::probe::ToolStatus;

fn status_row(s: &ToolStatus) -> Vec<String> {
    let package = if s.tool.backports {
        format!("{} (backports)", s.tool.package)
    } else {
        s.tool.package.to_string()
    };
    let status = if s.path.is_some() { "ok" } else { "missing" };
    let version = s.version.clone().unwrap_or_else(|| "-".to_string());
    vec![
        s.tool.name.to_string(),
        status.to_string(),
        version,
        package,
        s.tool.purpose.to_string(),
    ]
}

pub(super) fn render_table(statuses: &[ToolStatus]) -> String {
    let header = ["TOOL", "STATUS", "VERSION", "PACKAGE", "PURPOSE"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(statuses.iter().map(status_row))
        .collect();
    format_table(&rows)
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn format_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect();
    lines.join("\n")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::tools::TOOLS;

    #[test]
    fn table_columns_line_up() {
        let rows = vec![
            vec!["TOOL".into(), "STATUS".into(), "V".into()],
            vec!["qemu-img".into(), "missing".into(), "-".into()],
        ];
        assert_eq!(
            format_table(&rows),
            "TOOL      STATUS   V\nqemu-img  missing  -"
        );
        let statuses: Vec<ToolStatus> = TOOLS
            .iter()
            .map(|tool| ToolStatus {
                tool,
                path: None,
                version: None,
            })
            .collect();
        let table = render_table(&statuses);
        let col = table.lines().next().and_then(|l| l.find("STATUS")).unwrap();
        assert!(table.lines().skip(1).all(|l| &l[col..col + 7] == "missing"));
        assert_eq!(
            summary(&statuses[..2]),
            "2 of 2 host checks missing: mmdebstrap, debootstrap"
        );
    }
}
