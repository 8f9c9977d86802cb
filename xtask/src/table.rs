//! Text for people to read on a terminal: aligned columns, cells cut to a
//! width, and prose wrapped to one. Pure functions over strings; every
//! listing (`doctor`, `images`, `snapshots`, `qemu info`) lays out with them.

/// What the listings aim to fit: a terminal split beside an editor.
pub const WIDTH: usize = 100;

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

/// `text`, cut to `width` characters with an ellipsis.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept = width.saturating_sub(1);
    text.chars().take(kept).chain(['…']).collect()
}

/// `text` wrapped at spaces into lines of at most `width` characters (a
/// longer word gets a line of its own); lines after the first start with
/// `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if line.is_empty() {
            if !lines.is_empty() {
                line.push_str(indent);
            }
        } else {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.join("\n")
}

/// `2026-12-05T19:17:07Z` → `2026-12-05 19:17` (UTC, as the records keep
/// it); anything else as it is.
pub fn short_time(created: &str) -> String {
    match (created.get(..10), created.get(10..11), created.get(11..16)) {
        (Some(day), Some("T"), Some(time)) => format!("{day} {time}"),
        _ => created.to_string(),
    }
}

/// `field  value` lines, the values aligned and wrapped to [`WIDTH`].
pub fn fields(rows: &[(&str, String)]) -> String {
    let name_width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let value_width = WIDTH.saturating_sub(name_width + 2).max(20);
    let mut lines = Vec::new();
    for (k, v) in rows {
        for (i, line) in wrap(v, value_width, "").lines().enumerate() {
            let name = if i == 0 { *k } else { "" };
            lines.push(format!("{name:<name_width$}  {line}"));
        }
    }
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

    #[test]
    fn long_text_is_cut_to_the_column() {
        assert_eq!(fit("torch", 16), "torch");
        assert_eq!(fit("torch,transformers,x", 16), "torch,transform…");
        assert_eq!(fit("torch,transformers,x", 16).chars().count(), 16);
    }

    #[test]
    fn record_times_read_to_the_minute() {
        assert_eq!(short_time("2026-12-05T19:17:07Z"), "2026-12-05 19:17");
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn prose_wraps_at_spaces_with_an_indent() {
        assert_eq!(wrap("a bb ccc dddd", 6, "  "), "a bb\n  ccc\n  dddd");
        assert_eq!(wrap("one", 80, "    "), "one");
        assert_eq!(wrap("a verylongword b", 4, ""), "a\nverylongword\nb");
    }

    #[test]
    fn fields_line_up_and_long_values_wrap_under_their_column() {
        let text = fields(&[("source", "word ".repeat(40)), ("key", "k".into())]);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("        word"));
        assert!(text.ends_with("\nkey     k"), "{text}");
    }
}
