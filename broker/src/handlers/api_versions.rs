//! ApiVersions: the APIs and version ranges this broker really handles, and (v3+) the
//! feature tags Kafka 3.3+ always sends: `supported_features`, `finalized_features` and
//! `finalized_features_epoch`. Checked against Debian's kcat (librdkafka 2.0.2),
//! confluent-kafka and kafka-python in `tests/kraft_admin.rs`: librdkafka skips tagged
//! fields it does not know. Every node is a KRaft node, so every node lists every API.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind};

use super::update_features::advertised_features;
use crate::broker_server::MetadataView;
use crate::kraft::declared_metadata_version;
use crate::protocol::SUPPORTED_APIS;

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|(api, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = *api as i16;
            v.min_version = *min;
            v.max_version = *max;
            v
        })
        .collect()
}

pub fn handle(
    metadata: &MetadataView,
    _req: ApiVersionsRequest,
    version: i16,
) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.api_keys = api_keys();
    if version >= 3 {
        let cluster = metadata.cluster();
        // What this node registered with: a pinned node must not claim more.
        let supported = declared_metadata_version(&cluster.config);
        let (supported, finalized, epoch) = advertised_features(&cluster.image(), supported);
        resp.supported_features = supported;
        resp.finalized_features = finalized;
        resp.finalized_features_epoch = epoch;
    }
    resp
}

/// The v0 UNSUPPORTED_VERSION reply to an ApiVersions version we do not speak,
/// still listing our ranges so the client can pick one: `(api, version, body)`.
pub fn unsupported_version_response() -> (ApiKey, i16, ResponseKind) {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = ResponseError::UnsupportedVersion.code();
    // The client asks again at a version we speak and gets the features too.
    resp.api_keys = api_keys();
    (ApiKey::ApiVersions, 0, ResponseKind::ApiVersions(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decoded, decode_request, encode_response};
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::api_versions_response::SupportedFeatureKey;

    #[test]
    fn lists_every_supported_api_and_the_features_from_v3() {
        let tb = crate::handlers::test_support::broker(&[]);
        let resp = handle(tb.broker.metadata(), ApiVersionsRequest::default(), 3);
        assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
        assert!(
            resp.api_keys
                .iter()
                .any(|k| k.api_key == ApiKey::DescribeQuorum as i16)
        );
        assert!(
            resp.finalized_features
                .iter()
                .any(|f| f.name.as_str() == "metadata.version" && f.max_version_level > 0),
            "metadata.version is finalized: {:?}",
            resp.finalized_features
        );
        // Kafka 4's kafka-features printed "SupportedMinVersion: UNKNOWN 1" for the old
        // range from 1: its lowest level is 3.3-IV3 (7).
        let mv = resp
            .supported_features
            .iter()
            .find(|f| f.name.as_str() == "metadata.version")
            .expect("metadata.version is supported");
        assert_eq!(mv.min_version, 7);
        assert_eq!(
            tidewater_client::metadata_version_name(mv.min_version),
            Some("3.3-IV3")
        );
        let frame =
            encode_response(ApiKey::ApiVersions, 3, 7, &ResponseKind::ApiVersions(resp)).unwrap();
        // size, correlation id (header v0: no tagged fields), error code.
        assert_eq!(&frame[4..8], &7i32.to_be_bytes());
        assert_eq!(&frame[8..10], &[0, 0]);
        // v2 has no tagged fields: the same APIs, no features.
        let v2 = handle(tb.broker.metadata(), ApiVersionsRequest::default(), 2);
        assert_eq!(v2.api_keys.len(), SUPPORTED_APIS.len());
        assert!(v2.finalized_features.is_empty());
    }

    #[test]
    fn a_pinned_node_advertises_the_range_it_registered_with() {
        // kafka-features describe showed a 4.0-pinned node supporting 4.1-IV0, which
        // its own controller then refused to finalize.
        let tb = crate::handlers::test_support::broker(&[("inter.broker.protocol.version", "4.0")]);
        let resp = handle(tb.broker.metadata(), ApiVersionsRequest::default(), 3);
        let mv = |fs: &[SupportedFeatureKey]| {
            fs.iter()
                .find(|f| f.name.as_str() == "metadata.version")
                .map(|f| (f.min_version, f.max_version))
        };
        assert_eq!(mv(&resp.supported_features), Some((7, 25)));
    }

    #[test]
    fn unsupported_version_gets_a_v0_error_reply() {
        let mut frame = BytesMut::new();
        frame.put_i16(ApiKey::ApiVersions as i16);
        frame.put_i16(99);
        frame.put_i32(1234);
        frame.put_i16(-1);
        let Decoded::UnsupportedApiVersions { correlation_id } = decode_request(&frame).unwrap()
        else {
            panic!("expected the unsupported-version path");
        };
        assert_eq!(correlation_id, 1234);
        let (api, version, body) = unsupported_version_response();
        let out = encode_response(api, version, correlation_id, &body).unwrap();
        assert_eq!(
            &out[8..10],
            &ResponseError::UnsupportedVersion.code().to_be_bytes()
        );
    }
}
