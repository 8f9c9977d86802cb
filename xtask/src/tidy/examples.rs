//! Example commands in a text (a command's long help, a Markdown file's
//! code blocks): the lines that start with `cargo xtask`, split into words as
//! a shell would, and whether the real command line takes them. Pure
//! functions over text, but for [`parses`], which asks clap.

use clap::Parser;

use crate::flags::Xtask;

/// Splits one command line into its simple commands and their words, as a
/// POSIX shell would, without expansions: blanks separate words; an unquoted
/// run of `;`, `&` and `|` separates commands; '…' is literal; "…" is literal
/// but for `\` before `"`, `\`, `$` or a backquote; a `\` outside quotes keeps
/// the next character. An unquoted `#` starting a word begins a comment, and
/// an unquoted `(` starting a word a remark, such as `(then …)` after an
/// example (a shell would refuse it there): both end the line.
pub fn split_commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let words = commands.last_mut().expect("one command at least");
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '#' | '(' if word.is_none() => break,
            ';' | '&' | '|' => {
                words.extend(word.take());
                while chars.next_if(|c| ";&|".contains(*c)).is_some() {}
                commands.push(Vec::new());
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unclosed '".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.push(e),
                            Some(other) => w.extend(['\\', other]),
                            None => return Err("unclosed \"".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("unclosed \"".into()),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    commands
        .last_mut()
        .expect("one command at least")
        .extend(word);
    commands.retain(|c| !c.is_empty());
    Ok(commands)
}

/// Whether `word` is a `NAME=value` assignment before a command.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// One example command found in a text.
#[derive(Debug, PartialEq)]
pub struct Example {
    /// The line it starts on, 1-based.
    pub line: usize,
    /// The line as written, continuation lines joined and blanks squeezed.
    pub shown: String,
    /// Its words after `cargo xtask`, or why the line does not split.
    pub words: Result<Vec<String>, String>,
}

/// The example commands in `text`: each line that starts (after blanks and
/// `NAME=value` words) with `cargo xtask`, joined with the lines after it
/// while it ends in `\`; every `cargo xtask` command of such a line (`a &&
/// b` is two) is one example.
pub fn examples(text: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let mut first = line.split_whitespace().skip_while(|w| is_assignment(w));
        if (first.next(), first.next()) != (Some("cargo"), Some("xtask")) {
            continue;
        }
        let mut joined = line.trim().to_string();
        while let Some(head) = joined.strip_suffix('\\') {
            joined = head.to_string();
            match lines.next() {
                Some((_, next)) => joined.push_str(next),
                None => break,
            }
        }
        let shown = joined.split_whitespace().collect::<Vec<_>>().join(" ");
        let example = |words| Example {
            line: n + 1,
            shown: shown.clone(),
            words,
        };
        match split_commands(&joined) {
            Err(why) => found.push(example(Err(why))),
            Ok(commands) => {
                for command in commands {
                    let words: Vec<String> = command
                        .into_iter()
                        .skip_while(|w| is_assignment(w))
                        .collect();
                    if words.starts_with(&["cargo".into(), "xtask".into()]) {
                        found.push(example(Ok(words[2..].to_vec())));
                    }
                }
            }
        }
    }
    found
}

/// Whether `words` (after `cargo xtask`) parse with the real command line;
/// `Err` with clap's complaint and its tip, without the usage.
pub fn parses(words: &[String]) -> Result<(), String> {
    let argv = std::iter::once("cargo xtask".to_string()).chain(words.iter().cloned());
    match Xtask::try_parse_from(argv) {
        Ok(_) => Ok(()),
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                return Ok(());
            }
            let text = e.to_string();
            let said: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .filter(|l| !l.is_empty())
                .collect();
            let said = said.join("; ");
            Err(said.strip_prefix("error: ").unwrap_or(&said).to_string())
        }
    }
}

/// The examples in `texts` (`(where, text)`: a command's long help, a
/// Markdown file's code blocks) that do not split or do not parse, each
/// naming where it is and the example.
pub fn example_problems(texts: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (place, text) in texts {
        for Example { line, shown, words } in examples(text) {
            if let Err(why) = words.and_then(|w| parses(&w)) {
                problems.push(format!(
                    "{place}:{line}: the example `{shown}` is refused: {why}"
                ));
            }
        }
    }
    problems
}

/// The fenced code blocks of Markdown `text`, every other line left empty
/// (so line numbers stay the file's).
pub fn code_blocks(text: &str) -> String {
    let mut inside = false;
    let mut code = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
        } else if inside {
            code.push_str(line);
        }
        code.push('\n');
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let commands = split_commands(line).unwrap();
        assert!(commands.len() <= 1, "{commands:?}");
        commands.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn words_split_like_a_shell_without_expansions() {
        assert_eq!(
            words("  run  --share ~/d -- true "),
            ["run", "--share", "~/d", "--", "true"]
        );
        assert_eq!(
            words(r#"sh -c 'ls /mnt | wc -l' "a \"b\" \$c" x\ y"#),
            ["sh", "-c", "ls /mnt | wc -l", r#"a "b" $c"#, "x y"]
        );
        assert_eq!(
            words(r#"-E 'test(ssh)' "\n" ''"#),
            ["-E", "test(ssh)", r"\n", ""]
        );
        assert_eq!(words("a'b'\"c\"d"), ["abcd"]);
    }

    #[test]
    fn operators_separate_commands_unless_quoted() {
        assert_eq!(
            split_commands("a b && c;d | e 'f;g' \\&").unwrap(),
            [vec!["a", "b"], vec!["c"], vec!["d"], vec!["e", "f;g", "&"]]
        );
    }

    #[test]
    fn a_comment_or_a_remark_ends_the_words_but_not_inside_a_word_or_quotes() {
        assert_eq!(
            words("run --ssh   (then `cargo xtask ssh`)"),
            ["run", "--ssh"]
        );
        assert_eq!(words("bench cosim   # ECHO vs COMPUTE"), ["bench", "cosim"]);
        assert_eq!(words("a#b f(x) '(y)' \\(z"), ["a#b", "f(x)", "(y)", "(z"]);
    }

    #[test]
    fn an_unclosed_quote_is_refused() {
        assert_eq!(
            split_commands("run -- sh -c 'true"),
            Err("unclosed '".into())
        );
        assert_eq!(split_commands(r#"x "a\"#), Err("unclosed \"".into()));
    }

    #[test]
    fn examples_are_the_lines_that_start_with_cargo_xtask() {
        let help = "Boot it. See `cargo xtask ssh`.\n\
                    \n  cargo xtask run -- true\n\
                    \x20 ACALSIM_SRC=~/a X_1=y cargo xtask qemu build\n\
                    \x20 cargo xtaskfoo\n\
                    Usage: cargo xtask run [OPTIONS]\n\
                    \x20 cargo xtask cosim --socket /s \\\n      --sst 'sst a.py' -- true   (remark)\n\
                    cargo xtask image && X=1 cargo xtask run | tail -1 # both\n";
        let found = examples(help);
        let at: Vec<(usize, &str)> = found.iter().map(|e| (e.line, e.shown.as_str())).collect();
        assert_eq!(
            at,
            [
                (3, "cargo xtask run -- true"),
                (4, "ACALSIM_SRC=~/a X_1=y cargo xtask qemu build"),
                (
                    7,
                    "cargo xtask cosim --socket /s --sst 'sst a.py' -- true (remark)"
                ),
                (
                    9,
                    "cargo xtask image && X=1 cargo xtask run | tail -1 # both"
                ),
                (
                    9,
                    "cargo xtask image && X=1 cargo xtask run | tail -1 # both"
                ),
            ]
        );
        let words: Vec<Vec<String>> = found.into_iter().map(|e| e.words.unwrap()).collect();
        assert_eq!(words[0], ["run", "--", "true"]);
        assert_eq!(words[1], ["qemu", "build"]);
        assert_eq!(
            words[2],
            ["cosim", "--socket", "/s", "--sst", "sst a.py", "--", "true"]
        );
        assert_eq!(words[3], ["image"]);
        assert_eq!(words[4], ["run"]);
    }

    #[test]
    fn code_blocks_keep_their_line_numbers() {
        let md = "Run `cargo xtask x`:\n\n```sh\ncargo xtask run\n```\ncargo xtask prose\n";
        assert_eq!(code_blocks(md), "\n\n\ncargo xtask run\n\n\n");
        assert_eq!(examples(&code_blocks(md))[0].line, 4);
    }

    #[test]
    fn an_example_clap_refuses_is_a_problem_naming_the_command_and_the_example() {
        let helps = [(
            "`cargo xtask ssh --help`".to_string(),
            "  cargo xtask ssh --wait 5\n  cargo xtask ssh --wiat 5\n".to_string(),
        )];
        let problems = example_problems(&helps);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "`cargo xtask ssh --help`:2: the example `cargo xtask ssh --wiat 5` is refused: \
                 unexpected argument '--wiat' found; tip: a similar argument exists: '--wait'"
            ),
            "{}",
            problems[0]
        );
        assert!(parses(&["run".into(), "--help".into()]).is_ok());
    }
}
