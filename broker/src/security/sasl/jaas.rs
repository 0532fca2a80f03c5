//! Kafka's JAAS config value (`sasl.jaas.config`): one login module, its control flag
//! and `key=value` options, ended by `;`, e.g.
//! `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="pw";`.
//! Parsed as Kafka's `JaasConfig` does: values are quoted strings (with `\` escapes)
//! or bare tokens.

use std::collections::BTreeMap;

/// One parsed login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    pub login_module: String,
    pub options: BTreeMap<String, String>,
}

/// Why a JAAS value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JaasError(String);

const CONTROL_FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

/// Parses a value holding exactly one login module (Kafka refuses more for listeners).
pub fn parse(value: &str) -> Result<JaasEntry, JaasError> {
    let mut tokens = Tokens { rest: value.trim() };
    let login_module = tokens
        .word()
        .ok_or_else(|| JaasError("no login module".into()))?;
    let flag = tokens.word().unwrap_or_default();
    if !CONTROL_FLAGS.contains(&flag.to_ascii_lowercase().as_str()) {
        return Err(JaasError(format!(
            "login module control flag `{flag}` is not one of required, requisite, sufficient, optional"
        )));
    }
    let mut options = BTreeMap::new();
    loop {
        tokens.skip_space();
        if tokens.eat(';') {
            break;
        }
        let key = tokens
            .word()
            .ok_or_else(|| JaasError("expected an option or `;`".into()))?;
        tokens.skip_space();
        if !tokens.eat('=') {
            return Err(JaasError(format!("option `{key}` has no `=`")));
        }
        tokens.skip_space();
        let value = tokens.value()?;
        options.insert(key.to_string(), value);
    }
    if !tokens.rest.trim().is_empty() {
        return Err(JaasError(
            "a listener's JAAS config must hold exactly one login module".into(),
        ));
    }
    Ok(JaasEntry {
        login_module: login_module.to_string(),
        options,
    })
}

struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// A bare token: anything up to whitespace, `=`, `;` or a quote.
    fn word(&mut self) -> Option<&'a str> {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || matches!(c, '=' | ';' | '"'))
            .unwrap_or(self.rest.len());
        let (w, r) = self.rest.split_at(end);
        self.rest = r;
        (!w.is_empty()).then_some(w)
    }

    /// A quoted string (`\` escapes the next character) or a bare token.
    fn value(&mut self) -> Result<String, JaasError> {
        let Some(quoted) = self.rest.strip_prefix('"') else {
            return self
                .word()
                .map(str::to_string)
                .ok_or_else(|| JaasError("option without a value".into()));
        };
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &quoted[i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(JaasError("unterminated quoted value".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kafkas_plain_login_module_with_users() {
        let e = parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
                username="admin" password="admin-secret"
                user_admin="admin-secret" user_alice="a \"quoted\" pw";"#,
        )
        .unwrap();
        assert_eq!(
            e.login_module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(e.options["user_alice"], r#"a "quoted" pw"#);
        assert_eq!(e.options["username"], "admin");
        assert_eq!(e.options.len(), 4);
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        for bad in [
            "",
            "Module;",
            "Module sometimes;",
            r#"Module required user_a="x""#,
            r#"Module required user_a="x;"#,
            r#"Module required user_a;"#,
            r#"A required; B required;"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("Module required;").unwrap().options.is_empty());
    }
}
