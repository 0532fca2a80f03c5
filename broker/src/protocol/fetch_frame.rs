//! Fetch responses encoded as a list of chunks, so the record bytes storage
//! read are written to the socket from where they are (one vectored write)
//! instead of being copied into one response buffer first: for a consumer that
//! copy was a full pass over every byte it reads.
//!
//! The codec only encodes whole messages, so each level (response, topic,
//! partition) is encoded with its last regular field emptied, and split around
//! that field: the field's own encoding is then written here, element by element
//! or, for records, as a length and the storage buffer itself. This relies on
//! the layout every flexible and non-flexible Kafka message has: regular fields
//! in order, tagged fields last; `responses`, `partitions` and `records` are the
//! last regular fields of their structs at every version. The split is checked
//! on every use, and the tests compare the chunks with the codec's own encoding.
//!
//! A record set can also be a range of a segment file ([`FileRecords`]): the
//! writer sends it with `sendfile`, so a consumer's bytes go from the page cache
//! to the socket without passing through the broker at all.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use tidewater_storage::{FileRecords, StorageError};

/// Why a Fetch response could not be framed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("length {0} does not fit its field")]
    Length(usize),
    #[error("response larger than 2 GiB")]
    TooLarge,
    #[error("fetch response layout is not the one split around (codec changed?)")]
    Layout,
    /// The protocol codec refused a field (its error carries no type to keep).
    #[error("{0}")]
    Codec(String),
}

/// Records at least this long go out as their own chunk; shorter ones are
/// cheaper to copy than to give an iovec entry.
pub const ZERO_COPY_MIN: usize = 4096;

/// First version whose messages are flexible (compact lengths, tagged fields).
const FIRST_FLEXIBLE: i16 = 12;

/// A piece of a response frame: bytes in memory, or stored batches in a file.
#[derive(Debug, Clone)]
pub enum Chunk {
    Memory(Bytes),
    File(FileRecords),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Memory(b) => b.len(),
            Chunk::File(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An encoded response frame, size prefix included, as chunks to write in order.
#[derive(Debug, Clone, Default)]
pub struct ResponseFrame {
    chunks: Vec<Chunk>,
}

impl ResponseFrame {
    /// A frame that is one contiguous buffer.
    pub fn single(buf: Bytes) -> Self {
        Self {
            chunks: vec![Chunk::Memory(buf)],
        }
    }

    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// Bytes in the frame, size prefix included.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as one buffer, file ranges read (tests, and writers that cannot
    /// send files).
    pub fn to_vec(&self) -> Result<Vec<u8>, StorageError> {
        let mut out = Vec::with_capacity(self.len());
        for c in &self.chunks {
            match c {
                Chunk::Memory(b) => out.extend_from_slice(b),
                Chunk::File(f) => out.extend_from_slice(&f.read()?),
            }
        }
        Ok(out)
    }
}

/// Collects small encodings into one buffer and large record sets as chunks.
#[derive(Default)]
struct FrameBuilder {
    chunks: Vec<Chunk>,
    scratch: BytesMut,
}

impl FrameBuilder {
    fn put_slice(&mut self, b: &[u8]) {
        self.scratch.put_slice(b);
    }

    /// Ends the current chunk and adds `records` as the next one, uncopied.
    fn put_records(&mut self, records: Chunk) {
        if !self.scratch.is_empty() {
            self.chunks
                .push(Chunk::Memory(self.scratch.split().freeze()));
        }
        self.chunks.push(records);
    }

    /// Puts an array's element count or a byte string's length (-1 for null).
    fn put_len(&mut self, len: Option<usize>, flexible: bool) -> Result<(), FrameError> {
        match (len, flexible) {
            (None, false) => self.scratch.put_i32(-1),
            (None, true) => self.scratch.put_u8(0),
            (Some(n), false) => self
                .scratch
                .put_i32(i32::try_from(n).map_err(|_| FrameError::Length(n))?),
            (Some(n), true) => {
                let mut v = u32::try_from(n + 1).map_err(|_| FrameError::Length(n))?;
                while v >= 0x80 {
                    self.scratch.put_u8((v as u8) | 0x80);
                    v >>= 7;
                }
                self.scratch.put_u8(v as u8);
            }
        }
        Ok(())
    }

    /// The chunks with the 4-byte size prefix in front.
    fn finish(mut self) -> Result<ResponseFrame, FrameError> {
        if !self.scratch.is_empty() {
            self.chunks
                .push(Chunk::Memory(self.scratch.split().freeze()));
        }
        let len: usize = self.chunks.iter().map(Chunk::len).sum();
        let size = i32::try_from(len).map_err(|_| FrameError::TooLarge)?;
        let mut chunks = Vec::with_capacity(self.chunks.len() + 1);
        chunks.push(Chunk::Memory(Bytes::copy_from_slice(&size.to_be_bytes())));
        chunks.append(&mut self.chunks);
        Ok(ResponseFrame { chunks })
    }
}

/// Encodes a Fetch response frame (header `header_version`) as chunks; record
/// sets of [`ZERO_COPY_MIN`] bytes or more are not copied. `files` holds, for
/// each partition in response order, the file range that is its record set
/// (its `records` in `body` is then ignored); missing entries mean none.
pub fn encode_fetch(
    mut body: FetchResponse,
    version: i16,
    correlation_id: i32,
    header_version: i16,
    files: Vec<Option<FileRecords>>,
) -> Result<ResponseFrame, FrameError> {
    let mut files = files.into_iter();
    let flexible = version >= FIRST_FLEXIBLE;
    let mut out = FrameBuilder::default();
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    encode_into(&header, header_version, &mut out.scratch)?;
    let topics = std::mem::take(&mut body.responses);
    let (prefix, suffix) = split(&body, version, flexible, |s| {
        s.node_endpoints.clear();
        s.unknown_tagged_fields.clear();
    })?;
    out.put_slice(&prefix);
    out.put_len(Some(topics.len()), flexible)?;
    for topic in topics {
        encode_topic(topic, version, flexible, &mut files, &mut out)?;
    }
    out.put_slice(&suffix);
    out.finish()
}

fn encode_topic(
    mut topic: FetchableTopicResponse,
    version: i16,
    flexible: bool,
    files: &mut impl Iterator<Item = Option<FileRecords>>,
    out: &mut FrameBuilder,
) -> Result<(), FrameError> {
    let partitions = std::mem::take(&mut topic.partitions);
    let (prefix, suffix) = split(&topic, version, flexible, |s| {
        s.unknown_tagged_fields.clear()
    })?;
    out.put_slice(&prefix);
    out.put_len(Some(partitions.len()), flexible)?;
    for p in partitions {
        let file = files.next().flatten();
        encode_partition(p, version, flexible, file, out)?;
    }
    out.put_slice(&suffix);
    Ok(())
}

fn encode_partition(
    mut p: PartitionData,
    version: i16,
    flexible: bool,
    file: Option<FileRecords>,
    out: &mut FrameBuilder,
) -> Result<(), FrameError> {
    let records = match (file, p.records.take()) {
        (Some(f), _) => Chunk::File(f),
        (None, Some(r)) if r.len() >= ZERO_COPY_MIN => Chunk::Memory(r),
        (None, small) => {
            p.records = small;
            return encode_into(&p, version, &mut out.scratch);
        }
    };
    p.records = Some(Bytes::new());
    let (prefix, suffix) = split(&p, version, flexible, |s| {
        s.diverging_epoch = Default::default();
        s.current_leader = Default::default();
        s.snapshot_id = Default::default();
        s.unknown_tagged_fields.clear();
    })?;
    out.put_slice(&prefix);
    out.put_len(Some(records.len()), flexible)?;
    out.put_records(records);
    out.put_slice(&suffix);
    Ok(())
}

/// Splits the encoding of `emptied` (whose last regular field is an empty array
/// or byte string) into what comes before that field and what comes after it.
/// `strip_tagged` clears every tagged field; a struct with none then ends in
/// the empty field and, when flexible, a zero tag count.
fn split<T: Encodable + Clone>(
    emptied: &T,
    version: i16,
    flexible: bool,
    strip_tagged: impl FnOnce(&mut T),
) -> Result<(Bytes, Bytes), FrameError> {
    let empty_len = if flexible { 1 } else { 4 };
    let tag_count_len = usize::from(flexible);
    let mut whole = BytesMut::new();
    encode_into(emptied, version, &mut whole)?;
    let mut stripped = emptied.clone();
    strip_tagged(&mut stripped);
    let mut bare = BytesMut::new();
    encode_into(&stripped, version, &mut bare)?;
    let prefix_len = bare
        .len()
        .checked_sub(empty_len + tag_count_len)
        .filter(|n| whole.len() >= n + empty_len && whole[..*n] == bare[..*n])
        .ok_or(FrameError::Layout)?;
    let whole = whole.freeze();
    Ok((
        whole.slice(..prefix_len),
        whole.slice(prefix_len + empty_len..),
    ))
}

fn encode_into<T: Encodable>(
    value: &T,
    version: i16,
    buf: &mut BytesMut,
) -> Result<(), FrameError> {
    value
        .encode(buf, version)
        .map_err(|e| FrameError::Codec(e.to_string()))
}
