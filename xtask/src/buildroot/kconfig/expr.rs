//! Kconfig dependency expressions: a tokenizer and an evaluator to n, m or y
//! against the values `.config` holds.

use std::collections::BTreeMap;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildroot::kconfig::sample::values;

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
}
