//! Replica state machines for one partition, without IO: the leader's view of its
//! followers (high watermark, ISR changes, acks=all completion), the follower's fetch
//! and truncation decisions, and replication throttles.
