//! No import loops between modules: a module that takes something from
//! another must not be taken from by it, directly or round a longer loop, or
//! neither can be read (or moved) without the other.
//!
//! The graph has one node per file (`foo/mod.rs` is `foo`) and an edge for
//! every `use crate::…`, `use super::…`, `use self::…`, `use child::…` and
//! every such path in the code; a path points at the deepest module file it
//! names (`crate::a::b::f` at `a/b.rs` when it exists, else at `a`). Parent
//! and child count like any two modules (a `mod.rs` that re-exports a child
//! which takes from the `mod.rs` is a loop); `mod x;` itself is no edge.
//! Test code is left out: `#[cfg(test)] mod`s and test-only files.

use std::collections::{BTreeMap, BTreeSet};

use super::rust_text::{code_only, module_of, relative, test_modules, test_only_modules};

type Module = Vec<String>;

/// Enough loops to show the shape; more would bury the report.
const MAX_CYCLES: usize = 100;

/// Every import loop among the modules of `files` (`(path, text)`, paths
/// under `src`), each with the files and the names each takes from the next.
pub fn import_cycle_problems(src: &str, files: &[(String, String)]) -> Vec<String> {
    let graph = module_graph(src, files);
    let mut next: BTreeMap<&Module, BTreeSet<&Module>> = BTreeMap::new();
    for (from, to) in graph.edges.keys() {
        next.entry(from).or_default().insert(to);
    }
    let cycles = cycles(&next);
    let mut problems: Vec<String> = cycles.iter().map(|c| describe(&graph, c)).collect();
    if cycles.len() >= MAX_CYCLES {
        problems.push(format!(
            "(stopped after {MAX_CYCLES} import loops; fix these first)"
        ));
    }
    problems
}

/// One use of another module: the line (0-based) and the path as written.
struct Use {
    line: usize,
    path: String,
}

struct Graph {
    /// Each module's file, as reported.
    files: BTreeMap<Module, String>,
    /// `(from, to)` -> the uses that make the edge.
    edges: BTreeMap<(Module, Module), Vec<Use>>,
}

fn module_graph(src: &str, files: &[(String, String)]) -> Graph {
    let modules: Vec<(Module, String)> = files
        .iter()
        .map(|(path, text)| (module_of(relative(src, path)), code_only(text)))
        .collect();
    let test_only = test_only_modules(&modules);
    let mut graph = Graph {
        files: BTreeMap::new(),
        edges: BTreeMap::new(),
    };
    for ((path, _), (module, _)) in files.iter().zip(&modules) {
        if !test_only.contains(module) {
            graph.files.insert(module.clone(), path.clone());
        }
    }
    for (module, code) in &modules {
        if test_only.contains(module) {
            continue;
        }
        let code = test_modules(code).blanked(code);
        for (line, path) in paths_in(&code) {
            let Some(target) = resolve(module, &path, &graph.files) else {
                continue;
            };
            if target != *module {
                let path = path.join("::");
                let uses = graph.edges.entry((module.clone(), target)).or_default();
                uses.push(Use { line, path });
            }
        }
    }
    graph
}

/// The module `path`, written in `module`, points at: the deepest existing
/// module it names; `None` for paths into other crates and local names.
fn resolve(module: &Module, path: &[String], known: &BTreeMap<Module, String>) -> Option<Module> {
    let supers = path.iter().take_while(|s| *s == "super").count();
    let (base, rest): (Module, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (vec![], &path[1..]),
        Some("super") => (
            module[..module.len().checked_sub(supers)?].to_vec(),
            &path[supers..],
        ),
        Some("self") => (module.clone(), &path[1..]),
        Some(first) => {
            let child = [module.as_slice(), &[first.to_string()]].concat();
            if !known.contains_key(&child) {
                return None;
            }
            (module.clone(), path)
        }
        None => return None,
    };
    (0..=rest.len())
        .rev()
        .map(|k| [base.as_slice(), &rest[..k]].concat())
        .find(|m| known.contains_key(m))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Identifiers, `::` and single punctuation of code-only text, with lines.
fn tokens(code: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 0);
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let len = chars[i..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .count();
            out.push((line, Token::Ident(chars[i..i + len].iter().collect())));
            i += len;
            continue;
        }
        if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((line, Token::Sep));
            i += 2;
            continue;
        }
        if c == '\n' {
            line += 1;
        } else if !c.is_whitespace() {
            out.push((line, Token::Punct(c)));
        }
        i += 1;
    }
    out
}

/// Every path of two or more segments in `code`, `use` trees expanded
/// (`use a::{b, c::d}` gives `a::b` and `a::c::d`), with its line.
fn paths_in(code: &str) -> Vec<(usize, Vec<String>)> {
    let toks = tokens(code);
    let ident = |k: usize| match toks.get(k) {
        Some((_, Token::Ident(s))) => Some(s.as_str()),
        _ => None,
    };
    let is = |k: usize, t: Token| toks.get(k).is_some_and(|(_, x)| *x == t);
    let mut found = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        if ident(k) == Some("use") {
            k = use_tree(&toks, k + 1, vec![], &mut found);
            continue;
        }
        // A path starts at an identifier not after `::` or `.` (a method),
        // nor after `(in` (a `pub(in crate::x)` visibility is no use).
        let starts = ident(k).is_some()
            && !(k > 0 && (is(k - 1, Token::Sep) || is(k - 1, Token::Punct('.'))))
            && !(k > 1 && ident(k - 1) == Some("in") && is(k - 2, Token::Punct('(')));
        if !starts {
            k += 1;
            continue;
        }
        let mut path = vec![ident(k).unwrap_or_default().to_string()];
        let line = toks[k].0;
        while is(k + 1, Token::Sep) && ident(k + 2).is_some() {
            path.push(ident(k + 2).unwrap_or_default().to_string());
            k += 2;
        }
        if path.len() > 1 {
            found.push((line, path));
        }
        k += 1;
    }
    found
}

/// Expands the `use` tree starting at token `k` under `prefix` into `found`;
/// returns the index after it. A trailing `self` names the module itself.
fn use_tree(
    toks: &[(usize, Token)],
    mut k: usize,
    mut path: Vec<String>,
    found: &mut Vec<(usize, Vec<String>)>,
) -> usize {
    while let Some((line, tok)) = toks.get(k) {
        match tok {
            // A leading `::` names another crate.
            Token::Sep if path.is_empty() => path.push("::".into()),
            Token::Sep => {}
            Token::Ident(s) if s == "self" && !path.is_empty() => {}
            Token::Ident(s) if s == "as" => {
                found.push((*line, path));
                return k + 2;
            }
            Token::Ident(s) => path.push(s.clone()),
            Token::Punct('*') => path.push("*".into()),
            Token::Punct('{') => {
                k += 1;
                while let Some((_, tok)) = toks.get(k) {
                    match tok {
                        Token::Punct('}') => return k + 1,
                        Token::Punct(',') => k += 1,
                        _ => k = use_tree(toks, k, path.clone(), found),
                    }
                }
                return k;
            }
            _ => {
                found.push((*line, path));
                return k;
            }
        }
        k += 1;
    }
    k
}

/// The elementary cycles of the graph, each once, from its smallest module.
fn cycles<'a>(next: &BTreeMap<&'a Module, BTreeSet<&'a Module>>) -> Vec<Vec<&'a Module>> {
    fn walk<'a>(
        next: &BTreeMap<&'a Module, BTreeSet<&'a Module>>,
        path: &mut Vec<&'a Module>,
        found: &mut Vec<Vec<&'a Module>>,
    ) {
        let (start, last) = (path[0], path[path.len() - 1]);
        for &to in next.get(last).into_iter().flatten() {
            if found.len() >= MAX_CYCLES {
                return;
            }
            if to == start {
                found.push(path.clone());
            } else if to > start && !path.contains(&to) {
                path.push(to);
                walk(next, path, found);
                path.pop();
            }
        }
    }
    let mut found = Vec::new();
    for &start in next.keys() {
        walk(next, &mut vec![start], &mut found);
    }
    found
}

/// `import loop: a.rs -> b.rs -> a.rs`, then per file the line and the names
/// it takes from the next one.
fn describe(graph: &Graph, cycle: &[&Module]) -> String {
    let file = |m: &Module| graph.files[m].clone();
    let mut ring: Vec<String> = cycle.iter().map(|m| file(m)).collect();
    ring.push(file(cycle[0]));
    let mut text = format!("import loop: {}", ring.join(" -> "));
    for (i, &from) in cycle.iter().enumerate() {
        let to = cycle[(i + 1) % cycle.len()];
        let uses = &graph.edges[&(from.clone(), to.clone())];
        let mut names: Vec<&str> = Vec::new();
        for u in uses {
            if !names.contains(&u.path.as_str()) {
                names.push(&u.path);
            }
        }
        text += &format!(
            "\n    {}:{} takes {}",
            file(from),
            uses[0].line + 1,
            names.join(", ")
        );
    }
    text
}
