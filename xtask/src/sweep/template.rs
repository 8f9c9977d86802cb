//! `{name}` templates: the guest command, its environment and the SST side
//! are written once with placeholders and filled per point.
//!
//! A placeholder is `{` a name `}` (a letter or `_`, then letters, digits,
//! `_`). Anything else in braces stays as written, so Python dicts and
//! shell `${VAR}` need no escaping; `{{` and `}}` are literal braces.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Placeholder<'a> {
    Text(&'a str),
    Name(&'a str),
}

/// A parameter's name: the shape a placeholder must have.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` split into literal text and placeholders.
pub fn pieces(text: &str) -> Vec<Placeholder<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("{{").or_else(|| rest.strip_prefix("}}")) {
            out.push(Placeholder::Text(&rest[..1]));
            rest = tail;
            continue;
        }
        let placeholder = (!preceded_by_dollar(text, rest))
            .then(|| rest.strip_prefix('{'))
            .flatten()
            .and_then(|t| t.find('}').map(|end| &t[..end]))
            .filter(|name| is_name(name));
        if let Some(name) = placeholder {
            out.push(Placeholder::Name(name));
            rest = &rest[name.len() + 2..];
            continue;
        }
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..]
            .find(['{', '}'])
            .map_or(rest.len(), |i| i + first);
        out.push(Placeholder::Text(&rest[..next]));
        rest = &rest[next..];
    }
    out
}

/// `${VAR}` in a shell command is the shell's, not ours.
fn preceded_by_dollar(text: &str, rest: &str) -> bool {
    let at = text.len() - rest.len();
    text[..at].ends_with('$')
}

/// `text` with every placeholder replaced by `lookup`'s answer; `None`
/// names the first placeholder it has no value for.
pub fn fill(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces(text) {
        match piece {
            Placeholder::Text(t) => out.push_str(t),
            Placeholder::Name(name) => match lookup(name) {
                Some(v) => out.push_str(&v),
                None => return Err(name.to_string()),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(text: &str) -> Result<String, String> {
        fill(text, &|n| (n == "n").then(|| "42".to_string()))
    }

    #[test]
    fn names_are_filled_and_other_braces_stay_as_written() {
        assert_eq!(filled("--count={n}").as_deref(), Ok("--count=42"));
        assert_eq!(filled("{n}{n}").as_deref(), Ok("4242"));
        assert_eq!(
            filled("print({'a': {n}})").as_deref(),
            Ok("print({'a': 42})")
        );
        assert_eq!(filled("echo ${n} {{n}}").as_deref(), Ok("echo ${n} {n}"));
        assert_eq!(
            filled("{ n } {} {1x} }{").as_deref(),
            Ok("{ n } {} {1x} }{")
        );
        assert_eq!(filled("é{n}ü}").as_deref(), Ok("é42ü}"));
        assert_eq!(filled("{m}"), Err("m".to_string()));
    }

    #[test]
    fn a_name_is_an_identifier() {
        assert!(is_name("flops_per_unit") && is_name("_x1"));
        assert!(!is_name("") && !is_name("1x") && !is_name("a-b") && !is_name("a b"));
    }
}
