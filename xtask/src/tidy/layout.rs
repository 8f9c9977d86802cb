//! Size limits that keep the sources readable: no file over 500 lines, no
//! function over 80 unless a `// long:` comment above it says why.
//!
//! Both are pure functions over `(path, text)` pairs; paths are as reported,
//! `src` is the directory they sit in (`xtask/src`), which names the modules.

use super::rust_text::{
    code_only, matching_brace, module_of, relative, test_modules, test_only_modules,
};

pub const MAX_FILE_LINES: usize = 500;
pub const MAX_FN_LINES: usize = 80;

/// Files longer than `MAX_FILE_LINES`.
pub fn long_file_problems(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .map(|(path, text)| (path, text.lines().count()))
        .filter(|&(_, lines)| lines > MAX_FILE_LINES)
        .map(|(path, lines)| {
            format!(
                "{path}: {lines} lines (limit {MAX_FILE_LINES}): split it into a directory of modules, one job per file"
            )
        })
        .collect()
}

/// Functions longer than `MAX_FN_LINES`, from the `fn` line to the closing
/// brace, without a `// long: <reason>` comment among the comment and
/// attribute lines right above the `fn`. Test code is not counted: not
/// `#[cfg(test)] mod`s, nor files that exist only in tests (golden tables
/// and checker self-tests are data).
pub fn long_function_problems(src: &str, files: &[(String, String)]) -> Vec<String> {
    let modules: Vec<(Vec<String>, String)> = files
        .iter()
        .map(|(path, text)| (module_of(relative(src, path)), code_only(text)))
        .collect();
    let test_only = test_only_modules(&modules);
    let mut problems = Vec::new();
    for ((path, text), (module, code)) in files.iter().zip(&modules) {
        if test_only.contains(module) {
            continue;
        }
        let tests = test_modules(code);
        let lines: Vec<&str> = text.lines().collect();
        for f in functions(code) {
            if f.lines <= MAX_FN_LINES || tests.contains_line(f.line) || has_reason(&lines, f.line)
            {
                continue;
            }
            problems.push(format!(
                "{path}:{}: fn {} is {} lines (limit {MAX_FN_LINES}): split it into named steps, or say why it must stay long in a `// long: <reason>` comment right above its `fn`",
                f.line + 1,
                f.name,
                f.lines
            ));
        }
    }
    problems
}

/// A function with a body: its name, `fn` line (0-based) and length in lines.
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

/// Every function with a body in `code` (from `code_only`), nested ones too.
fn functions(code: &str) -> Vec<Function> {
    let chars: Vec<char> = code.chars().collect();
    let mut line_starts = vec![0];
    line_starts.extend(
        chars
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == '\n')
            .map(|(i, _)| i + 1),
    );
    let line_of = |i: usize| line_starts.partition_point(|&s| s <= i) - 1;
    let mut found = Vec::new();
    for (line, text) in code.lines().enumerate() {
        let Some(name) = declared_fn(text) else {
            continue;
        };
        let Some(open) = body_start(&chars, line_starts[line]) else {
            continue;
        };
        let end = matching_brace(&chars, open).unwrap_or(chars.len().saturating_sub(1));
        found.push(Function {
            name,
            line,
            lines: line_of(end) - line + 1,
        });
    }
    found
}

/// The name of the function a line declares: `fn`, after any visibility and
/// qualifiers (`pub(crate) const unsafe fn name`).
fn declared_fn(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("pub(") {
            rest = r.split_once(')')?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("extern ") {
            // An ABI string is blanked by `code_only` but keeps its quotes.
            let r = r.trim_start();
            rest = match r.strip_prefix('"') {
                Some(abi) => abi.split_once('"')?.1.trim_start(),
                None => r,
            };
        } else if let Some(r) = ["pub ", "const ", "async ", "unsafe ", "default "]
            .iter()
            .find_map(|q| rest.strip_prefix(q))
        {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let name: String = rest
        .strip_prefix("fn ")?
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The `{` that opens the body of the `fn` declared from `from` on; `None`
/// when a `;` comes first (a declaration without a body, as in a trait).
fn body_start(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, &c) in chars.iter().enumerate().skip(from) {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '{' if depth == 0 => return Some(i),
            ';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// Whether the comment and attribute lines right above line `fn_line` hold a
/// `// long: <reason>` comment with a reason.
fn has_reason(lines: &[&str], fn_line: usize) -> bool {
    lines[..fn_line]
        .iter()
        .rev()
        .map(|l| l.trim())
        .take_while(|l| l.starts_with("//") || l.starts_with("#["))
        .any(|l| {
            l.strip_prefix("// long:")
                .is_some_and(|reason| !reason.trim().is_empty())
        })
}
