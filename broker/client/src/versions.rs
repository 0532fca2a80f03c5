//! API version negotiation, without IO.
//!
//! Owns the broker's advertised version ranges (from ApiVersions) and the rule Kafka
//! clients apply to them: use the highest version that both the broker accepts and this
//! client's codec (`Request::VERSIONS` of kafka-protocol) encodes. Also owns the
//! ApiVersions bootstrap rule (KIP-511): start at the newest version the codec knows and,
//! when the broker answers `UNSUPPORTED_VERSION`, retry once at the broker's newest.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Message, Request, VersionRange};

use crate::error::ClientError;
use crate::frame::api_key;

/// The version ranges one broker supports, keyed by API key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiVersionTable {
    /// Kafka API key -> (min, max) the broker accepts. A BTreeMap so `iter` is ordered.
    ranges: BTreeMap<i16, VersionRange>,
}

impl ApiVersionTable {
    /// Builds the table from a broker's ApiVersions response. Keys unknown to this
    /// client are kept: they are still facts about the broker.
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let ranges = resp
            .api_keys
            .iter()
            .map(|k| {
                let range = VersionRange {
                    min: k.min_version,
                    max: k.max_version,
                };
                (k.api_key, range)
            })
            .collect();
        ApiVersionTable { ranges }
    }

    /// The range the broker advertises for `api`, if any.
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges.get(&(api as i16)).copied()
    }

    /// All advertised (API key, range) pairs, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (i16, VersionRange)> + '_ {
        self.ranges.iter().map(|(k, r)| (*k, *r))
    }

    /// Number of APIs the broker advertises.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the broker advertised no API at all.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The version to send `Req` at: the highest one both sides support. Fails with
    /// Kafka's `UNSUPPORTED_VERSION` (35) when there is none, naming both ranges.
    pub fn negotiate<Req: Request>(&self) -> Result<i16, ClientError> {
        let api = api_key::<Req>();
        let unsupported = |message: String| ClientError::Protocol {
            code: ResponseError::UnsupportedVersion.code(),
            api,
            message: Some(message),
        };
        let broker = self
            .broker_range(api)
            .ok_or_else(|| unsupported(format!("the broker does not support {api:?}")))?;
        let common = broker.intersect(&Req::VERSIONS);
        if common.is_empty() {
            return Err(unsupported(format!(
                "the broker supports {api:?} v{broker}, this client encodes v{}",
                Req::VERSIONS
            )));
        }
        Ok(common.max)
    }
}

/// The ApiVersions version to try first: the newest the codec encodes.
pub fn first_api_versions_version() -> i16 {
    ApiVersionsRequest::VERSIONS.max
}

/// What to do with an ApiVersions answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiVersionsOutcome {
    /// The broker accepted the version; here is its table.
    Negotiated(ApiVersionTable),
    /// The broker rejected the version and supports ApiVersions up to `version`: retry.
    RetryAt(i16),
}

/// Interprets an ApiVersions response to a request sent at `sent_version`.
pub fn api_versions_outcome(
    resp: &ApiVersionsResponse,
    sent_version: i16,
) -> Result<ApiVersionsOutcome, ClientError> {
    let table = ApiVersionTable::from_response(resp);
    if resp.error_code == ResponseError::UnsupportedVersion.code() {
        let ours = ApiVersionsRequest::VERSIONS;
        let retry = table
            .broker_range(ApiKey::ApiVersions)
            .map(|broker| broker.intersect(&ours))
            .filter(|common| !common.is_empty() && common.max < sent_version);
        return match retry {
            Some(common) => Ok(ApiVersionsOutcome::RetryAt(common.max)),
            None => Err(ClientError::Protocol {
                code: resp.error_code,
                api: ApiKey::ApiVersions,
                message: Some(format!(
                    "broker rejected ApiVersions v{sent_version} and offers no version this client encodes ({ours})"
                )),
            }),
        };
    }
    ClientError::check(resp.error_code, ApiKey::ApiVersions, None)?;
    Ok(ApiVersionsOutcome::Negotiated(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{CreateTopicsRequest, DescribeClusterRequest, MetadataRequest};

    fn response(error_code: i16, keys: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .with_api_keys(
                keys.iter()
                    .map(|&(k, min, max)| {
                        ApiVersion::default()
                            .with_api_key(k as i16)
                            .with_min_version(min)
                            .with_max_version(max)
                    })
                    .collect(),
            )
    }

    #[test]
    fn picks_the_highest_common_version() {
        let table = ApiVersionTable::from_response(&response(
            0,
            &[
                (ApiKey::Metadata, 0, 9),
                (ApiKey::CreateTopics, 0, 99),
                (ApiKey::DescribeCluster, 0, 0),
            ],
        ));
        assert_eq!(table.negotiate::<MetadataRequest>().unwrap(), 9);
        assert_eq!(
            table.negotiate::<CreateTopicsRequest>().unwrap(),
            CreateTopicsRequest::VERSIONS.max
        );
        assert_eq!(table.negotiate::<DescribeClusterRequest>().unwrap(), 0);
        assert_eq!(table.len(), 3);
    }

    proptest::proptest! {
        #![proptest_config(crate::test_support::seeded_config())]

        /// Whatever the broker advertises, the pick is the highest version in both
        /// ranges, or UNSUPPORTED_VERSION exactly when the ranges do not overlap.
        #[test]
        fn negotiation_picks_the_top_of_the_overlap(min in -1i16..20, len in -1i16..20) {
            let max = min.saturating_add(len);
            let table = ApiVersionTable::from_response(&response(0, &[(ApiKey::Metadata, min, max)]));
            let ours = MetadataRequest::VERSIONS;
            let overlap = (min.max(ours.min), max.min(ours.max));
            match table.negotiate::<MetadataRequest>() {
                Ok(v) => proptest::prop_assert_eq!(v, overlap.1),
                Err(e) => {
                    proptest::prop_assert!(overlap.0 > overlap.1, "{e}");
                    proptest::prop_assert_eq!(e.kafka_error(), Some(ResponseError::UnsupportedVersion));
                }
            }
        }
    }

    #[test]
    fn no_common_version_is_unsupported_version() {
        let table = ApiVersionTable::from_response(&response(0, &[(ApiKey::CreateTopics, 0, 1)]));
        let err = table.negotiate::<CreateTopicsRequest>().unwrap_err();
        assert_eq!(err.kafka_error(), Some(ResponseError::UnsupportedVersion));
        assert!(
            err.to_string()
                .contains("broker supports CreateTopics v0..1"),
            "{err}"
        );
        let err = table.negotiate::<MetadataRequest>().unwrap_err();
        assert!(
            err.to_string().contains("does not support Metadata"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_api_versions_version_retries_at_the_brokers_newest() {
        let resp = response(35, &[(ApiKey::ApiVersions, 0, 2)]);
        assert_eq!(
            api_versions_outcome(&resp, 4).unwrap(),
            ApiVersionsOutcome::RetryAt(2)
        );
        // A broker that rejects the version it just advertised must not loop us.
        let resp = response(35, &[(ApiKey::ApiVersions, 0, 4)]);
        assert!(api_versions_outcome(&resp, 4).is_err());
        let resp = response(35, &[]);
        assert!(api_versions_outcome(&resp, 4).is_err());
    }

    #[test]
    fn other_api_versions_errors_are_reported() {
        let err = api_versions_outcome(&response(-1, &[]), 3).unwrap_err();
        assert_eq!(err.kafka_error(), Some(ResponseError::UnknownServerError));
        let ok = api_versions_outcome(&response(0, &[(ApiKey::Metadata, 0, 12)]), 3).unwrap();
        let ApiVersionsOutcome::Negotiated(table) = ok else {
            panic!("expected a table")
        };
        assert_eq!(
            table.broker_range(ApiKey::Metadata).map(|r| r.max),
            Some(12)
        );
    }
}
