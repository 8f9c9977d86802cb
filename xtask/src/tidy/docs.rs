//! The Markdown docs: relative links that resolve, and the README's command
//! table.

use std::path::{Path, PathBuf};

use super::repo::files_under;

/// Relative link targets in Markdown `text`: `[x](t)` and `![x](t)`, without
/// URLs, mail addresses and in-page anchors; `#anchor` suffixes removed.
pub fn relative_links(text: &str) -> Vec<(usize, String)> {
    let mut links = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            rest = &rest[end..];
            let is_external = target.contains("://") || target.starts_with("mailto:");
            if target.is_empty() || is_external || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            links.push((n + 1, path.to_string()));
        }
    }
    links
}

/// Relative links in `dir`'s README.md and docs/**/*.md that point nowhere.
pub fn dead_link_problems(dir: &Path) -> Vec<String> {
    let mut docs: Vec<PathBuf> = files_under(&dir.join("docs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.insert(0, dir.join("README.md"));
    let mut problems = Vec::new();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap_or_default();
        let base = doc.parent().unwrap_or(dir);
        for (line, target) in relative_links(&text) {
            if !base.join(&target).exists() {
                problems.push(format!(
                    "{}:{line}: link to `{target}`, which does not exist",
                    doc.display()
                ));
            }
        }
    }
    problems
}

/// The subcommands the README's `## Commands` table names (`cargo xtask NAME …`).
pub fn readme_commands(readme: &str) -> Vec<String> {
    let table = readme
        .split("\n## Commands")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or("");
    let mut names: Vec<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `cargo xtask "))
        .filter_map(|l| l.split([' ', '`']).next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}
