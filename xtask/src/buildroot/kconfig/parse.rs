//! The Kconfig file reader: entries with their prompts, `depends on` (with
//! the enclosing `if` and `menu` conditions), `select`s and choices, across
//! `source`d files.

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
    let mut loader = Loader {
        read,
        expand,
        blocks: Vec::new(),
        kconfig: Kconfig::default(),
        seen: Vec::new(),
    };
    loader.file(root);
    loader.kconfig
}

/// A block that adds a condition to everything inside it.
#[derive(Debug)]
enum Block {
    If(String),
    Menu(Option<String>),
    Choice,
}

/// What a read of the whole tree carries from file to file.
struct Loader<'a> {
    read: &'a dyn Fn(&str) -> Option<String>,
    expand: &'a dyn Fn(&str) -> String,
    /// The open `if`/`menu`/`choice` blocks; a `source`d file sits inside them.
    blocks: Vec<Block>,
    kconfig: Kconfig,
    /// Files already read, so a file sourced twice is read once.
    seen: Vec<String>,
}

/// Where the reader is within one file.
#[derive(Default)]
struct Cursor {
    /// The entry being read: its symbol and what is known of it so far.
    current: Option<(String, Entry)>,
    /// Inside a `help` text, which lasts while lines are indented.
    in_help: bool,
    /// A `menu` was just opened: a `depends on` now is the menu's condition.
    menu_pending: bool,
}

impl Loader<'_> {
    fn file(&mut self, path: &str) {
        let Some(text) = (self.read)(path) else {
            return;
        };
        if self.seen.iter().any(|s| s == path) {
            return;
        }
        self.seen.push(path.to_string());
        let mut at = Cursor::default();
        for (line_no, raw) in logical_lines(&text) {
            let indented = raw.starts_with([' ', '\t']);
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if at.in_help && indented {
                continue;
            }
            at.in_help = false;
            let (keyword, rest) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(k, r)| (k, r.trim()));
            let statement = Statement {
                path,
                line_no,
                keyword,
                rest,
                indented,
            };
            self.statement(&statement, &mut at);
        }
        self.finish(&mut at);
    }

    fn statement(&mut self, s: &Statement, at: &mut Cursor) {
        match s.keyword {
            "config" | "menuconfig" => self.start_entry(s, at),
            "bool" | "tristate" | "string" | "int" | "hex" | "prompt" | "def_bool"
            | "def_tristate"
                if at.current.is_some() =>
            {
                let prompt_given = s.rest.starts_with('"') && !s.keyword.starts_with("def_");
                if let Some((_, e)) = at.current.as_mut() {
                    e.prompt |= prompt_given;
                }
            }
            "depends" => self.depends(s.rest, at),
            "select" => self.select(s.rest, at),
            "help" | "---help---" => at.in_help = true,
            "if" | "endif" | "menu" | "endmenu" | "choice" | "endchoice" => {
                self.finish(at);
                self.block(s, at);
            }
            "source" | "rsource" | "osource" => {
                self.finish(at);
                let path = (self.expand)(s.rest.trim_matches('"'));
                self.file(&path);
            }
            "comment" | "mainmenu" => {
                self.finish(at);
                at.menu_pending = false;
            }
            _ if !s.indented => self.finish(at),
            _ => {}
        }
    }

    fn start_entry(&mut self, s: &Statement, at: &mut Cursor) {
        self.finish(at);
        at.menu_pending = false;
        let entry = Entry {
            file: s.path.to_string(),
            line: s.line_no,
            depends: block_conditions(&self.blocks),
            in_choice: self.blocks.iter().any(|b| matches!(b, Block::Choice)),
            ..Entry::default()
        };
        at.current = Some((s.rest.to_string(), entry));
    }

    /// `depends on EXPR`: the current entry's, or the just opened menu's.
    fn depends(&mut self, rest: &str, at: &mut Cursor) {
        let expr = rest.strip_prefix("on").unwrap_or(rest).trim().to_string();
        if let Some((_, e)) = at.current.as_mut() {
            e.depends.push(expr);
        } else if at.menu_pending {
            if let Some(Block::Menu(cond)) = self.blocks.last_mut() {
                *cond = Some(expr);
            }
        }
    }

    fn select(&mut self, rest: &str, at: &Cursor) {
        if let Some((symbol, _)) = &at.current {
            let target = rest.split_whitespace().next().unwrap_or("").to_string();
            self.kconfig
                .selected_by
                .entry(target)
                .or_default()
                .push(symbol.clone());
        }
    }

    /// Opens or closes an `if`, `menu` or `choice` block.
    fn block(&mut self, s: &Statement, at: &mut Cursor) {
        match s.keyword {
            "if" => self.blocks.push(Block::If(s.rest.to_string())),
            "menu" => {
                self.blocks.push(Block::Menu(None));
                at.menu_pending = true;
            }
            "choice" => self.blocks.push(Block::Choice),
            "endif" => pop(&mut self.blocks, |b| matches!(b, Block::If(_))),
            "endmenu" => pop(&mut self.blocks, |b| matches!(b, Block::Menu(_))),
            _ => pop(&mut self.blocks, |b| matches!(b, Block::Choice)),
        }
    }

    /// Files the entry being read, if any.
    fn finish(&mut self, at: &mut Cursor) {
        if let Some((symbol, entry)) = at.current.take() {
            self.kconfig.entries.entry(symbol).or_default().push(entry);
        }
    }
}

/// One logical line of a Kconfig file, split into its keyword and the rest.
struct Statement<'a> {
    path: &'a str,
    line_no: usize,
    keyword: &'a str,
    rest: &'a str,
    /// Starts with whitespace: help text, or an attribute of the entry above.
    indented: bool,
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

#[cfg(test)]
mod tests {
    use crate::buildroot::kconfig::sample;

    #[test]
    fn entries_carry_enclosing_conditions_and_prompts() {
        let k = sample::tree();
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
}
