//! Client-side Kafka wire framing, without IO.
//!
//! Owns the byte layout of one exchange: a request frame is a 4-byte big-endian length,
//! the request header (version chosen by the message's own `header_version`) and the
//! body; a response frame is the length, the response header (correlation id, tagged
//! fields for flexible versions) and the body. Everything here is a pure function of its
//! inputs, so the connection shell only moves bytes and every layout rule is unit-tested.
//! Must not touch sockets or clocks.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::error::ClientError;

/// Largest response frame the client accepts. Kafka's own clients have no hard limit on
/// responses, but a length above this is far more likely a non-Kafka peer (an HTTP
/// server answering "HTTP/1.1" reads as ~1.2 GB) than a real answer.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// The `ApiKey` of a request type.
pub(crate) fn api_key<Req: Request>() -> ApiKey {
    // kafka-protocol generates `Request::KEY` and `ApiKey` from the same message schema,
    // so every request key converts; the fallback only keeps this total.
    ApiKey::try_from(Req::KEY).unwrap_or(ApiKey::ApiVersions)
}

fn codec_error(api: ApiKey, version: i16, err: impl std::fmt::Display) -> ClientError {
    ClientError::Decode {
        api,
        version,
        reason: err.to_string(),
    }
}

/// Encodes `req` at `version` as one length-prefixed request frame.
///
/// Fails with `Decode` when the crate cannot encode that version of the message (outside
/// `Req::VERSIONS`, or a field set that the version cannot carry).
pub fn encode_request<Req: Request>(
    req: &Req,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes, ClientError> {
    let api = api_key::<Req>();
    if version < Req::VERSIONS.min || version > Req::VERSIONS.max {
        return Err(codec_error(
            api,
            version,
            format!("version outside what the codec encodes ({})", Req::VERSIONS),
        ));
    }
    let header = RequestHeader::default()
        .with_request_api_key(Req::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0); // patched below, once the size is known
    header
        .encode(&mut buf, Req::header_version(version))
        .map_err(|e| codec_error(api, version, e))?;
    req.encode(&mut buf, version)
        .map_err(|e| codec_error(api, version, e))?;
    let body_len = i32::try_from(buf.len() - 4)
        .map_err(|_| codec_error(api, version, "request larger than 2 GiB"))?;
    buf[..4].copy_from_slice(&body_len.to_be_bytes());
    Ok(buf.freeze())
}

/// Validates a response length prefix and returns the number of bytes that follow it.
pub fn response_length(prefix: [u8; 4], api: ApiKey, version: i16) -> Result<usize, ClientError> {
    let len = i32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(n) if (4..=MAX_RESPONSE_BYTES).contains(&n) => Ok(n),
        _ => Err(codec_error(
            api,
            version,
            format!(
                "response frame length {len} outside 4..={MAX_RESPONSE_BYTES} (is the peer a Kafka broker?)"
            ),
        )),
    }
}

/// The correlation id of a response frame (without its length prefix). It is the first
/// field of every response header version, so it can be read before the body is decoded.
pub fn correlation_id(frame: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

/// Decodes a response frame (without its length prefix) for a request of type `Req` that
/// was sent at `version`. Rejects trailing bytes: they mean the two sides disagree on the
/// version, and the decoded fields would be wrong.
pub fn decode_response<Req: Request>(
    frame: Bytes,
    version: i16,
) -> Result<(ResponseHeader, Req::Response), ClientError> {
    decode_response_as::<Req::Response>(frame, version, version, api_key::<Req>())
}

/// Like [`decode_response`], with the body decoded at `body_version`, which may differ
/// from the version that chose the header layout. Kafka brokers answer an ApiVersions
/// request of an unsupported version with a v0 body, so that the client learns which
/// versions to retry with.
pub(crate) fn decode_response_as<Resp: Decodable + HeaderVersion>(
    mut frame: Bytes,
    request_version: i16,
    body_version: i16,
    api: ApiKey,
) -> Result<(ResponseHeader, Resp), ClientError> {
    let header = ResponseHeader::decode(&mut frame, Resp::header_version(request_version))
        .map_err(|e| codec_error(api, body_version, format!("response header: {e}")))?;
    let body =
        Resp::decode(&mut frame, body_version).map_err(|e| codec_error(api, body_version, e))?;
    if !frame.is_empty() {
        return Err(codec_error(
            api,
            body_version,
            format!("{} unread bytes after the response body", frame.len()),
        ));
    }
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::{
        ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest,
        DescribeClusterRequest, MetadataRequest, MetadataResponse, TopicName,
        metadata_request::MetadataRequestTopic, metadata_response::MetadataResponseBroker,
    };
    use kafka_protocol::protocol::{Message, decode_request_header_from_buffer};
    use proptest::prelude::*;

    /// Decodes a request frame the way a broker does: length, header (by the header
    /// version the broker derives from key and version), body.
    fn broker_side_decode<Req: Request + std::fmt::Debug>(frame: &Bytes) -> (RequestHeader, Req) {
        let mut buf = frame.clone();
        let len = buf.get_i32();
        assert_eq!(len as usize, buf.len(), "length prefix must count the rest");
        let header = decode_request_header_from_buffer(&mut buf).unwrap();
        let body = Req::decode(&mut buf, header.request_api_version).unwrap();
        assert!(buf.is_empty(), "broker side left {} bytes", buf.len());
        (header, body)
    }

    fn response_frame<Resp: Encodable + HeaderVersion>(
        correlation_id: i32,
        resp: &Resp,
        version: i16,
    ) -> Bytes {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut buf, Resp::header_version(version))
            .unwrap();
        resp.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    fn metadata_request(topics: &[String]) -> MetadataRequest {
        MetadataRequest::default().with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect(),
        ))
    }

    proptest! {
        #![proptest_config(crate::test_support::seeded_config())]

        #[test]
        fn metadata_request_frames_decode_on_the_broker_side(
            version in MetadataRequest::VERSIONS.min..=MetadataRequest::VERSIONS.max,
            correlation_id in any::<i32>(),
            client_id in "[a-zA-Z0-9._-]{0,40}",
            topics in proptest::collection::vec("[a-z][a-z0-9._-]{0,30}", 0..5),
        ) {
            let req = metadata_request(&topics);
            let frame = encode_request(&req, version, correlation_id, &client_id).unwrap();
            let (header, decoded) = broker_side_decode::<MetadataRequest>(&frame);
            prop_assert_eq!(header.request_api_key, ApiKey::Metadata as i16);
            prop_assert_eq!(header.request_api_version, version);
            prop_assert_eq!(header.correlation_id, correlation_id);
            prop_assert_eq!(header.client_id.as_deref(), Some(client_id.as_str()));
            let names: Vec<String> = decoded.topics.unwrap_or_default().into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string())).collect();
            prop_assert_eq!(names, topics);
        }

        #[test]
        fn metadata_responses_decode_at_every_version(
            version in MetadataResponse::VERSIONS.min..=MetadataResponse::VERSIONS.max,
            correlation_id in any::<i32>(),
            node_ids in proptest::collection::vec(0..1000i32, 0..6),
            port in 1..65536i32,
        ) {
            let resp = MetadataResponse::default().with_brokers(
                node_ids.iter().map(|&id| MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_static_str("broker.local"))
                    .with_port(port)).collect());
            let frame = response_frame(correlation_id, &resp, version);
            prop_assert_eq!(super::correlation_id(&frame), Some(correlation_id));
            let (header, decoded) = decode_response::<MetadataRequest>(frame, version).unwrap();
            prop_assert_eq!(header.correlation_id, correlation_id);
            let ids: Vec<i32> = decoded.brokers.iter().map(|b| b.node_id.0).collect();
            prop_assert_eq!(ids, node_ids);
        }
    }

    #[test]
    fn header_version_follows_each_message() {
        // ApiVersions v3+ is flexible but its response header stays v0, so that a client
        // can always read the correlation id; DescribeCluster is flexible from v0.
        let frame = encode_request(&ApiVersionsRequest::default(), 3, 7, "c").unwrap();
        broker_side_decode::<ApiVersionsRequest>(&frame);
        let frame = encode_request(&DescribeClusterRequest::default(), 0, 8, "c").unwrap();
        broker_side_decode::<DescribeClusterRequest>(&frame);
        let resp = ApiVersionsResponse::default().with_error_code(35);
        let frame = response_frame(9, &resp, 3);
        let (header, body) = decode_response::<ApiVersionsRequest>(frame, 3).unwrap();
        assert_eq!((header.correlation_id, body.error_code), (9, 35));
    }

    #[test]
    fn versions_the_codec_cannot_encode_are_rejected_before_sending() {
        let err = encode_request(&CreateTopicsRequest::default(), 1, 1, "c").unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Decode {
                    api: ApiKey::CreateTopics,
                    version: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_mean_a_version_mismatch() {
        let resp = MetadataResponse::default();
        let mut frame = BytesMut::from(&response_frame(1, &resp, 1)[..]);
        frame.put_u8(0);
        let err = decode_response::<MetadataRequest>(frame.freeze(), 1).unwrap_err();
        assert!(err.to_string().contains("1 unread bytes"), "{err}");
    }

    #[test]
    fn truncated_responses_are_decode_errors() {
        let resp = MetadataResponse::default().with_brokers(vec![
            MetadataResponseBroker::default().with_host(StrBytes::from_static_str("h")),
        ]);
        let frame = response_frame(1, &resp, 9);
        for cut in 0..frame.len() {
            let err = decode_response::<MetadataRequest>(frame.slice(..cut), 9).unwrap_err();
            assert!(
                matches!(err, ClientError::Decode { .. }),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn length_prefix_is_bounded() {
        let api = ApiKey::Metadata;
        assert_eq!(response_length(8i32.to_be_bytes(), api, 1).unwrap(), 8);
        assert!(response_length((-1i32).to_be_bytes(), api, 1).is_err());
        assert!(response_length(2i32.to_be_bytes(), api, 1).is_err());
        // "HTTP" read as a length: a non-Kafka peer must not make us allocate 1.2 GB.
        let err = response_length(*b"HTTP", api, 1).unwrap_err();
        assert!(
            err.to_string().contains("is the peer a Kafka broker"),
            "{err}"
        );
    }

    #[test]
    fn correlation_id_needs_four_bytes() {
        assert_eq!(correlation_id(&[0, 0, 1]), None);
        assert_eq!(correlation_id(&[0, 0, 1, 2, 9]), Some(258));
    }
}
