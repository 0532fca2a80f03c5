//! The controller-to-controller wire format: length-prefixed (u32 big-endian)
//! serde_json frames carrying openraft's RPCs, proposal forwarding to the leader, the
//! brokers' controller calls and metadata fetches. One request, then one response, per
//! frame pair on a connection.

use std::io;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::TypeConfig;
use crate::records::MetadataRecord;
use crate::rpc::{ControllerCall, ControllerFailure, ControllerReply, MetadataDelta};

/// Bigger frames are refused rather than allocated (a snapshot chunk is far smaller).
const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Every request names the cluster it is meant for, so a controller pointed at another
/// cluster's voters (a wrong volume, a reused address) is refused instead of joining.
#[derive(Debug, Serialize)]
pub(crate) struct OutgoingEnvelope<'a> {
    pub cluster_id: &'a str,
    pub request: &'a Request,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IncomingEnvelope {
    pub cluster_id: String,
    pub request: Request,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A follower forwards a proposal to the leader.
    Propose(Vec<MetadataRecord>),
    /// A broker's call to the active controller.
    Controller(ControllerCall),
    /// An observer (or any follower of the log) asks for what was applied after index
    /// `after`, waiting up to `max_wait_ms` when nothing is newer yet.
    FetchMetadata {
        after: u64,
        max_wait_ms: u64,
        /// The fetching broker's node.id, listed as an observer by DescribeQuorum.
        observer_id: Option<i32>,
    },
    /// A SASL token, the first request on a SASL controller listener (see `sasl`).
    SaslAuthenticate {
        mechanism: String,
        token: Vec<u8>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Propose(Result<u64, ProposeRejection>),
    Controller(Result<ControllerReply, ControllerFailure>),
    Metadata(MetadataDelta),
    /// The server's token and whether the exchange is complete, or why it failed.
    SaslAuthenticate(Result<(bool, Vec<u8>), String>),
    /// The request named another cluster (Kafka's INCONSISTENT_CLUSTER_ID).
    InconsistentClusterId {
        expected: String,
    },
}

/// Why the node a proposal was forwarded to did not commit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ProposeRejection {
    NotLeader { leader: Option<u64> },
    Failed(String),
}

pub(crate) async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> io::Result<()> {
    let payload = serde_json::to_vec(msg)?;
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|l| *l as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&payload);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> io::Result<Option<T>> {
    read_frame_max(r, MAX_FRAME).await
}

/// [`read_frame`] refusing frames over `max` bytes (before SASL authentication, a
/// stranger must not make the listener allocate a snapshot-sized buffer).
pub(crate) async fn read_frame_max<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    max: usize,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is too large"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(serde_json::from_slice(&payload)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversize_is_refused() {
        let mut buf = Vec::new();
        let req = Request::Propose(vec![MetadataRecord::RemoveTopic { topic_id: 3 }]);
        let envelope = OutgoingEnvelope {
            cluster_id: "c1",
            request: &req,
        };
        write_frame(&mut buf, &envelope).await.unwrap();
        let got: Option<IncomingEnvelope> = read_frame(&mut buf.as_slice()).await.unwrap();
        let got = got.unwrap();
        assert_eq!(got.cluster_id, "c1");
        assert!(matches!(got.request, Request::Propose(r) if r.len() == 1));
        let mut buf = Vec::new();
        write_frame(&mut buf, &req).await.unwrap();
        let empty: Option<Request> = read_frame(&mut &b""[..]).await.unwrap();
        assert!(empty.is_none());
        let huge = (MAX_FRAME as u32 + 1).to_be_bytes();
        let err = read_frame::<_, Request>(&mut &huge[..]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let torn = &buf[..buf.len() - 1];
        assert!(read_frame::<_, Request>(&mut &torn[..]).await.is_err());
    }
}
