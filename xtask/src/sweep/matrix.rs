//! `[matrix]`: each parameter's list of values, in file order, and the
//! reserved `exclude` (partial assignments dropped from the cross product)
//! and `include` (complete ones added), as in a GitHub Actions matrix.

use std::collections::BTreeMap;
use std::ops::Range;

use anyhow::Result;
use toml::Spanned;

use super::template;

/// Placeholders every template may use besides the parameters.
pub const REPEAT: &str = "repeat";
/// The SST command's own placeholder: the session's socket.
pub const SOCKET: &str = "socket";

/// One parameter value as written; its text fills the templates.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    /// What `{name}` becomes.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => s.clone().into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => (*f).into(),
            Value::Bool(b) => (*b).into(),
        }
    }

    fn from_toml(v: &toml::Value) -> Option<Value> {
        Some(match v {
            toml::Value::String(s) => Value::Str(s.clone()),
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Float(f) => Value::Float(*f),
            toml::Value::Boolean(b) => Value::Bool(*b),
            _ => return None,
        })
    }
}

/// Makes the error for a span of the file: file:line:col and the line.
pub type At<'a> = dyn Fn(Range<usize>, String) -> anyhow::Error + 'a;
pub type Assignments = Vec<BTreeMap<String, Value>>;
/// Parameter name → its values, in file order.
pub type Params = Vec<(String, Vec<Value>)>;

/// `[matrix]`: parameters with their lists of values, in file order, and the
/// reserved `exclude` / `include` lists of assignments.
pub fn parse(
    raw: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    at: &At,
) -> Result<(Params, Assignments, Assignments)> {
    let example = "e.g. [matrix] flops_per_unit = [256, 1024]";
    let Some(raw) = raw else {
        return Err(at(
            0..0,
            format!("[matrix]: missing; give each parameter its list of values, {example}"),
        ));
    };
    let span = raw.span();
    let mut entries: Vec<(String, Spanned<toml::Value>)> = raw.into_inner().into_iter().collect();
    entries.sort_by_key(|(_, v)| v.span().start);
    let mut params = Vec::new();
    let (mut exclude_raw, mut include_raw) = (None, None);
    for (name, value) in entries {
        match name.as_str() {
            "exclude" => exclude_raw = Some(value),
            "include" => include_raw = Some(value),
            _ => params.push((name.clone(), values(&name, &value, at)?)),
        }
    }
    if params.is_empty() {
        return Err(at(
            span,
            format!("[matrix]: no parameters; give each parameter its list of values, {example}"),
        ));
    }
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    let exclude = match exclude_raw {
        Some(v) => assignments("exclude", &v, &names, false, at)?,
        None => vec![],
    };
    let include = match include_raw {
        Some(v) => assignments("include", &v, &names, true, at)?,
        None => vec![],
    };
    Ok((params, exclude, include))
}

fn values(name: &str, value: &Spanned<toml::Value>, at: &At) -> Result<Vec<Value>> {
    if !template::is_name(name) || name == REPEAT || name == SOCKET {
        return Err(at(value.span(), format!("[matrix] `{name}`: a parameter name is a letter or `_` followed by letters, digits or `_`, and not `{REPEAT}` or `{SOCKET}` (filled in by the sweep)")));
    }
    let toml::Value::Array(list) = value.get_ref() else {
        return Err(at(
            value.span(),
            format!("[matrix] {name}: not a list; give its values as one, e.g. {name} = [1, 2, 4]"),
        ));
    };
    if list.is_empty() {
        return Err(at(
            value.span(),
            format!("[matrix] {name}: an empty list gives no points; give at least one value"),
        ));
    }
    let mut out: Vec<Value> = Vec::new();
    for v in list {
        let Some(value_) = Value::from_toml(v) else {
            return Err(at(
                value.span(),
                format!("[matrix] {name}: `{v}` is not a string, integer, float or boolean"),
            ));
        };
        if out.contains(&value_) {
            return Err(at(
                value.span(),
                format!("[matrix] {name}: `{v}` is listed twice"),
            ));
        }
        out.push(value_);
    }
    Ok(out)
}

/// `exclude` (partial assignments) or `include` (complete ones).
fn assignments(
    what: &str,
    value: &Spanned<toml::Value>,
    names: &[&str],
    complete: bool,
    at: &At,
) -> Result<Assignments> {
    let example = format!("e.g. {what} = [{{ {} = … }}]", names[0]);
    let toml::Value::Array(list) = value.get_ref() else {
        return Err(at(
            value.span(),
            format!("[matrix] {what}: not a list of tables; {example}"),
        ));
    };
    let mut out = Vec::new();
    for entry in list {
        let toml::Value::Table(table) = entry else {
            return Err(at(
                value.span(),
                format!("[matrix] {what}: `{entry}` is not a table; {example}"),
            ));
        };
        let mut assignment = BTreeMap::new();
        for (k, v) in table {
            if !names.contains(&k.as_str()) {
                return Err(at(
                    value.span(),
                    format!(
                        "[matrix] {what}: `{k}` is not a parameter; the parameters are {}",
                        names.join(", ")
                    ),
                ));
            }
            let Some(v) = Value::from_toml(v) else {
                return Err(at(
                    value.span(),
                    format!(
                        "[matrix] {what}: {k} = `{v}` is not a string, integer, float or boolean"
                    ),
                ));
            };
            assignment.insert(k.clone(), v);
        }
        if complete {
            let missing: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| !assignment.contains_key(*n))
                .collect();
            if !missing.is_empty() {
                return Err(at(value.span(), format!("[matrix] include: `{entry}` leaves out {}; an included point gives every parameter", missing.join(", "))));
            }
        } else if assignment.is_empty() {
            return Err(at(
                value.span(),
                format!("[matrix] exclude: an empty table would exclude every point; {example}"),
            ));
        }
        out.push(assignment);
    }
    Ok(out)
}
