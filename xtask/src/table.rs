//! Text for people to read on a terminal: aligned columns, cells cut to a
//! width, and prose wrapped to one. Pure functions over strings; every
//! listing (`doctor`, `images`, `snapshots`, `qemu info`) lays out with them.

/// Left-aligned columns two spaces apart; the last column is not padded.
pub fn format_table(rows: &[Vec<String>]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up_and_the_last_is_not_padded() {
        let rows = vec![
            vec!["TOOL".into(), "STATUS".into(), "V".into()],
            vec!["qemu-img".into(), "missing".into(), "-".into()],
        ];
        assert_eq!(
            format_table(&rows),
            "TOOL      STATUS   V\nqemu-img  missing  -"
        );
    }
}
