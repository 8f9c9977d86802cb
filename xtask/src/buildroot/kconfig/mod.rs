//! Why did Kconfig drop a symbol? A small reader of Buildroot's Kconfig
//! files — entries, their prompts, `depends on` (with the enclosing `if` and
//! `menu` conditions), `select`s and choices — and an evaluator of dependency
//! expressions against the `.config` Kconfig wrote. Pure: text in, findings
//! out; `check.rs` feeds it the real files.
//!
//! `parse.rs` reads the files, `expr.rs` evaluates expressions, `explain.rs`
//! turns both into a `Finding` per requested symbol.

mod explain;
mod expr;
mod parse;
#[cfg(test)]
mod sample;

pub use explain::{explain, Finding};
pub use expr::Values;
pub use parse::{load, Kconfig};
