//! Why did Kconfig drop a symbol? A small reader of Buildroot's Kconfig
//! files — entries, their prompts, `depends on` (with the enclosing `if` and
//! `menu` conditions), `select`s and choices — and an evaluator of dependency
//! expressions against the `.config` Kconfig wrote. Pure: text in, findings
//! out; `check.rs` feeds it the real files.

use std::collections::BTreeMap;

/// One `config`/`menuconfig` entry (a symbol may have several).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub file: String,
    pub line: usize,
    /// Has a prompt, so a defconfig can set it.
    pub prompt: bool,
    /// Own `depends on` plus every enclosing `if`/`menu` condition.
    pub depends: Vec<String>,
    /// Inside a `choice` block.
    pub in_choice: bool,
}

/// Every symbol's entries and who selects it.
#[derive(Debug, Default)]
pub struct Kconfig {
    pub entries: BTreeMap<String, Vec<Entry>>,
    /// symbol -> the symbols whose entries `select` it.
    pub selected_by: BTreeMap<String, Vec<String>>,
}

/// Reads a tree of Kconfig files. `read(path)` returns a file's text (or
/// None), `expand` turns a `source` argument into a path.
pub fn load(
    root: &str,
    read: &dyn Fn(&str) -> Option<String>,
    expand: &dyn Fn(&str) -> String,
) -> Kconfig {
    let mut k = Kconfig::default();
    let mut conditions = Vec::new();
    let mut seen = Vec::new();
    parse_file(root, read, expand, &mut conditions, &mut k, &mut seen);
    k
}

/// A block that adds a condition to everything inside it.
#[derive(Debug)]
enum Block {
    If(String),
    Menu(Option<String>),
    Choice,
}

fn parse_file(
    path: &str,
    read: &dyn Fn(&str) -> Option<String>,
    expand: &dyn Fn(&str) -> String,
    blocks: &mut Vec<Block>,
    k: &mut Kconfig,
    seen: &mut Vec<String>,
) {
    let Some(text) = read(path) else { return };
    if seen.iter().any(|s| s == path) {
        return;
    }
    seen.push(path.to_string());
    let lines = logical_lines(&text);
    let mut current: Option<(String, Entry)> = None;
    let mut in_help = false;
    let mut menu_pending = false;
    for (line_no, raw) in lines {
        let indented = raw.starts_with([' ', '\t']);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if in_help && indented {
            continue;
        }
        in_help = false;
        let (keyword, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(k, r)| (k, r.trim()));
        match keyword {
            "config" | "menuconfig" => {
                finish(&mut current, k);
                menu_pending = false;
                let entry = Entry {
                    file: path.to_string(),
                    line: line_no,
                    depends: block_conditions(blocks),
                    in_choice: blocks.iter().any(|b| matches!(b, Block::Choice)),
                    ..Entry::default()
                };
                current = Some((rest.to_string(), entry));
            }
            "bool" | "tristate" | "string" | "int" | "hex" | "prompt" | "def_bool"
            | "def_tristate"
                if current.is_some() =>
            {
                let prompt_given = rest.starts_with('"') && !keyword.starts_with("def_");
                if let Some((_, e)) = current.as_mut() {
                    e.prompt |= prompt_given;
                }
            }
            "depends" => {
                let expr = rest.strip_prefix("on").unwrap_or(rest).trim().to_string();
                if let Some((_, e)) = current.as_mut() {
                    e.depends.push(expr);
                } else if menu_pending {
                    if let Some(Block::Menu(cond)) = blocks.last_mut() {
                        *cond = Some(expr);
                    }
                }
            }
            "select" => {
                if let Some((symbol, _)) = &current {
                    let target = rest.split_whitespace().next().unwrap_or("").to_string();
                    k.selected_by
                        .entry(target)
                        .or_default()
                        .push(symbol.clone());
                }
            }
            "help" | "---help---" => in_help = true,
            "if" => {
                finish(&mut current, k);
                blocks.push(Block::If(rest.to_string()));
            }
            "endif" => {
                finish(&mut current, k);
                pop(blocks, |b| matches!(b, Block::If(_)));
            }
            "menu" => {
                finish(&mut current, k);
                blocks.push(Block::Menu(None));
                menu_pending = true;
            }
            "endmenu" => {
                finish(&mut current, k);
                pop(blocks, |b| matches!(b, Block::Menu(_)));
            }
            "choice" => {
                finish(&mut current, k);
                blocks.push(Block::Choice);
            }
            "endchoice" => {
                finish(&mut current, k);
                pop(blocks, |b| matches!(b, Block::Choice));
            }
            "source" | "rsource" | "osource" => {
                finish(&mut current, k);
                let arg = rest.trim_matches('"');
                parse_file(&expand(arg), read, expand, blocks, k, seen);
            }
            "comment" | "mainmenu" => {
                finish(&mut current, k);
                menu_pending = false;
            }
            _ if !indented => {
                finish(&mut current, k);
            }
            _ => {}
        }
    }
    finish(&mut current, k);
}

fn finish(current: &mut Option<(String, Entry)>, k: &mut Kconfig) {
    if let Some((symbol, entry)) = current.take() {
        k.entries.entry(symbol).or_default().push(entry);
    }
}

fn pop(blocks: &mut Vec<Block>, is: impl Fn(&Block) -> bool) {
    if let Some(i) = blocks.iter().rposition(is) {
        blocks.truncate(i);
    }
}

fn block_conditions(blocks: &[Block]) -> Vec<String> {
    blocks
        .iter()
        .filter_map(|b| match b {
            Block::If(c) | Block::Menu(Some(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

/// Lines with `\` continuations joined, numbered from 1.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let (start, mut joined) = match pending.take() {
            Some((start, mut acc)) => {
                acc.push(' ');
                acc.push_str(line.trim());
                (start, acc)
            }
            None => (i + 1, line.to_string()),
        };
        if joined.ends_with('\\') {
            joined.pop();
            let trimmed = joined.trim_end().len();
            joined.truncate(trimmed);
            pending = Some((start, joined));
        } else {
            out.push((start, joined));
        }
    }
    out.extend(pending);
    out
}

/// Symbol values as `.config` has them (`n` when absent).
pub type Values = BTreeMap<String, String>;

/// Evaluates a Kconfig expression to n (0), m (1) or y (2).
pub fn eval(expr: &str, values: &Values) -> u8 {
    let tokens = tokenize(expr);
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
        values,
    };
    p.or()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(&'static str),
}

fn tokenize(expr: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        if c.is_whitespace() {
            i += 1;
        } else if let Some(op) = ["&&", "||", "!=", "<=", ">="]
            .into_iter()
            .find(|op| *op == two)
        {
            tokens.push(Token::Op(op));
            i += 2;
        } else if let Some(op) = ["!", "(", ")", "=", "<", ">"]
            .into_iter()
            .find(|op| op.starts_with(c))
        {
            tokens.push(Token::Op(op));
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .map_or(chars.len(), |p| i + 1 + p);
            tokens.push(Token::Quoted(chars[i + 1..end].iter().collect()));
            i = end + 1;
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.-$/".contains(chars[i])) {
                i += 1;
            }
            if i == start {
                i += 1; // an unknown character: skip it
                continue;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        }
    }
    tokens
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    values: &'a Values,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn eat(&mut self, op: &str) -> bool {
        if self.peek()
            == Some(&Token::Op(match op {
                "&&" => "&&",
                "||" => "||",
                "!" => "!",
                "(" => "(",
                ")" => ")",
                _ => return false,
            }))
        {
            self.pos += 1;
            return true;
        }
        false
    }
    fn or(&mut self) -> u8 {
        let mut v = self.and();
        while self.eat("||") {
            v = v.max(self.and());
        }
        v
    }
    fn and(&mut self) -> u8 {
        let mut v = self.not();
        while self.eat("&&") {
            v = v.min(self.not());
        }
        v
    }
    fn not(&mut self) -> u8 {
        if self.eat("!") {
            return 2 - self.not();
        }
        self.compare()
    }
    fn compare(&mut self) -> u8 {
        if self.eat("(") {
            let v = self.or();
            self.eat(")");
            return v;
        }
        let left = self.operand();
        let op = match self.peek() {
            Some(Token::Op(op)) if ["=", "!=", "<", ">", "<=", ">="].contains(op) => *op,
            _ => return tristate(&left),
        };
        self.pos += 1;
        let right = self.operand();
        let ordering = match (left.parse::<i64>(), right.parse::<i64>()) {
            (Ok(l), Ok(r)) => l.cmp(&r),
            _ => left.cmp(&right),
        };
        let holds = match op {
            "=" => left == right,
            "!=" => left != right,
            "<" => ordering.is_lt(),
            ">" => ordering.is_gt(),
            "<=" => ordering.is_le(),
            _ => ordering.is_ge(),
        };
        if holds {
            2
        } else {
            0
        }
    }
    /// A symbol's value, or a constant.
    fn operand(&mut self) -> String {
        let token = self.peek().cloned();
        self.pos += 1;
        match token {
            Some(Token::Quoted(s)) => s,
            Some(Token::Word(w)) if ["y", "m", "n"].contains(&w.as_str()) => w,
            Some(Token::Word(w)) if w.parse::<i64>().is_ok() => w,
            Some(Token::Word(w)) => self.values.get(&w).cloned().unwrap_or_else(|| "n".into()),
            _ => "n".into(),
        }
    }
}

fn tristate(value: &str) -> u8 {
    match value {
        "y" => 2,
        "m" => 1,
        _ => 0,
    }
}

/// The symbols an expression mentions (for explaining it).
pub fn symbols_in(expr: &str) -> Vec<String> {
    tokenize(expr)
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) if w.starts_with("BR2_") => Some(w),
            _ => None,
        })
        .collect()
}

/// What Kconfig did with one requested `SYMBOL=value`.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Kept,
    /// Set, but to another value.
    Changed {
        got: String,
    },
    Dropped {
        reason: String,
    },
}

/// Compares a requested symbol with the resulting `.config` and explains a loss.
pub fn explain(symbol: &str, wanted: &str, values: &Values, k: &Kconfig) -> Finding {
    let got = values.get(symbol).cloned().unwrap_or_else(|| "n".into());
    if got == wanted {
        return Finding::Kept;
    }
    if wanted == "n" {
        return Finding::Changed { got };
    }
    let Some(entries) = k.entries.get(symbol) else {
        return Finding::Dropped {
            reason: unknown_symbol(symbol, k),
        };
    };
    if entries.iter().all(|e| e.file.ends_with("Config.in.legacy")) {
        return Finding::Dropped {
            reason: format!(
                "a legacy option: removed or renamed in this Buildroot (see {})",
                entries[0].file
            ),
        };
    }
    // The entry whose conditions hold decides; report the first unmet one.
    let mut unmet = Vec::new();
    for e in entries
        .iter()
        .filter(|e| !e.file.ends_with("Config.in.legacy"))
    {
        for cond in &e.depends {
            if eval(cond, values) == 0 {
                let state: Vec<String> = symbols_in(cond)
                    .into_iter()
                    .map(|s| format!("{s}={}", values.get(&s).map_or("n", String::as_str)))
                    .collect();
                unmet.push(format!(
                    "unmet `depends on {cond}` ({}) at {}:{}",
                    state.join(", "),
                    e.file,
                    e.line
                ));
            }
        }
    }
    if let Some(first) = unmet.into_iter().next() {
        return Finding::Dropped { reason: first };
    }
    if !entries.iter().any(|e| e.prompt) {
        let by = k
            .selected_by
            .get(symbol)
            .map(|v| dedup(v))
            .unwrap_or_default();
        let hint = if by.is_empty() {
            String::new()
        } else {
            format!("; selected by {}", by.join(", "))
        };
        return Finding::Dropped {
            reason: format!(
                "no prompt: a defconfig cannot set it, only another option's `select` can{hint}"
            ),
        };
    }
    if entries.iter().any(|e| e.in_choice) {
        return Finding::Dropped {
            reason: "in a choice where another option was chosen".into(),
        };
    }
    if got != "n" {
        return Finding::Changed { got };
    }
    Finding::Dropped {
        reason: "Kconfig did not keep it (no unmet dependency found; check `make menuconfig`)"
            .into(),
    }
}

fn unknown_symbol(symbol: &str, k: &Kconfig) -> String {
    let mut reason = "unknown symbol: no such option in this Buildroot".to_string();
    if let Some(name) = symbol.strip_prefix("BR2_PACKAGE_") {
        let host = format!("BR2_PACKAGE_HOST_{name}");
        if k.entries.contains_key(&host) {
            reason.push_str(&format!(
                " (only the host tool {host} exists; Buildroot builds it when a package needs it)"
            ));
        } else {
            reason.push_str(" (there is no target package of that name)");
        }
    }
    reason
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expressions_follow_kconfig_tristate_logic() {
        let v = values(&[("A", "y"), ("B", "m"), ("S", "riscv"), ("N", "12")]);
        assert_eq!(eval("A", &v), 2);
        assert_eq!(eval("A && B", &v), 1);
        assert_eq!(eval("C || B", &v), 1);
        assert_eq!(eval("!C", &v), 2);
        assert_eq!(eval("!(A && C)", &v), 2);
        assert_eq!(eval("S = \"riscv\"", &v), 2);
        assert_eq!(eval("S != \"riscv\" || A", &v), 2);
        assert_eq!(eval("N >= 9 && N < 13", &v), 2);
        assert_eq!(eval("A && !B", &v), 1);
        assert_eq!(eval("y", &v), 2);
    }

    const ROOT: &str = r#"
menu "Target packages"
source "pkg/Config.in"
endmenu
source "pkg/Config.in.host"
source "Config.in.legacy"
"#;
    const PKG: &str = r#"
if BR2_PACKAGE_PYTHON3
config BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS
	bool
	default y if BR2_arm

config BR2_PACKAGE_PYTHON_NUMPY
	bool "python-numpy"
	depends on BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS
	depends on BR2_INSTALL_LIBSTDCPP
	help
	  NumPy.
	  depends on nothing here: this is help text

endif

config BR2_PACKAGE_CMAKE
	bool

config BR2_PACKAGE_CMAKE_CTEST
	bool "ctest"
	depends on BR2_USE_MMU && \
		BR2_INSTALL_LIBSTDCPP
	select BR2_PACKAGE_CMAKE

choice
	prompt "libc"
config BR2_GLIBC
	bool "glibc"
config BR2_MUSL
	bool "musl"
endchoice
"#;
    const HOST: &str = "config BR2_PACKAGE_HOST_PATCHELF\n\tbool \"host patchelf\"\n";
    const LEGACY: &str =
        "config BR2_PACKAGE_OLDTHING\n\tbool \"oldthing has been removed\"\n\tselect BR2_LEGACY\n";

    fn tree() -> Kconfig {
        let files: BTreeMap<&str, &str> = [
            ("Config.in", ROOT),
            ("pkg/Config.in", PKG),
            ("pkg/Config.in.host", HOST),
            ("Config.in.legacy", LEGACY),
        ]
        .into();
        load(
            "Config.in",
            &|p| files.get(p).map(|t| t.to_string()),
            &|a| a.to_string(),
        )
    }

    #[test]
    fn entries_carry_enclosing_conditions_and_prompts() {
        let k = tree();
        let numpy = &k.entries["BR2_PACKAGE_PYTHON_NUMPY"][0];
        assert_eq!(numpy.file, "pkg/Config.in");
        assert_eq!(numpy.line, 7);
        assert!(numpy.prompt);
        assert_eq!(
            numpy.depends,
            [
                "BR2_PACKAGE_PYTHON3",
                "BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS",
                "BR2_INSTALL_LIBSTDCPP"
            ]
        );
        assert!(!k.entries["BR2_PACKAGE_CMAKE"][0].prompt);
        assert_eq!(
            k.entries["BR2_PACKAGE_CMAKE_CTEST"][0].depends,
            ["BR2_USE_MMU && BR2_INSTALL_LIBSTDCPP"]
        );
        assert_eq!(
            k.selected_by["BR2_PACKAGE_CMAKE"],
            ["BR2_PACKAGE_CMAKE_CTEST"]
        );
        assert!(k.entries["BR2_MUSL"][0].in_choice);
        assert!(
            !k.entries.contains_key("nothing"),
            "help text is not parsed"
        );
    }

    #[test]
    fn each_kind_of_loss_is_explained() {
        let k = tree();
        let v = values(&[
            ("BR2_PACKAGE_PYTHON3", "y"),
            ("BR2_INSTALL_LIBSTDCPP", "y"),
            ("BR2_GLIBC", "y"),
            ("BR2_PACKAGE_X", "y"),
        ]);
        let reason = |s: &str| match explain(s, "y", &v, &k) {
            Finding::Dropped { reason } => reason,
            other => panic!("{s}: {other:?}"),
        };
        let numpy = reason("BR2_PACKAGE_PYTHON_NUMPY");
        assert!(
            numpy.contains("unmet `depends on BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS`"),
            "{numpy}"
        );
        assert!(
            numpy.contains("BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS=n")
                && numpy.contains("pkg/Config.in:7"),
            "{numpy}"
        );
        let cmake = reason("BR2_PACKAGE_CMAKE");
        assert!(
            cmake.contains("no prompt") && cmake.contains("selected by BR2_PACKAGE_CMAKE_CTEST"),
            "{cmake}"
        );
        let patchelf = reason("BR2_PACKAGE_PATCHELF");
        assert!(
            patchelf.contains("unknown symbol") && patchelf.contains("BR2_PACKAGE_HOST_PATCHELF"),
            "{patchelf}"
        );
        let ninja = reason("BR2_PACKAGE_NINJA");
        assert!(ninja.contains("no target package"), "{ninja}");
        assert!(reason("BR2_PACKAGE_OLDTHING").contains("legacy option"));
        assert!(reason("BR2_MUSL").contains("choice"));
        assert_eq!(explain("BR2_PACKAGE_X", "y", &v, &k), Finding::Kept);
        assert_eq!(
            explain("BR2_GLIBC", "n", &v, &k),
            Finding::Changed { got: "y".into() }
        );
    }
}
