//! Tidewater's log layer: Kafka's on-disk format (`<topic>-<partition>/` directories of
//! `.log`, `.index` and `.timeindex` segments), with retention, compaction and crash
//! recovery. It knows nothing of sockets or of the Kafka request protocol.
