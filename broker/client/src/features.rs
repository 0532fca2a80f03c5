//! Finalized feature levels (KIP-584), read from an ApiVersions answer, without IO.
//!
//! Kafka has no DescribeFeatures API: `Admin.describeFeatures()` sends ApiVersions and
//! reads its v3+ tagged fields `FinalizedFeaturesEpoch` and `FinalizedFeatures`. This
//! module owns that reading and the names Kafka gives `metadata.version` levels
//! (`MetadataVersion` in Kafka's server-common: level 21 is `3.9-IV0`).

use std::collections::BTreeMap;

use kafka_protocol::messages::ApiVersionsResponse;

/// Name of the feature that gates the KRaft metadata log format.
pub const METADATA_VERSION_FEATURE: &str = "metadata.version";

/// ApiVersions versions before this one carry no feature fields.
pub const FIRST_VERSION_WITH_FEATURES: i16 = 3;

/// Finalized feature -> level from an ApiVersions response sent at `version`.
///
/// Empty when the answer cannot carry features (v0-v2), when the broker does not know
/// them (`FinalizedFeaturesEpoch` -1, as a broker that has not caught up with the
/// metadata log answers), and without features at level 0 or below: Kafka treats a
/// level-0 feature as not finalized. The level is `MaxVersionLevel`, which KRaft sets
/// equal to the min.
pub fn finalized_features(resp: &ApiVersionsResponse, version: i16) -> BTreeMap<String, i16> {
    if version < FIRST_VERSION_WITH_FEATURES || resp.finalized_features_epoch < 0 {
        return BTreeMap::new();
    }
    resp.finalized_features
        .iter()
        .filter(|f| f.max_version_level > 0)
        .map(|f| (f.name.to_string(), f.max_version_level))
        .collect()
}

/// Kafka's `<release>-IV<n>` name of a `metadata.version` level, as `kafka-features.sh
/// describe` prints it; `None` for a level this client does not know.
pub fn metadata_version_name(level: i16) -> Option<&'static str> {
    // Index i holds level i + 1; Kafka's MetadataVersion enum, 3.0-IV1 to 4.2-IV1.
    const NAMES: [&str; 29] = [
        "3.0-IV1", "3.1-IV0", "3.2-IV0", "3.3-IV0", "3.3-IV1", "3.3-IV2", "3.3-IV3", "3.4-IV0",
        "3.5-IV0", "3.5-IV1", "3.5-IV2", "3.6-IV0", "3.6-IV1", "3.6-IV2", "3.7-IV0", "3.7-IV1",
        "3.7-IV2", "3.7-IV3", "3.7-IV4", "3.8-IV0", "3.9-IV0", "4.0-IV0", "4.0-IV1", "4.0-IV2",
        "4.0-IV3", "4.1-IV0", "4.1-IV1", "4.2-IV0", "4.2-IV1",
    ];
    let index = usize::try_from(level).ok()?.checked_sub(1)?;
    NAMES.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::FinalizedFeatureKey;
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

    fn response(epoch: i64, features: &[(&'static str, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default()
            .with_finalized_features_epoch(epoch)
            .with_finalized_features(
                features
                    .iter()
                    .map(|&(name, level)| {
                        FinalizedFeatureKey::default()
                            .with_name(StrBytes::from_static_str(name))
                            .with_min_version_level(level)
                            .with_max_version_level(level)
                    })
                    .collect(),
            )
    }

    /// Through the real codec: the fields are tagged (v3+), so a v2 answer drops them.
    fn round_trip(resp: &ApiVersionsResponse, version: i16) -> ApiVersionsResponse {
        let mut buf = bytes::BytesMut::new();
        resp.encode(&mut buf, version).unwrap();
        ApiVersionsResponse::decode(&mut buf.freeze(), version).unwrap()
    }

    #[test]
    fn reads_finalized_levels_from_a_v3_answer() {
        let resp = round_trip(
            &response(7, &[("metadata.version", 21), ("kraft.version", 1)]),
            3,
        );
        let features = finalized_features(&resp, 3);
        assert_eq!(
            features,
            BTreeMap::from([
                ("kraft.version".to_owned(), 1),
                ("metadata.version".to_owned(), 21)
            ])
        );
        assert_eq!(
            metadata_version_name(features[METADATA_VERSION_FEATURE]),
            Some("3.9-IV0")
        );
    }

    #[test]
    fn no_features_before_v3_or_with_an_unknown_epoch() {
        let resp = response(7, &[("metadata.version", 21)]);
        assert!(finalized_features(&round_trip(&resp, 2), 2).is_empty());
        assert!(finalized_features(&resp, 2).is_empty());
        let unknown = round_trip(&response(-1, &[("metadata.version", 21)]), 3);
        assert!(finalized_features(&unknown, 3).is_empty());
        assert!(finalized_features(&round_trip(&response(0, &[]), 3), 3).is_empty());
    }

    #[test]
    fn level_zero_is_not_finalized() {
        let resp = response(3, &[("metadata.version", 20), ("group.version", 0)]);
        assert_eq!(
            finalized_features(&resp, 4),
            BTreeMap::from([("metadata.version".to_owned(), 20)])
        );
    }

    #[test]
    fn names_kafka_metadata_versions() {
        assert_eq!(metadata_version_name(1), Some("3.0-IV1"));
        assert_eq!(metadata_version_name(7), Some("3.3-IV3"));
        assert_eq!(metadata_version_name(19), Some("3.7-IV4"));
        assert_eq!(metadata_version_name(20), Some("3.8-IV0"));
        assert_eq!(metadata_version_name(22), Some("4.0-IV0"));
        assert_eq!(metadata_version_name(29), Some("4.2-IV1"));
        for unknown in [i16::MIN, -1, 0, 30, i16::MAX] {
            assert_eq!(metadata_version_name(unknown), None, "{unknown}");
        }
    }
}
