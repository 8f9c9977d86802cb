//! Rust source text as the layout checks read it: comments and literals
//! blanked out, the `#[cfg(test)]` modules found, and the module a file is.
//!
//! Not a Rust parser: just enough for code that rustfmt formatted, so that a
//! `}` or a `crate::x` inside a string or a comment is never taken for code.

use std::collections::BTreeSet;

/// `text` with comments and the insides of string and char literals turned
/// into spaces (newlines kept), so lines still number the same and braces
/// still match.
pub fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some((prefix, hashes)) = raw_string_start(&chars, i) {
            out.extend(&chars[i..i + prefix]);
            i = string(&chars, i + prefix, Some(hashes), &mut out);
            continue;
        }
        i = match (chars[i], chars.get(i + 1)) {
            ('/', Some('/')) => blank_until(&chars, i, &mut out, |c| c == '\n'),
            ('/', Some('*')) => block_comment(&chars, i, &mut out),
            ('"', _) => string(&chars, i, None, &mut out),
            ('\'', _) => char_literal(&chars, i, &mut out),
            (c, _) => {
                out.push(c);
                i + 1
            }
        };
    }
    out
}

fn blank(c: char, out: &mut String) {
    out.push(if c == '\n' { '\n' } else { ' ' });
}

/// Blanks from `i` up to (not including) the first char where `end` holds.
fn blank_until(
    chars: &[char],
    mut i: usize,
    out: &mut String,
    end: impl Fn(char) -> bool,
) -> usize {
    while i < chars.len() && !end(chars[i]) {
        blank(chars[i], out);
        i += 1;
    }
    i
}

/// `/* … */`, nested ones included.
fn block_comment(chars: &[char], mut i: usize, out: &mut String) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        let pair = (chars[i], chars.get(i + 1).copied());
        if pair == ('/', Some('*')) || pair == ('*', Some('/')) {
            depth += if pair.0 == '/' { 1 } else { -1 };
            out.push_str("  ");
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            blank(chars[i], out);
            i += 1;
        }
    }
    i
}

/// A string from its opening quote at `i`: quotes kept, inside blanked.
/// `raw_hashes` is `None` for an ordinary string (backslash escapes), else
/// the number of `#`s that must follow the closing quote.
fn string(chars: &[char], i: usize, raw_hashes: Option<usize>, out: &mut String) -> usize {
    let hashes = raw_hashes.unwrap_or(0);
    out.push('"');
    let mut j = i + 1;
    while j < chars.len() {
        let closes = chars[j] == '"'
            && chars
                .get(j + 1..j + 1 + hashes)
                .is_some_and(|h| h.iter().all(|&c| c == '#'));
        if closes {
            out.push('"');
            out.extend(std::iter::repeat_n('#', hashes));
            return j + 1 + hashes;
        }
        let escape = chars[j] == '\\' && raw_hashes.is_none();
        let skip = if escape { 2 } else { 1 };
        for &c in chars.iter().skip(j).take(skip) {
            blank(c, out);
        }
        j += skip;
    }
    j
}

/// `r"`, `r#"`, `br"`, … at `i`: the length of the prefix up to the opening
/// quote, and the number of `#`s. `None` for `r#ident` and ordinary words.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let r = if chars[i] == 'b' { i + 1 } else { i };
    if !starts_word || chars.get(r) != Some(&'r') {
        return None;
    }
    let hashes = chars[r + 1..].iter().take_while(|&&c| c == '#').count();
    (chars.get(r + 1 + hashes) == Some(&'"')).then_some((r + 1 + hashes - i, hashes))
}

/// `'x'`, `'\n'`, `'\u{7f}'` are blanked; a lifetime or label (`'a`) is code.
fn char_literal(chars: &[char], i: usize, out: &mut String) -> usize {
    let escaped = chars.get(i + 1) == Some(&'\\');
    if !escaped && chars.get(i + 2) != Some(&'\'') {
        out.push('\'');
        return i + 1;
    }
    out.push('\'');
    // Skip the char after the backslash, so `'\''` does not end at its middle.
    let start = if escaped { i + 3 } else { i + 2 };
    let body_end = start.min(chars.len());
    for &c in &chars[i + 1..body_end] {
        blank(c, out);
    }
    let end = blank_until(chars, body_end, out, |c| c == '\'');
    if end < chars.len() {
        out.push('\'');
    }
    end + 1
}

/// The `#[cfg(test)]` modules of a code-only text.
#[derive(Debug, Default, PartialEq)]
pub struct TestModules {
    /// `#[cfg(test)] mod name { … }`: first and last line (0-based) of each.
    pub blocks: Vec<(usize, usize)>,
    /// `#[cfg(test)] mod name;`: the child modules that exist only in tests.
    pub declared: Vec<String>,
}

impl TestModules {
    pub fn contains_line(&self, line: usize) -> bool {
        self.blocks.iter().any(|&(a, b)| (a..=b).contains(&line))
    }

    /// `code` with the lines of the test blocks emptied.
    pub fn blanked(&self, code: &str) -> String {
        let lines: Vec<&str> = code
            .lines()
            .enumerate()
            .map(|(i, l)| if self.contains_line(i) { "" } else { l })
            .collect();
        lines.join("\n")
    }
}

/// Finds the `#[cfg(test)]` modules in `code` (from `code_only`).
pub fn test_modules(code: &str) -> TestModules {
    let chars: Vec<char> = code.chars().collect();
    let line_of = |i: usize| chars[..i].iter().filter(|&&c| c == '\n').count();
    let mut found = TestModules::default();
    let attr: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + attr.len() <= chars.len() {
        if chars[i..i + attr.len()] != attr[..] {
            i += 1;
            continue;
        }
        let start = i;
        i = skip_attributes_and_visibility(&chars, i);
        let Some(after_mod) = keyword(&chars, i, "mod") else {
            continue;
        };
        let name_start = skip_space(&chars, after_mod);
        let name_end = skip_ident(&chars, name_start);
        let after_name = skip_space(&chars, name_end);
        match chars.get(after_name) {
            Some('{') => {
                let end = matching_brace(&chars, after_name).unwrap_or(chars.len() - 1);
                found.blocks.push((line_of(start), line_of(end)));
                i = end;
            }
            Some(';') => found
                .declared
                .push(chars[name_start..name_end].iter().collect()),
            _ => {}
        }
    }
    found
}

/// Past any `#[…]` attributes, `pub`/`pub(…)` and whitespace from `i`.
fn skip_attributes_and_visibility(chars: &[char], mut i: usize) -> usize {
    loop {
        i = skip_space(chars, i);
        if chars.get(i) == Some(&'#') && chars.get(i + 1) == Some(&'[') {
            i = matching(chars, i + 1, '[', ']').map_or(chars.len(), |e| e + 1);
        } else if let Some(after) = keyword(chars, i, "pub") {
            let after = skip_space(chars, after);
            i = if chars.get(after) == Some(&'(') {
                matching(chars, after, '(', ')').map_or(chars.len(), |e| e + 1)
            } else {
                after
            };
        } else {
            return i;
        }
    }
}

/// The index after `word` at `i` when it stands there as a whole word.
pub fn keyword(chars: &[char], i: usize, word: &str) -> Option<usize> {
    let end = i + word.chars().count();
    let is_ident = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let matches = chars.get(i..end)?.iter().copied().eq(word.chars());
    (matches && !is_ident(chars.get(end)) && (i == 0 || !is_ident(chars.get(i - 1)))).then_some(end)
}

fn skip_space(chars: &[char], i: usize) -> usize {
    i + chars[i.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_whitespace())
        .count()
}

fn skip_ident(chars: &[char], i: usize) -> usize {
    i + chars[i.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .count()
}

/// The index of the `}` that closes the `{` at `open`.
pub fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    matching(chars, open, '{', '}')
}

fn matching(chars: &[char], open: usize, opening: char, closing: char) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        if c == opening {
            depth += 1;
        } else if c == closing {
            depth -= 1;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

/// `path` relative to `src`: `xtask/src/host/mod.rs` -> `host/mod.rs`.
pub fn relative<'a>(src: &str, path: &'a str) -> &'a str {
    path.strip_prefix(src)
        .map(|p| p.trim_start_matches('/'))
        .unwrap_or(path)
}

/// The module a file under the crate's `src/` is: `main.rs` is the crate
/// root (no segments), `a/mod.rs` is `a`, `a/b.rs` is `a::b`.
pub fn module_of(relative: &str) -> Vec<String> {
    let stem = relative.strip_suffix(".rs").unwrap_or(relative);
    let mut segments: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(
        segments.last().map(String::as_str),
        Some("mod" | "main" | "lib")
    ) {
        segments.pop();
    }
    segments
}

/// Modules that exist only in tests: declared `#[cfg(test)] mod x;` in
/// their parent's file, and everything inside them.
pub fn test_only_modules(modules: &[(Vec<String>, String)]) -> BTreeSet<Vec<String>> {
    let declared: BTreeSet<Vec<String>> = modules
        .iter()
        .flat_map(|(module, code)| {
            test_modules(code).declared.into_iter().map(|child| {
                let mut path = module.clone();
                path.push(child);
                path
            })
        })
        .collect();
    modules
        .iter()
        .map(|(module, _)| module)
        .filter(|m| declared.iter().any(|d| m.starts_with(d)))
        .cloned()
        .collect()
}
