//! UpdateFeatures: finalized feature levels (KRaft's `FeatureControlManager`).
//!
//! Upgrades must be supported by the controller and by every registered broker.
//! Downgrades need an explicit downgrade type; for `metadata.version` a safe downgrade
//! is refused when a level in between changed the metadata format (it could drop
//! metadata), and unsafe downgrades are refused outright, as in Kafka.

use super::{Controller, ControllerError};
use crate::image::{KRAFT_VERSION, KRAFT_VERSION_DYNAMIC, METADATA_VERSION, MetadataImage};
use crate::records::MetadataRecord;

/// Highest `metadata.version` level this code knows (Kafka 4.1-IV0). Release 0.1.0
/// stopped at 21 (3.9-IV0), 0.2.0 at 25 (4.0-IV3): a cluster finalized above a
/// release's level no longer registers its brokers, which is what makes a downgrade
/// after the finalize impossible.
pub const LATEST_METADATA_VERSION: u16 = 26;

/// Lowest `metadata.version` level Kafka 4 knows (3.3-IV3, `MetadataVersion.MINIMUM_VERSION`):
/// Kafka 4's tools name no level below it (`kafka-features describe` printed "UNKNOWN 1"
/// for a supported range from 1), and its brokers and controllers support none below.
pub const MINIMUM_METADATA_VERSION: u16 = 7;

/// From 4.1-IV0 a preferred-leader election is a handoff ([`LeaderHandoff`] records):
/// the old leader stops appending and the new one is elected once it holds the whole
/// log. 0.2.0 cannot read those records, so they are written only at this level.
///
/// [`LeaderHandoff`]: crate::records::LeaderHandoff
pub const LEADER_HANDOFF_METADATA_VERSION: u16 = 26;

/// From 4.1-IV0 brokers send batched controller calls (`AlterPartitions`,
/// `ElectLeaders`): every controller runs 0.3.0 or later once it is finalized. Below
/// it a controller may still be 0.2.0 (mid-roll), which knows only the
/// one-partition calls.
pub const BATCHED_CALLS_METADATA_VERSION: u16 = 26;

/// Whether brokers may send batched controller calls under `image`'s finalized level.
pub fn batched_calls(image: &MetadataImage) -> bool {
    image.feature_level(METADATA_VERSION) >= BATCHED_CALLS_METADATA_VERSION
}

/// `metadata.version` levels whose upgrade changed the metadata format (Kafka's
/// `MetadataVersion.didMetadataChange`), so a downgrade across them may lose data.
/// 26 (4.1-IV0) adds the LeaderHandoff record.
const METADATA_CHANGING_LEVELS: &[u16] = &[1, 5, 6, 8, 10, 11, 13, 14, 15, 17, 20, 23, 26];

/// Whether moving from `from` down to `to` crosses a metadata-format change.
pub fn metadata_version_changes_metadata(from: u16, to: u16) -> bool {
    METADATA_CHANGING_LEVELS
        .iter()
        .any(|l| *l > to && *l <= from)
}

/// Kafka's `FeatureUpdate.UpgradeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

/// One feature of an UpdateFeatures request. Level 0 removes the feature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeatureUpdate {
    pub feature: String,
    pub max_version_level: u16,
    pub upgrade_type: UpgradeType,
}

impl Controller {
    /// The records that finalize `metadata.version` (and the formatted
    /// [`ControllerConfig::bootstrap_features`]) on a cluster that has none yet; empty
    /// once it is finalized. Registered brokers must support the levels.
    pub fn bootstrap_features(
        &self,
        image: &MetadataImage,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        if image.feature_level(METADATA_VERSION) != 0 {
            return Ok(Vec::new());
        }
        let metadata_version = FeatureUpdate {
            feature: METADATA_VERSION.to_string(),
            max_version_level: self.config.bootstrap_metadata_version,
            upgrade_type: UpgradeType::Upgrade,
        };
        let others = self
            .config
            .bootstrap_features
            .iter()
            .filter(|(name, _)| name.as_str() != METADATA_VERSION)
            .map(|(name, level)| FeatureUpdate {
                feature: name.clone(),
                max_version_level: *level,
                upgrade_type: UpgradeType::Upgrade,
            });
        let updates: Vec<FeatureUpdate> = std::iter::once(metadata_version).chain(others).collect();
        self.update_features(image, &updates)
    }

    /// Validates all updates first, so a request is applied entirely or not at all.
    pub fn update_features(
        &self,
        image: &MetadataImage,
        updates: &[FeatureUpdate],
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let mut records = Vec::new();
        for update in updates {
            let (name, level) = (update.feature.as_str(), update.max_version_level);
            let current = image.feature_level(name);
            let invalid = |why: String| {
                Err(ControllerError::InvalidUpdateVersion(format!(
                    "Invalid update version {level} for feature {name}. {why}"
                )))
            };
            if name == KRAFT_VERSION {
                // Not a feature record: the quorum itself is dynamic from its start, as
                // ApiVersions reports. Kafka's tools send it with every
                // `--release-version` (at 1 from 3.9), so the level in place is a no-op.
                match level.cmp(&KRAFT_VERSION_DYNAMIC) {
                    std::cmp::Ordering::Equal => continue,
                    std::cmp::Ordering::Less => {
                        return invalid(format!(
                            "Can't downgrade {KRAFT_VERSION} from {KRAFT_VERSION_DYNAMIC}: \
                             this quorum's voters are dynamic (KIP-853)."
                        ));
                    }
                    std::cmp::Ordering::Greater => {
                        return invalid(format!(
                            "Local controller {} only supports versions {}",
                            self.config.node_id,
                            version_range(0, KRAFT_VERSION_DYNAMIC)
                        ));
                    }
                }
            }
            if level == current {
                continue;
            }
            if level < current {
                match update.upgrade_type {
                    UpgradeType::Upgrade => {
                        return invalid(format!(
                            "Can't downgrade from {current} without setting the upgrade type to 'safe' or 'unsafe'."
                        ));
                    }
                    UpgradeType::UnsafeDowngrade if name == METADATA_VERSION => {
                        return invalid(
                            "Unsafe metadata.version downgrades are not supported.".into(),
                        );
                    }
                    UpgradeType::SafeDowngrade
                        if name == METADATA_VERSION
                            && metadata_version_changes_metadata(current, level) =>
                    {
                        return invalid(format!(
                            "Refusing to perform the requested downgrade from {current} because it might \
                             delete metadata information."
                        ));
                    }
                    _ => {}
                }
            }
            if name == METADATA_VERSION && level == 0 {
                return invalid("metadata.version cannot be removed.".into());
            }
            let local = self.config.supported_features.get(name).copied();
            if let Some(why) = not_supported(
                level,
                &format!("Local controller {}", self.config.node_id),
                local.unwrap_or((0, 0)),
            ) {
                return invalid(why);
            }
            for broker in image.brokers.values() {
                let range = broker.features.get(name).copied().unwrap_or((0, 0));
                if let Some(why) =
                    not_supported(level, &format!("Broker {}", broker.broker_id), range)
                {
                    return invalid(why);
                }
            }
            records.push(MetadataRecord::FeatureLevel {
                name: name.to_string(),
                level,
            });
        }
        Ok(records)
    }
}

/// Why `what` (a controller or broker) cannot take `level`, in Kafka's words
/// (`QuorumFeatures.reasonNotSupported`); level 0 (removing a feature) always fits.
fn not_supported(level: u16, what: &str, (min, max): (u16, u16)) -> Option<String> {
    if level == 0 || (min..=max).contains(&level) {
        return None;
    }
    Some(if max == 0 {
        format!("{what} does not support this feature.")
    } else {
        format!("{what} only supports versions {}", version_range(min, max))
    })
}

/// Kafka's `VersionRange.toString`: `7-26`, `1` when min = max, `7+` up to the top.
fn version_range(min: u16, max: u16) -> String {
    if min == max {
        min.to_string()
    } else if max == i16::MAX as u16 {
        format!("{min}+")
    } else {
        format!("{min}-{max}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_kafka_s() {
        assert_eq!(not_supported(0, "Broker 2", (0, 0)), None);
        assert_eq!(not_supported(26, "Broker 2", (7, 26)), None);
        assert_eq!(
            not_supported(28, "Local controller 1", (7, 26)).as_deref(),
            Some("Local controller 1 only supports versions 7-26")
        );
        assert_eq!(
            not_supported(2, "Broker 3", (1, 1)).as_deref(),
            Some("Broker 3 only supports versions 1")
        );
        assert_eq!(
            not_supported(1, "Local controller 1", (0, 0)).as_deref(),
            Some("Local controller 1 does not support this feature.")
        );
    }

    #[test]
    fn a_downgrade_from_4_0_to_3_9_crosses_a_metadata_change() {
        // 4.0-IV1 (23) changed the metadata format: 4.0-IV3 -> 3.9-IV0 may lose metadata,
        // so a 0.2.0 cluster finalized at 4.0-IV3 cannot go back to 0.1.0's level.
        assert!(metadata_version_changes_metadata(
            LATEST_METADATA_VERSION,
            21
        ));
        assert!(!metadata_version_changes_metadata(25, 24));
        assert!(!metadata_version_changes_metadata(23, 23));
        // 4.1-IV0 (26) adds the LeaderHandoff record: back to 0.2.0's 4.0-IV3 is refused.
        assert!(metadata_version_changes_metadata(
            LATEST_METADATA_VERSION,
            25
        ));
    }
}
