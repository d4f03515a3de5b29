//! A parser and evaluator for ConnectWise `conditions` over JSON records.
//!
//! Covers what the public docs show: `=`, `!=`, `<`, `<=`, `>`, `>=`, `like` (with `*`),
//! `contains`, `in (..)`, `not in (..)`, `not like`, `not contains`; literals
//! `"strings"` (compared case-insensitively, as ConnectWise does), numbers, `true`,
//! `false`, `null`, `[2026-01-01T00:00:00Z]` dates; `a/b` field paths; `and`/`or` (any
//! case) with parentheses. Anything else is a parse error, answered with a 400.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare { path: Vec<String>, op: Op, value: Literal },
    In { path: Vec<String>, negated: bool, values: Vec<Literal> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
    Contains,
    NotContains,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Number(f64),
    Text(String),
    Bool(bool),
    Null,
    Date(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Date(DateTime<Utc>),
    Symbol(&'static str),
    Open,
    Close,
    Comma,
}

/// Parse a `conditions` value. The error says what was wrong and where.
pub(crate) fn parse(input: &str) -> Result<Expr, String> {
    let tokens = tokenize(input)?;
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(t) => Err(format!("unexpected {} after a complete condition", describe(t))),
    }
}

impl Expr {
    /// Every field path the expression reads, for validation against the resource.
    pub fn paths(&self) -> Vec<&[String]> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut paths = a.paths();
                paths.extend(b.paths());
                paths
            }
            Expr::Compare { path, .. } | Expr::In { path, .. } => vec![path.as_slice()],
        }
    }

    pub fn matches(&self, record: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(record) && b.matches(record),
            Expr::Or(a, b) => a.matches(record) || b.matches(record),
            Expr::Compare { path, op, value } => compare(resolve(record, path), *op, value),
            Expr::In { path, negated, values } => {
                let field = resolve(record, path);
                let found = values.iter().any(|v| compare(field, Op::Eq, v));
                found != *negated
            }
        }
    }
}

/// Look a field path up in a record. Names match case-insensitively (ConnectWise field
/// names in conditions do); `lastUpdated` and friends live under `_info` in the JSON.
pub(crate) fn resolve<'a>(record: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = record;
    for (i, segment) in path.iter().enumerate() {
        let object = current.as_object()?;
        let found = object
            .get(segment.as_str())
            .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(segment)).map(|(_, v)| v));
        current = match found {
            Some(v) => v,
            None if i == 0 => object.get("_info").and_then(|info| {
                info.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(segment)).map(|(_, v)| v)
            })?,
            None => return None,
        };
    }
    Some(current)
}

fn compare(field: Option<&Value>, op: Op, literal: &Literal) -> bool {
    let field = field.filter(|v| !v.is_null());
    let Some(field) = field else {
        // A missing field is null: only `= null` and `!= <something>` hold.
        return match (op, literal) {
            (Op::Eq, Literal::Null) => true,
            (Op::Ne, Literal::Null) => false,
            (Op::Ne | Op::NotLike | Op::NotContains, _) => true,
            _ => false,
        };
    };
    match op {
        Op::Like | Op::NotLike => {
            let Some(text) = scalar_text(field) else { return op == Op::NotLike };
            let pattern = literal_text(literal).to_lowercase();
            glob(&pattern, &text.to_lowercase()) == (op == Op::Like)
        }
        Op::Contains | Op::NotContains => {
            let Some(text) = scalar_text(field) else { return op == Op::NotContains };
            let needle = literal_text(literal).to_lowercase();
            text.to_lowercase().contains(&needle) == (op == Op::Contains)
        }
        _ => match order(field, literal) {
            Some(ordering) => match op {
                Op::Eq => ordering == Ordering::Equal,
                Op::Ne => ordering != Ordering::Equal,
                Op::Lt => ordering == Ordering::Less,
                Op::Le => ordering != Ordering::Greater,
                Op::Gt => ordering == Ordering::Greater,
                Op::Ge => ordering != Ordering::Less,
                _ => false,
            },
            // Incomparable (e.g. a number against `null`): only `!=` holds.
            None => op == Op::Ne,
        },
    }
}

/// How the field compares with the literal, if the two can be compared.
fn order(field: &Value, literal: &Literal) -> Option<Ordering> {
    match (field, literal) {
        (_, Literal::Null) => None,
        (Value::Number(n), Literal::Number(l)) => n.as_f64()?.partial_cmp(l),
        (Value::String(s), Literal::Number(l)) => s.trim().parse::<f64>().ok()?.partial_cmp(l),
        (Value::Number(n), Literal::Text(t)) => n.as_f64()?.partial_cmp(&t.trim().parse::<f64>().ok()?),
        (Value::String(s), Literal::Text(t)) => Some(s.to_lowercase().cmp(&t.to_lowercase())),
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::Bool(b), Literal::Text(t)) => Some(b.to_string().cmp(&t.to_lowercase())),
        (Value::String(s), Literal::Date(d)) => Some(parse_date(s)?.cmp(d)),
        _ => None,
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Text(t) => t.clone(),
        Literal::Number(n) => n.to_string(),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => String::new(),
        Literal::Date(d) => d.to_rfc3339(),
    }
}

/// `*` (and SQL's `%`) match any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| if c == '%' { '*' } else { c }).collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub(crate) fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            '[' => {
                let end = chars[i..].iter().position(|&ch| ch == ']').ok_or("unterminated [date] literal")?;
                let text: String = chars[i + 1..i + end].iter().collect();
                let date = parse_date(&text).ok_or_else(|| format!("invalid date literal [{text}]"))?;
                tokens.push(Token::Date(date));
                i += end + 1;
            }
            '=' => {
                tokens.push(Token::Symbol("="));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Symbol("!="));
                i += 2;
            }
            '<' | '>' => {
                let symbol = match (c, chars.get(i + 1)) {
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('<', Some('>')) => "!=",
                    ('<', _) => "<",
                    _ => ">",
                };
                i += if symbol.len() == 2 { 2 } else { 1 };
                tokens.push(Token::Symbol(symbol));
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text.parse::<f64>().map_err(|_| format!("invalid number {text}"))?;
                tokens.push(Token::Number(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '/' | '.')) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}' at position {i}")),
        }
    }
    Ok(tokens)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("'{w}'"),
        Token::Text(t) => format!("\"{t}\""),
        Token::Number(n) => n.to_string(),
        Token::Date(d) => format!("[{}]", d.to_rfc3339()),
        Token::Symbol(s) => format!("'{s}'"),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Comma => "','".into(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.primary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    Some(t) => Err(format!("expected ')' but found {}", describe(&t))),
                    None => Err("missing ')'".into()),
                }
            }
            Some(Token::Word(field)) => self.comparison(&field),
            Some(t) => Err(format!("expected a field name but found {}", describe(&t))),
            None => Err("expected a condition but the text ended".into()),
        }
    }

    fn comparison(&mut self, field: &str) -> Result<Expr, String> {
        if ["and", "or", "not", "in", "like", "contains"].iter().any(|k| field.eq_ignore_ascii_case(k)) {
            return Err(format!("expected a field name but found keyword '{field}'"));
        }
        let path: Vec<String> = field.split('/').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("invalid field path '{field}'"));
        }
        let negated = self.keyword("not");
        if negated {
            self.pos += 1;
        }
        let op = match self.next() {
            Some(Token::Symbol(s)) if !negated => match s {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                return Ok(Expr::In { path, negated, values: self.list()? });
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("like") => {
                if negated {
                    Op::NotLike
                } else {
                    Op::Like
                }
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("contains") => {
                if negated {
                    Op::NotContains
                } else {
                    Op::Contains
                }
            }
            Some(t) => {
                return Err(format!("expected an operator after '{field}' but found {}", describe(&t)));
            }
            None => return Err(format!("expected an operator after '{field}'")),
        };
        let value = self.literal()?;
        Ok(Expr::Compare { path, op, value })
    }

    fn list(&mut self) -> Result<Vec<Literal>, String> {
        match self.next() {
            Some(Token::Open) => {}
            _ => return Err("expected '(' after 'in'".into()),
        }
        let mut values = vec![self.literal()?];
        loop {
            match self.next() {
                Some(Token::Comma) => values.push(self.literal()?),
                Some(Token::Close) => return Ok(values),
                Some(t) => return Err(format!("expected ',' or ')' in list but found {}", describe(&t))),
                None => return Err("missing ')' after list".into()),
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Literal::Number(n)),
            Some(Token::Text(t)) => Ok(Literal::Text(t)),
            Some(Token::Date(d)) => Ok(Literal::Date(d)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            // Bare words are not values: strings must be double-quoted.
            Some(t) => Err(format!("expected a value but found {}", describe(&t))),
            None => Err("expected a value but the text ended".into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(condition: &str, record: &Value) -> bool {
        parse(condition).unwrap().matches(record)
    }

    #[test]
    fn evaluates_the_documented_forms() {
        let r = json!({"id": 7, "name": "O'Brien & Sons", "company": {"id": 250, "identifier": "OBS"},
                       "cancelledFlag": false, "agreementStatus": "Active", "cancelledDate": null,
                       "_info": {"lastUpdated": "2026-02-01T10:00:00Z"}});
        let cases = [
            (r#"name="o'brien & sons""#, true),
            ("company/id=250", true),
            ("company/id = 251", false),
            (r#"agreementStatus="Active" and cancelledFlag=false"#, true),
            ("id in (1,2,7)", true),
            ("id not in (1, 2, 7)", false),
            ("lastUpdated > [2026-01-01T00:00:00Z]", true),
            (r#"name like "o'b*""#, true),
            (r#"name like "*sons""#, true),
            (r#"name like "acme*""#, false),
            (r#"name contains "BRIEN""#, true),
            (r#"name not contains "brien""#, false),
            ("cancelledDate = null", true),
            ("missingField != null", false),
            ("id >= 7 AND id <= 7", true),
            (r#"(id = 1 OR id = 7) and company/identifier = "obs""#, true),
            (r#"id = 1 or (id = 7 and name = "x")"#, false),
            ("id != 8", true),
        ];
        for (condition, expected) in cases {
            assert_eq!(holds(condition, &r), expected, "{condition}");
        }
    }

    #[test]
    fn rejects_malformed_conditions() {
        for bad in [
            "name = Acme",
            "name =",
            "(id = 1",
            "id == 1",
            "id in 1,2",
            "and id = 1",
            "name \"x\"",
            "id = 1 id = 2",
            "x = [notadate]",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
