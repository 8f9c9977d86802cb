//! The help as the tool takes it: the texts the checks read (every
//! command's long help, the README and docs/), the guest paths under
//! /mnt/scripts/ they name, which must be files in guest-scripts/ (the
//! guest's /mnt/scripts), and every default written one way, "(default: …)"
//! in the text, with clap's own `[default: …]` hidden. The examples in those
//! texts, which must parse, are `examples.rs`'s. The extraction is pure (a
//! text in, paths or problems out) and unit-tested below; the checks over
//! the real tree are in `mod.rs`.

use std::path::Path;

use clap::CommandFactory;

use super::repo::files_under;
use crate::flags::Xtask;

/// Every command of the tree (the root, each subcommand, theirs) as
/// `(`cargo xtask NAME --help`, its long help as that prints it)`.
pub fn long_helps() -> Vec<(String, String)> {
    let mut root = Xtask::command();
    root.build();
    let mut found = Vec::new();
    collect(&mut root, "cargo xtask", &mut found);
    found
}

fn collect(cmd: &mut clap::Command, name: &str, found: &mut Vec<(String, String)>) {
    let help = cmd.render_long_help().to_string();
    found.push((format!("`{name} --help`"), help));
    for sub in cmd.get_subcommands_mut() {
        let sub_name = format!("{name} {}", sub.get_name());
        collect(sub, &sub_name, found);
    }
}

/// `root`'s README.md and docs/**/*.md as `(path from root, text)`.
pub fn markdown_docs(root: &Path) -> Vec<(String, String)> {
    let docs = files_under(&root.join("docs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"));
    std::iter::once(root.join("README.md"))
        .chain(docs)
        .map(|doc| {
            let text = std::fs::read_to_string(&doc)
                .unwrap_or_else(|e| panic!("reading {}: {e}", doc.display()));
            let rel = doc.strip_prefix(root).unwrap_or(&doc);
            (rel.display().to_string(), text)
        })
        .collect()
}

/// The guest's view of the project's guest-scripts/.
pub const GUEST_SCRIPTS: &str = "/mnt/scripts/";

/// The paths under /mnt/scripts/ that `text` names, per line (1-based),
/// relative to it ("sst/sst_check.py"; "" for /mnt/scripts/ itself). A path
/// runs while its characters are letters, digits, `.`, `_`, `-` or `/`; a
/// sentence's full stop after it is not part of it.
pub fn guest_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find(GUEST_SCRIPTS) {
            rest = &rest[i + GUEST_SCRIPTS.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._-/".contains(c)))
                .unwrap_or(rest.len());
            found.push((n + 1, rest[..end].trim_end_matches('.').to_string()));
            rest = &rest[end..];
        }
    }
    found
}

/// The /mnt/scripts/ paths in `texts` (`(where, text)`) that name nothing
/// in `root`'s guest-scripts/.
pub fn missing_guest_path_problems(root: &Path, texts: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (place, text) in texts {
        for (line, path) in guest_paths(text) {
            if !root.join("guest-scripts").join(&path).exists() {
                problems.push(format!(
                    "{place}:{line}: {GUEST_SCRIPTS}{path}: guest-scripts/{path} does not exist \
                     (the guest's /mnt/scripts is guest-scripts/)"
                ));
            }
        }
    }
    problems
}

/// Ways of writing a default other than "(default: …)".
const OTHER_DEFAULT_WORDINGS: &[&str] = &["(default ", "Default:", "defaults to ", "[default:"];

/// Defaults of `root`'s tree written another way than "(default: VALUE)" in
/// the text: a value clap would print itself as `[default: …]` (no
/// `hide_default_value`), and a hidden one the text does not state.
pub fn default_problems(root: &clap::Command) -> Vec<String> {
    let mut problems = Vec::new();
    let mut todo = vec![(root.get_name().to_string(), root)];
    while let Some((name, cmd)) = todo.pop() {
        for arg in cmd.get_arguments() {
            let Some(value) = arg.get_default_values().first() else {
                continue;
            };
            if !arg.get_action().takes_values() {
                continue; // a flag's implicit `false`
            }
            let value = value.to_string_lossy();
            let help = arg.get_long_help().or(arg.get_help());
            let help = help.map(|h| h.to_string()).unwrap_or_default();
            let id = arg.get_id();
            if !arg.is_hide_default_value_set() {
                problems.push(format!(
                    "`{name}` {id}: clap prints `[default: {value}]`; set hide_default_value \
                     and write \"(default: {value})\" in its doc comment"
                ));
            } else if !value.is_empty() && !help.contains(&format!("default: {value}")) {
                problems.push(format!(
                    "`{name}` {id}: its default is {value}, its help says otherwise: `{help}`"
                ));
            }
        }
        for sub in cmd.get_subcommands() {
            todo.push((format!("{name} {}", sub.get_name()), sub));
        }
    }
    problems
}

/// The other wordings of a default in `helps` (`(command, long help)`).
pub fn default_wording_problems(helps: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (place, help) in helps {
        for (n, line) in help.lines().enumerate() {
            if let Some(w) = OTHER_DEFAULT_WORDINGS.iter().find(|w| line.contains(*w)) {
                problems.push(format!(
                    "{place}:{}: a default written as `{w}…`, not \"(default: …)\": {}",
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths_are_read_to_their_end_without_a_full_stop() {
        let text = "run /mnt/scripts/sst/sst_check.py.\n`/mnt/scripts/a-b_c/`, /mnt/scripts/ and \
                    /mnt/scripts/x.py --y\n/mnt/scriptsfoo /mnt/scripts/llama/{name}";
        let paths: Vec<(usize, String)> = guest_paths(text);
        let want = [
            (1, "sst/sst_check.py"),
            (2, "a-b_c/"),
            (2, ""),
            (2, "x.py"),
            (3, "llama/"),
        ];
        let want: Vec<(usize, String)> = want.iter().map(|(l, p)| (*l, p.to_string())).collect();
        assert_eq!(paths, want);
    }

    #[test]
    fn a_guest_path_missing_from_guest_scripts_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("guest-scripts/sst")).unwrap();
        std::fs::write(dir.path().join("guest-scripts/sst/sst_check.py"), "").unwrap();
        let texts = [(
            "README.md".to_string(),
            "python3 /mnt/scripts/sst/sst_check.py\npython3 /mnt/scripts/sst_check.py\n".into(),
        )];
        let problems = missing_guest_path_problems(dir.path(), &texts);
        assert_eq!(
            problems,
            ["README.md:2: /mnt/scripts/sst_check.py: guest-scripts/sst_check.py does not exist \
              (the guest's /mnt/scripts is guest-scripts/)"]
        );
    }

    #[test]
    fn a_default_clap_prints_or_the_text_contradicts_is_a_problem() {
        let cmd = |arg: clap::Arg| clap::Command::new("x").arg(arg);
        let shown = clap::Arg::new("n")
            .long("n")
            .default_value("3")
            .help("Count");
        assert!(default_problems(&cmd(shown))[0].contains("clap prints `[default: 3]`"));
        let wrong = clap::Arg::new("n")
            .long("n")
            .default_value("3")
            .hide_default_value(true)
            .help("Count (default: 4)");
        assert!(default_problems(&cmd(wrong))[0].contains("its default is 3"));
        let right = clap::Arg::new("n")
            .long("n")
            .default_value("3")
            .hide_default_value(true)
            .help("Count (default: 3)");
        assert_eq!(default_problems(&cmd(right)), Vec::<String>::new());
        let helps = [(
            "x".to_string(),
            "  --n  Count (default 3)\n  --m  (default: 1)".into(),
        )];
        assert_eq!(default_wording_problems(&helps).len(), 1);
    }
}
