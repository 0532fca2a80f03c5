//! The Tidewater operator: the `KafkaCluster` API, its reconciler, and the runtimes
//! (`kube` and `local`) that turn a plan into running brokers.
