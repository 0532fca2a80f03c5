//! Kafka's translation of a failed `__consumer_offsets` append (or of its
//! replication wait) into the error the client acts on: retriable
//! COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR, never the replica-level code.

use kafka_protocol::error::ResponseError as E;

use crate::state_machine::{code, store_group_error, store_offsets_error};

#[test]
fn replication_failures_become_coordinator_errors() {
    for (append, client) in [
        (E::NotEnoughReplicas, code::COORDINATOR_NOT_AVAILABLE),
        (
            E::NotEnoughReplicasAfterAppend,
            code::COORDINATOR_NOT_AVAILABLE,
        ),
        (E::RequestTimedOut, code::COORDINATOR_NOT_AVAILABLE),
        (E::UnknownTopicOrPartition, code::COORDINATOR_NOT_AVAILABLE),
        (E::NotLeaderOrFollower, code::NOT_COORDINATOR),
        (E::KafkaStorageError, code::NOT_COORDINATOR),
    ] {
        assert_eq!(store_offsets_error(append), client, "{append:?}");
        assert_eq!(store_group_error(append), client, "{append:?}");
    }
}

#[test]
fn oversized_writes_differ_between_commits_and_group_metadata() {
    for append in [
        E::MessageTooLarge,
        E::RecordListTooLarge,
        E::InvalidFetchSize,
    ] {
        assert_eq!(
            store_offsets_error(append),
            E::InvalidCommitOffsetSize.code(),
            "{append:?}"
        );
        assert_eq!(
            store_group_error(append),
            E::UnknownServerError.code(),
            "{append:?}"
        );
    }
}
