//! The client's address as Kafka writes it (`InetAddress.getHostAddress()`): ACL
//! hosts and `--allow-host`/`--deny-host` are compared with it as strings, by Kafka and
//! here, so an ACL written for a Kafka cluster matches the same clients on Tidewater.
//! Java writes an IPv6 address as eight uncompressed lowercase hex groups
//! (`0:0:0:0:0:0:0:1`, never `::1`), with `%scope` for a scoped address, and an
//! IPv4-mapped one (a dual-stack listener's IPv4 client) as plain IPv4.

use std::net::{IpAddr, SocketAddr};

/// `peer`'s address in Java's `getHostAddress()` form.
pub fn host_address(peer: &SocketAddr) -> String {
    match peer {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => match v6.ip().to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(ip) => {
                let groups: Vec<String> = ip.segments().iter().map(|g| format!("{g:x}")).collect();
                let text = groups.join(":");
                match v6.scope_id() {
                    0 => text,
                    scope => format!("{text}%{scope}"),
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::host_address;

    #[test]
    fn addresses_are_written_as_java_writes_them() {
        for (peer, java) in [
            ("127.0.0.1:9092", "127.0.0.1"),
            ("[::1]:9092", "0:0:0:0:0:0:0:1"),
            ("[2001:db8::a:0:1]:9092", "2001:db8:0:0:0:a:0:1"),
            ("[FE80::1%3]:9092", "fe80:0:0:0:0:0:0:1%3"),
            ("[::ffff:10.0.0.7]:9092", "10.0.0.7"),
        ] {
            assert_eq!(host_address(&peer.parse().unwrap()), java, "{peer}");
        }
    }
}
