//! The Tidewater broker: configuration, the Kafka protocol server and its request
//! handlers. Storage lives in `tidewater-storage`, group coordination in
//! `tidewater-group`.
