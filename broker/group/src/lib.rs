//! The classic consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! offsets) as a sans-IO state machine, and the `__consumer_offsets` record format.
