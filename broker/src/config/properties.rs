//! Java `.properties` parsing: the format of Kafka's `server.properties`.
//!
//! Owns turning text into an ordered key/value map (comments, `=`/`:`/space
//! separators, backslash line continuations and escapes). It knows nothing about
//! what the keys mean; validation lives in [`super::broker`].

use std::collections::BTreeMap;
use std::str::FromStr;

use super::ConfigError;

/// Parses `.properties` text. Later duplicates win, as with `java.util.Properties`.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        // Leading whitespace is dropped on every line, continuation lines included.
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if ends_with_odd_backslashes(line) {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        let (key, value) = split_entry(&logical);
        out.insert(unescape(&key), unescape(&value));
        logical.clear();
    }
    if !logical.is_empty() {
        let (key, value) = split_entry(&logical);
        out.insert(unescape(&key), unescape(&value));
    }
    out
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace, as Java does.
fn split_entry(line: &str) -> (String, String) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => {
                return (
                    line[..i].trim_end().to_string(),
                    line[i + 1..].trim_start().to_string(),
                );
            }
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest
                    .strip_prefix('=')
                    .or_else(|| rest.strip_prefix(':'))
                    .unwrap_or(rest);
                return (line[..i].to_string(), rest.trim_start().to_string());
            }
            _ => {}
        }
    }
    (line.to_string(), String::new())
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Typed access to raw properties, producing errors that name the key.
pub(super) struct Props<'a>(pub(super) &'a BTreeMap<String, String>);

impl Props<'_> {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim())
    }

    pub(super) fn int<T>(&self, key: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            key: key.into(),
            value: raw.into(),
            reason,
        };
        let v: T = raw
            .parse()
            .map_err(|_| invalid("not a valid integer".into()))?;
        if v < min || v > max {
            return Err(invalid(format!("must be between {min} and {max}")));
        }
        Ok(v)
    }

    pub(super) fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                key: key.into(),
                value: other.into(),
                reason: "expected true or false".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_separators_comments_and_continuations() {
        let text = "# comment\n! also\nnode.id=1\nlisteners : PLAINTEXT://a:1\nlog.dirs /tmp/x\n\
                    advertised.listeners=PLAINTEXT://h:1,\\\n    EXTERNAL://e:2\nkey\\=with=v\\tx\nempty=\n";
        let p = parse_properties(text);
        assert_eq!(p["node.id"], "1");
        assert_eq!(p["listeners"], "PLAINTEXT://a:1");
        assert_eq!(p["log.dirs"], "/tmp/x");
        assert_eq!(p["advertised.listeners"], "PLAINTEXT://h:1,EXTERNAL://e:2");
        assert_eq!(p["key=with"], "v\tx");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn later_duplicates_win() {
        let p = parse_properties("a=1\na=2\n");
        assert_eq!(p["a"], "2");
    }
}
