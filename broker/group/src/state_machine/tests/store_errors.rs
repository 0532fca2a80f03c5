//! Kafka's translation of a failed `__consumer_offsets` append (or of its
//! replication wait) into the error the client acts on: retriable
//! COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR, never the replica-level code.

use kafka_protocol::error::ResponseError as E;

use crate::state_machine::{store_group_error, store_offsets_error};

#[test]
fn replication_failures_become_coordinator_errors() {
    for (append, client) in [
        (E::NotEnoughReplicas, E::CoordinatorNotAvailable),
        (E::NotEnoughReplicasAfterAppend, E::CoordinatorNotAvailable),
        (E::RequestTimedOut, E::CoordinatorNotAvailable),
        (E::UnknownTopicOrPartition, E::CoordinatorNotAvailable),
        (E::NotLeaderOrFollower, E::NotCoordinator),
        (E::KafkaStorageError, E::NotCoordinator),
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
            E::InvalidCommitOffsetSize,
            "{append:?}"
        );
        assert_eq!(
            store_group_error(append),
            E::UnknownServerError,
            "{append:?}"
        );
    }
}
