//! Parsing of `bootstrap.servers` strings. Pure.
//!
//! Accepts what Kafka's clients accept: a comma-separated list of `host:port`, with
//! optional whitespace, an optional listener prefix (`PLAINTEXT://`) and IPv6 hosts in
//! brackets. Rejects, with the offending entry named, anything without a numeric port.

use crate::error::ClientError;

/// Splits `bootstrap` into `host:port` strings ready for `TcpStream::connect`.
pub fn parse_bootstrap(bootstrap: &str) -> Result<Vec<String>, ClientError> {
    let invalid = |reason: String| ClientError::InvalidBootstrap {
        bootstrap: bootstrap.to_owned(),
        reason,
    };
    let mut addrs = Vec::new();
    for entry in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let addr = entry.split_once("://").map_or(entry, |(_, rest)| rest);
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| invalid(format!("'{entry}' has no ':port'")))?;
        if host.is_empty() || host == "[]" {
            return Err(invalid(format!("'{entry}' has no host")));
        }
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid(format!("'{entry}' has no valid port (1-65535)")));
        }
        addrs.push(addr.to_owned());
    }
    if addrs.is_empty() {
        return Err(invalid("no host:port given".to_owned()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_style_lists() {
        assert_eq!(
            parse_bootstrap(" b-0.kafka:9092, PLAINTEXT://b-1.kafka:9093 ,[::1]:9094,").unwrap(),
            ["b-0.kafka:9092", "b-1.kafka:9093", "[::1]:9094"]
        );
    }

    #[test]
    fn rejects_entries_without_a_usable_port() {
        for bad in [
            "",
            " , ",
            "broker",
            "broker:",
            "broker:0",
            "broker:70000",
            ":9092",
            "b:x",
        ] {
            let err = parse_bootstrap(bad).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidBootstrap { .. }),
                "{bad:?} gave {err}"
            );
        }
        let err = parse_bootstrap("ok:1,broker").unwrap_err();
        assert!(err.to_string().contains("'broker' has no ':port'"), "{err}");
    }
}
