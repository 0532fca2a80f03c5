//! The errors the log layer returns, each mapped to the Kafka error code a Java client
//! would see for it.

use std::path::PathBuf;

use kafka_protocol::ResponseError;

/// Infrastructure failures (disk, corrupt metadata files). Maps to KAFKA_STORAGE_ERROR.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("invalid offset {offset}: {reason}")]
    InvalidOffset { offset: i64, reason: String },
    #[error("the log manager has been shut down")]
    ShutDown,
    #[error("record batch at offset {offset} cannot be decoded: {reason}")]
    Decode { offset: i64, reason: String },
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// KAFKA_STORAGE_ERROR.
    pub fn error(&self) -> ResponseError {
        ResponseError::KafkaStorageError
    }

    /// The code for a response's `error_code` field.
    pub fn error_code(&self) -> i16 {
        self.error().code()
    }
}

/// Why an append was refused. Everything except `Storage` is the producer's fault and
/// leaves the log untouched.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("corrupt message at batch {batch_index} (byte {position}): {reason}")]
    CorruptMessage {
        batch_index: usize,
        position: usize,
        reason: String,
    },
    #[error("invalid record in batch {batch_index}: {reason}")]
    InvalidRecord { batch_index: usize, reason: String },
    /// A follower append whose first batch starts below the log end (Kafka's
    /// `UnexpectedAppendOffsetException`): recoverable when the log is empty and the
    /// batch holds the log end, as after DeleteRecords inside a batch.
    #[error(
        "first batch [{first_offset}, {last_offset}] starts below the log end offset {log_end_offset}"
    )]
    UnexpectedAppendOffset {
        first_offset: i64,
        last_offset: i64,
        log_end_offset: i64,
    },
    #[error("unsupported record batch magic {magic} (only magic v2 is supported)")]
    UnsupportedForMessageFormat { magic: i8 },
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: u64 },
    #[error("record set of {size} bytes exceeds segment.bytes {max}")]
    RecordListTooLarge { size: usize, max: u64 },
    #[error("invalid timestamp {timestamp}: {reason}")]
    InvalidTimestamp { timestamp: i64, reason: String },
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {found}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        found: i32,
    },
    #[error("producer {producer_id} epoch {found} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        found: i16,
    },
    #[error("unknown producer id {producer_id}")]
    UnknownProducerId { producer_id: i64 },
    /// A transaction marker from a coordinator older than the one that wrote the
    /// producer's last marker here (Kafka's `TransactionCoordinatorFencedException`).
    #[error(
        "marker of producer {producer_id} from coordinator epoch {found} (zombie), {current} (current)"
    )]
    TransactionCoordinatorFenced {
        producer_id: i64,
        current: i32,
        found: i32,
    },
    /// A transactional batch that would open its producer's transaction here without
    /// the transaction coordinator's say-so (KIP-890 verification; Kafka's
    /// `InvalidTxnStateException`).
    #[error(
        "producer {producer_id} has no ongoing transaction here and the partition was not verified to be in one"
    )]
    InvalidTxnState { producer_id: i64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl AppendError {
    /// The Kafka error for this failure.
    pub fn error(&self) -> ResponseError {
        use ResponseError as E;
        match self {
            AppendError::CorruptMessage { .. } => E::CorruptMessage,
            AppendError::MessageTooLarge { .. } => E::MessageTooLarge,
            AppendError::RecordListTooLarge { .. } => E::RecordListTooLarge,
            AppendError::InvalidTimestamp { .. } => E::InvalidTimestamp,
            AppendError::UnsupportedForMessageFormat { .. } => E::UnsupportedForMessageFormat,
            AppendError::OutOfOrderSequence { .. } => E::OutOfOrderSequenceNumber,
            AppendError::InvalidProducerEpoch { .. } => E::InvalidProducerEpoch,
            AppendError::UnknownProducerId { .. } => E::UnknownProducerId,
            AppendError::TransactionCoordinatorFenced { .. } => E::TransactionCoordinatorFenced,
            AppendError::InvalidTxnState { .. } => E::InvalidTxnState,
            AppendError::InvalidRecord { .. } | AppendError::UnexpectedAppendOffset { .. } => {
                E::InvalidRecord
            }
            AppendError::Storage(e) => e.error(),
        }
    }

    /// The code for a response's `error_code` field.
    pub fn error_code(&self) -> i16 {
        self.error().code()
    }
}

/// Why a read (or a log-start move) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ReadError {
    /// OFFSET_OUT_OF_RANGE or KAFKA_STORAGE_ERROR.
    pub fn error(&self) -> ResponseError {
        match self {
            ReadError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            ReadError::Storage(e) => e.error(),
        }
    }

    /// The code for a response's `error_code` field.
    pub fn error_code(&self) -> i16 {
        self.error().code()
    }
}
