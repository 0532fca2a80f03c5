//! The principal of an SSL connection under Kafka's default
//! `ssl.principal.mapping.rules=DEFAULT`: `User:` and the client certificate's
//! subject as Java's `X500Principal.getName()` prints it (RFC 2253: the last RDN
//! first, `,` between RDNs, `+` inside one, CN/C/L/ST/O/OU/STREET/DC/UID by
//! keyword, any other attribute as `OID=#hex` of its DER encoding).
//!
//! Sans-IO: certificate bytes in, a string out.

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// Kafka's principal of a connection without a client certificate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// The keywords RFC 2253 (and so Java's `X500Principal.RFC2253`) prints by name.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// `User:<subject DN>` of a DER certificate, or `None` when it does not parse.
pub fn ssl_principal(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    Some(format!("User:{}", subject_rfc2253(&cert)))
}

fn subject_rfc2253(cert: &X509Certificate<'_>) -> String {
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn attribute(atv: &AttributeTypeAndValue<'_>) -> String {
    let oid = atv.attr_type().to_id_string();
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    match (keyword, atv.as_str()) {
        (Some(k), Ok(value)) => format!("{k}={}", escape(value)),
        (k, _) => format!("{}=#{}", k.unwrap_or(&oid), hex_der(atv)),
    }
}

/// RFC 2253 section 2.4 escaping.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The attribute value's DER encoding (tag, length, content) in lower-case hex.
fn hex_der(atv: &AttributeTypeAndValue<'_>) -> String {
    let value = atv.attr_value();
    let content = value.data;
    let mut der = Vec::with_capacity(content.len() + 6);
    // Attribute values are universal-class, low-number tags (strings, mostly).
    let constructed = if value.header.is_constructed() {
        0x20
    } else {
        0
    };
    der.push((value.tag().0 as u8 & 0x1f) | constructed);
    let len = content.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend_from_slice(content);
    der.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_rfc_2253() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape("#lead"), "\\#lead");
        assert_eq!(escape(" both "), "\\ both\\ ");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn garbage_is_no_principal() {
        assert_eq!(ssl_principal(b"not a certificate"), None);
    }
}
