//! The Kafka wire format at the frame level: request decoding and response
//! encoding with the right header versions, on top of the `kafka-protocol` codec.
//!
//! Sans-IO: it takes and returns bytes. Deciding what to answer is the
//! handlers' job; reading frames off sockets is the server's.

mod fetch_frame;
mod versions;

pub use fetch_frame::{Chunk, ResponseFrame, ZERO_COPY_MIN};
pub use versions::{SUPPORTED_APIS, supported_range};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, FetchResponse, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

/// A request ready for a handler.
#[derive(Debug)]
pub struct DecodedRequest {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub version: i16,
    pub body: RequestKind,
}

/// Outcome of decoding one frame that did not have to close the connection.
#[derive(Debug)]
pub enum Decoded {
    Request(Box<DecodedRequest>),
    /// ApiVersions at a version we do not speak: Kafka answers UNSUPPORTED_VERSION
    /// in a v0 response so the client can retry with a version it finds there.
    UnsupportedApiVersions {
        correlation_id: i32,
    },
}

/// Why a frame could not be decoded. Each closes the connection (as Kafka does).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes is too short for a request header")]
    Truncated(usize),
    #[error("unknown or unsupported API key {0}")]
    UnsupportedApi(i16),
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

/// Why a response could not be encoded (a bug, never client input).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api:?} v{version} response: {reason}")]
pub struct EncodeError {
    pub api: ApiKey,
    pub version: i16,
    pub reason: String,
}

/// Decodes one request frame (without its 4-byte size prefix). Never panics on
/// any input; this is the fuzzed entry point.
pub fn decode_request(frame: &[u8]) -> Result<Decoded, DecodeError> {
    decode_request_frame(Bytes::copy_from_slice(frame))
}

/// As [`decode_request`], taking ownership of the frame: the decoded request
/// (a Produce request's records above all) borrows it instead of a copy.
pub fn decode_request_frame(frame: Bytes) -> Result<Decoded, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::Truncated(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|()| DecodeError::UnsupportedApi(raw_key))?;
    let (min, max) = supported_range(api_key).ok_or(DecodeError::UnsupportedApi(raw_key))?;
    if version < min || version > max {
        if api_key == ApiKey::ApiVersions {
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            return Ok(Decoded::UnsupportedApiVersions { correlation_id });
        }
        return Err(DecodeError::UnsupportedVersion {
            api: api_key,
            version,
        });
    }
    let malformed = |e: String| DecodeError::Malformed {
        api: api_key,
        version,
        reason: e,
    };
    let mut buf = frame;
    // `{:#}`: the codec's context and its cause ("...body: Tried to allocate ..."),
    // so the log line says what was wrong with the frame.
    let header = RequestHeader::decode(&mut buf, api_key.request_header_version(version))
        .map_err(|e| malformed(format!("{e:#}")))?;
    let body =
        RequestKind::decode(api_key, &mut buf, version).map_err(|e| malformed(format!("{e:#}")))?;
    Ok(Decoded::Request(Box::new(DecodedRequest {
        header,
        api_key,
        version,
        body,
    })))
}

/// Encodes a response frame including its 4-byte size prefix. ApiVersions always
/// uses response header v0 (clients parse it before knowing the version).
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, EncodeError> {
    let err = |reason: String| EncodeError {
        api: api_key,
        version,
        reason,
    };
    let header_version = body.header_version(version);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    // A Fetch response carries the records: size the buffer once instead of
    // growing it (a copy of everything written so far at each doubling).
    let body_size = match body {
        ResponseKind::Fetch(f) => f.compute_size(version).unwrap_or(0),
        _ => 0,
    };
    let mut buf = BytesMut::with_capacity(64 + body_size);
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| err(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| err(e.to_string()))?;
    let size =
        i32::try_from(buf.len() - 4).map_err(|_| err("response larger than 2 GiB".into()))?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf)
}

/// As [`encode_response`], consuming the body so that a Fetch response's record
/// sets are not copied: they become chunks of the frame, written with one
/// vectored write beside the encoded fields around them.
pub fn encode_response_frame(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: ResponseKind,
) -> Result<ResponseFrame, EncodeError> {
    match body {
        ResponseKind::Fetch(fetch) => {
            encode_fetch_frame(version, correlation_id, fetch, Vec::new())
        }
        other => encode_response(api_key, version, correlation_id, &other)
            .map(|buf| ResponseFrame::single(buf.freeze())),
    }
}

/// A Fetch response frame whose record sets may be file ranges (see
/// [`fetch_frame::encode_fetch`]).
pub fn encode_fetch_frame(
    version: i16,
    correlation_id: i32,
    body: FetchResponse,
    files: Vec<Option<tidewater_storage::FileRecords>>,
) -> Result<ResponseFrame, EncodeError> {
    let header_version = <FetchResponse as HeaderVersion>::header_version(version);
    fetch_frame::encode_fetch(body, version, correlation_id, header_version, files).map_err(|e| {
        EncodeError {
            api: ApiKey::Fetch,
            version,
            reason: e.to_string(),
        }
    })
}

#[cfg(test)]
mod fetch_frame_tests;
#[cfg(test)]
mod tests;
