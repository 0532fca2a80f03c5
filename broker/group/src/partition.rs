//! Which `__consumer_offsets` partition owns a group: Kafka's
//! `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, bit-exact, because
//! tools (and a later multi-broker coordinator) locate a group's records by it.

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units,
/// with 32-bit wrapping arithmetic.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: `i32::MIN` maps to 0 rather than overflowing.
fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN { 0 } else { n.abs() }
}

/// The `__consumer_offsets` partition for `group_id` out of `partitions` (>= 1).
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let partitions = partitions.max(1);
    kafka_abs(java_string_hash(group_id)) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_hash_code() {
        // Values computed with Java: "".hashCode()=0, "a"=97, "hello"=99162322,
        // "console-consumer-1"... checked by the formula; "polygenelubricants" is the
        // well-known string whose hashCode is Integer.MIN_VALUE.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn partition_is_abs_hash_mod_count() {
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        // Utils.abs(Integer.MIN_VALUE) == 0, so this group lands on partition 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        // Non-ASCII is hashed over UTF-16 units, as Java does: "é" is U+00E9 = 233.
        assert_eq!(java_string_hash("é"), 233);
        // A negative hash is folded to positive: "Aa0" style strings; check range.
        for g in [
            "group-1",
            "my-group",
            "consumer-group-with-a-long-name",
            "Ω",
        ] {
            let p = partition_for(g, 50);
            assert!((0..50).contains(&p), "{g} -> {p}");
        }
    }
}
