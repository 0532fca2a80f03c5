//! What the rebalance drive ([`super::drive`]) reads from the brokers each reconcile:
//! Metadata and ListPartitionReassignments (the cluster as read now), DescribeLogDirs
//! (partition sizes, and whether a broker to remove holds any data). Reads only.

use std::collections::{BTreeMap, BTreeSet};

use tidewater_client::AdminClient;

use super::drive::{DriveError, ctx};
use super::outcome::EmptyCheck;

/// The cluster as read now.
pub(super) struct Read {
    /// Registered (live) brokers and their racks.
    pub(super) brokers: BTreeMap<i32, Option<String>>,
    /// Addresses of the live brokers.
    pub(super) addrs: BTreeMap<i32, String>,
    /// (topic, partition) -> (replicas, leader).
    pub(super) partitions: BTreeMap<(String, i32), (Vec<i32>, i32)>,
    /// Partitions with a reassignment in progress.
    pub(super) ongoing: BTreeSet<(String, i32)>,
}

/// Metadata and the reassignments in progress.
pub(super) async fn read(admin: &AdminClient) -> Result<Read, DriveError> {
    let m = admin.metadata(None).await.map_err(ctx("Metadata"))?;
    let ongoing = admin
        .list_partition_reassignments()
        .await
        .map_err(ctx("ListPartitionReassignments"))?;
    Ok(Read {
        brokers: m
            .brokers
            .iter()
            .map(|b| (b.node_id, b.rack.clone()))
            .collect(),
        addrs: m
            .brokers
            .iter()
            .map(|b| (b.node_id, format!("{}:{}", b.host, b.port)))
            .collect(),
        partitions: m
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        (t.name.clone(), p.partition),
                        (p.replicas.clone(), p.leader),
                    )
                })
            })
            .collect(),
        ongoing: ongoing
            .into_iter()
            .map(|o| (o.topic, o.partition))
            .collect(),
    })
}

/// DescribeLogDirs of one broker (connected to as `admin` is): (topic, partition) ->
/// bytes.
pub(super) async fn log_dirs(
    admin: &AdminClient,
    addr: &str,
) -> Result<BTreeMap<(String, i32), u64>, DriveError> {
    let client = admin
        .connect_like(addr)
        .await
        .map_err(ctx("connecting for DescribeLogDirs"))?;
    let dirs = client
        .describe_log_dirs()
        .await
        .map_err(ctx("DescribeLogDirs"))?;
    Ok(dirs
        .into_iter()
        .map(|d| {
            (
                (d.topic, d.partition),
                u64::try_from(d.size_bytes).unwrap_or(0),
            )
        })
        .collect())
}

/// Which brokers hold data: Metadata for all, DescribeLogDirs for the live ones that
/// are not kept (the ones a removal is about).
pub(super) async fn check_empty(admin: &AdminClient, r: &Read, keep: &[i32]) -> EmptyCheck {
    let hosting: BTreeSet<i32> = r
        .partitions
        .values()
        .flat_map(|(replicas, leader)| replicas.iter().copied().chain([*leader]))
        .collect();
    let mut no_log_dirs = BTreeSet::new();
    for (b, addr) in r.addrs.iter().filter(|(b, _)| !keep.contains(b)) {
        if !hosting.contains(b) && log_dirs(admin, addr).await.is_ok_and(|d| d.is_empty()) {
            no_log_dirs.insert(*b);
        }
    }
    EmptyCheck {
        hosting,
        registered: r.addrs.keys().copied().collect(),
        no_log_dirs,
    }
}
