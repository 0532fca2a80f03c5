//! UpdateFeatures (v0-2): finalize feature levels (in practice `metadata.version`)
//! through the controller, which applies a request entirely or not at all.
//!
//! As Kafka's controller answers: the top-level error is the decision's; v0-1 repeat it
//! for every requested feature, v2 sends no per-feature results. v0's
//! `allow_downgrade` means a safe downgrade; v1+ carry Kafka's upgrade type (1 upgrade,
//! 2 safe downgrade, 3 unsafe downgrade). Also owns the feature fields of ApiVersions
//! v3+ ([`advertised_features`]).

use std::collections::HashSet;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};
use kafka_protocol::protocol::StrBytes;
use tidewater_quorum::controller::{FeatureUpdate, UpgradeType};
use tidewater_quorum::image::{
    KRAFT_VERSION, KRAFT_VERSION_DYNAMIC, METADATA_VERSION, MetadataImage,
};
use tidewater_quorum::rpc::ControllerCall;

use super::describe_quorum::forward_done;
use super::msg;
use crate::broker_server::Broker;
use crate::kafka_error::KafkaError;

/// KIP-848's feature: level 1 enables the consumer rebalance protocol
/// (ConsumerGroupHeartbeat), the level Kafka 4.0 finalizes by default.
pub const GROUP_VERSION: &str = "group.version";
/// The `group.version` levels this broker supports: `(min, max)`.
pub const GROUP_VERSION_RANGE: (u16, u16) = (0, 1);

/// KIP-890's feature: level 2 is transaction version 2 (EndTxn v5 bumps the epoch on
/// every end, Produce v12 and TxnOffsetCommit v5 add partitions implicitly); the Java
/// client speaks it only when the cluster finalizes 2.
pub const TRANSACTION_VERSION: &str = "transaction.version";
/// The `transaction.version` levels this broker supports: `(min, max)`.
pub const TRANSACTION_VERSION_RANGE: (u16, u16) = (0, 2);

/// The features this node supports besides `metadata.version`, as it registers them
/// with the controller and its controller checks UpdateFeatures against.
pub fn supported_features() -> [(String, (u16, u16)); 2] {
    [
        (GROUP_VERSION.to_string(), GROUP_VERSION_RANGE),
        (TRANSACTION_VERSION.to_string(), TRANSACTION_VERSION_RANGE),
    ]
}

/// How long a finalized level may take to reach this broker's image.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(10);

/// ApiVersions v3+ feature fields: `(supported, finalized, finalized epoch)`. Kafka's
/// KRaft brokers report `metadata.version` as supported over the range they register
/// with (`supported`: from 3.3-IV3 to the newest level they know, or to the
/// `inter.broker.protocol.version` pin), the image's level as finalized (min = max), and
/// the image's metadata offset as the epoch. `kraft.version` is supported and
/// finalized at 1 (KIP-853): every quorum accepts AddRaftVoter / RemoveRaftVoter.
/// `group.version` is supported up to 1 and finalized at 1 unless set (KIP-848).
/// `transaction.version` is supported up to 2 and finalized only once set.
pub fn advertised_features(
    image: &MetadataImage,
    (min, max): (u16, u16),
) -> (Vec<SupportedFeatureKey>, Vec<FinalizedFeatureKey>, i64) {
    let mut supported = SupportedFeatureKey::default();
    supported.name = StrBytes::from_static_str(METADATA_VERSION);
    supported.min_version = level_i16(min);
    supported.max_version = level_i16(max);
    let mut kraft = SupportedFeatureKey::default();
    kraft.name = StrBytes::from_static_str(KRAFT_VERSION);
    kraft.min_version = 0;
    kraft.max_version = level_i16(KRAFT_VERSION_DYNAMIC);
    let mut group = SupportedFeatureKey::default();
    group.name = StrBytes::from_static_str(GROUP_VERSION);
    group.min_version = level_i16(GROUP_VERSION_RANGE.0);
    group.max_version = level_i16(GROUP_VERSION_RANGE.1);
    let mut txn = SupportedFeatureKey::default();
    txn.name = StrBytes::from_static_str(TRANSACTION_VERSION);
    txn.min_version = level_i16(TRANSACTION_VERSION_RANGE.0);
    txn.max_version = level_i16(TRANSACTION_VERSION_RANGE.1);
    let mut finalized: Vec<FinalizedFeatureKey> = image
        .features
        .iter()
        .filter(|(_, level)| **level > 0)
        .map(|(name, level)| {
            let mut f = FinalizedFeatureKey::default();
            f.name = StrBytes::from_string(name.clone());
            f.min_version_level = level_i16(*level);
            f.max_version_level = level_i16(*level);
            f
        })
        .collect();
    if !finalized.is_empty() && !image.features.contains_key(KRAFT_VERSION) {
        let mut f = FinalizedFeatureKey::default();
        f.name = StrBytes::from_static_str(KRAFT_VERSION);
        f.min_version_level = level_i16(KRAFT_VERSION_DYNAMIC);
        f.max_version_level = level_i16(KRAFT_VERSION_DYNAMIC);
        finalized.push(f);
    }
    // Kafka 4.0 clusters start with group.version 1: the consumer protocol is on.
    if !finalized.is_empty() && !image.features.contains_key(GROUP_VERSION) {
        let mut f = FinalizedFeatureKey::default();
        f.name = StrBytes::from_static_str(GROUP_VERSION);
        f.min_version_level = level_i16(GROUP_VERSION_RANGE.1);
        f.max_version_level = level_i16(GROUP_VERSION_RANGE.1);
        finalized.push(f);
    }
    let epoch = i64::try_from(image.offset).unwrap_or(i64::MAX);
    (vec![supported, kraft, group, txn], finalized, epoch)
}

fn level_i16(level: u16) -> i16 {
    i16::try_from(level).unwrap_or(i16::MAX)
}

/// Why a request entry is refused (answered INVALID_UPDATE_VERSION); the messages
/// are Kafka's.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FeatureUpdateError {
    #[error(
        "Invalid update version {level} for feature {feature}. The controller does not support the given upgrade type."
    )]
    UnknownUpgradeType { feature: String, level: i16 },
    #[error(
        "Invalid update version {level} for feature {feature}. A feature version cannot be less than 0."
    )]
    NegativeLevel { feature: String, level: i16 },
}

/// A request entry as the controller's update, or the error Kafka gives for it.
pub fn to_update(u: &FeatureUpdateKey, version: i16) -> Result<FeatureUpdate, FeatureUpdateError> {
    let name = u.feature.as_str();
    let (feature, level) = (name.to_string(), u.max_version_level);
    let upgrade_type = if version == 0 {
        if u.allow_downgrade {
            UpgradeType::SafeDowngrade
        } else {
            UpgradeType::Upgrade
        }
    } else {
        match u.upgrade_type {
            1 => UpgradeType::Upgrade,
            2 => UpgradeType::SafeDowngrade,
            3 => UpgradeType::UnsafeDowngrade,
            _ => return Err(FeatureUpdateError::UnknownUpgradeType { feature, level }),
        }
    };
    let Ok(max_version_level) = u16::try_from(level) else {
        return Err(FeatureUpdateError::NegativeLevel { feature, level });
    };
    Ok(FeatureUpdate {
        feature,
        max_version_level,
        upgrade_type,
    })
}

pub async fn handle(
    broker: &Broker,
    req: UpdateFeaturesRequest,
    version: i16,
) -> UpdateFeaturesResponse {
    let outcome = decide(broker, &req, version).await;
    respond(&req, version, outcome)
}

/// The decision for the whole request.
async fn decide(
    broker: &Broker,
    req: &UpdateFeaturesRequest,
    version: i16,
) -> Result<(), KafkaError> {
    let mut seen = HashSet::new();
    if let Some(dup) = req
        .feature_updates
        .iter()
        .find(|u| !seen.insert(u.feature.as_str()))
    {
        return Err(KafkaError::new(
            E::InvalidRequest,
            format!("Duplicate feature update for {}", dup.feature.as_str()),
        ));
    }
    let updates = req
        .feature_updates
        .iter()
        .map(|u| to_update(u, version))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| KafkaError::new(E::InvalidUpdateVersion, e.to_string()))?;
    let cluster = broker.cluster();
    if updates.is_empty() {
        return Ok(());
    }
    let validate_only = req.validate_only;
    forward_done(
        cluster,
        ControllerCall::UpdateFeatures {
            updates: updates.clone(),
            validate_only,
        },
    )
    .await
    .map_err(|f| f.error)?;
    if !validate_only {
        // So an ApiVersions to this broker right after shows the new levels.
        cluster
            .wait_for_image(PROPAGATION_TIMEOUT, |i| {
                updates
                    .iter()
                    .filter(|u| u.feature != KRAFT_VERSION)
                    .all(|u| i.feature_level(&u.feature) == u.max_version_level)
            })
            .await;
    }
    Ok(())
}

fn respond(
    req: &UpdateFeaturesRequest,
    version: i16,
    outcome: Result<(), KafkaError>,
) -> UpdateFeaturesResponse {
    let (code, message) = match outcome {
        Ok(()) => (0, None),
        Err(e) => (e.code(), msg(e.message)),
    };
    let mut resp = UpdateFeaturesResponse::default();
    resp.error_code = code;
    resp.error_message = message.clone();
    if version < 2 {
        resp.results = req
            .feature_updates
            .iter()
            .map(|u| {
                let mut r = UpdatableFeatureResult::default();
                r.feature = u.feature.clone();
                r.error_code = code;
                r.error_message = message.clone();
                r
            })
            .collect();
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::{broker, encodes};
    use kafka_protocol::messages::{ApiKey, ResponseKind};

    fn key(feature: &str, level: i16, allow_downgrade: bool, upgrade_type: i8) -> FeatureUpdateKey {
        let mut k = FeatureUpdateKey::default();
        k.feature = StrBytes::from_string(feature.into());
        k.max_version_level = level;
        k.allow_downgrade = allow_downgrade;
        k.upgrade_type = upgrade_type;
        k
    }

    #[test]
    fn upgrade_types_by_version() {
        let t = |k: FeatureUpdateKey, v| to_update(&k, v).map(|u| u.upgrade_type);
        assert_eq!(t(key("f", 3, false, 0), 0), Ok(UpgradeType::Upgrade));
        assert_eq!(t(key("f", 3, true, 0), 0), Ok(UpgradeType::SafeDowngrade));
        assert_eq!(t(key("f", 3, false, 1), 1), Ok(UpgradeType::Upgrade));
        assert_eq!(t(key("f", 3, false, 2), 1), Ok(UpgradeType::SafeDowngrade));
        assert_eq!(
            t(key("f", 3, false, 3), 2),
            Ok(UpgradeType::UnsafeDowngrade)
        );
        let unknown = t(key("f", 3, false, 9), 1).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "Invalid update version 3 for feature f. The controller does not support the given upgrade type."
        );
        let negative = t(key("f", -1, false, 1), 1).unwrap_err();
        assert_eq!(
            negative.to_string(),
            "Invalid update version -1 for feature f. A feature version cannot be less than 0."
        );
    }

    #[test]
    fn features_advertised_from_the_image() {
        let mut image = MetadataImage::default();
        let (supported, finalized, _) = advertised_features(&image, (7, 25));
        assert!(finalized.is_empty(), "nothing finalized before bootstrap");
        assert_eq!(supported[0].name.as_str(), METADATA_VERSION);
        assert_eq!(
            (supported[0].min_version, supported[0].max_version),
            (7, 25)
        );
        image.features.insert(METADATA_VERSION.into(), 21);
        image.offset = 17;
        let (_, finalized, epoch) = advertised_features(&image, (7, 25));
        assert_eq!(epoch, 17);
        assert_eq!(finalized[0].name.as_str(), METADATA_VERSION);
        assert_eq!(
            (
                finalized[0].min_version_level,
                finalized[0].max_version_level
            ),
            (21, 21)
        );
        let kraft = (&finalized[1].name, finalized[1].max_version_level);
        assert_eq!((kraft.0.as_str(), kraft.1), (KRAFT_VERSION, 1));
        assert_eq!(supported[1].name.as_str(), KRAFT_VERSION);
        assert_eq!(supported[1].max_version, 1);
        // transaction.version: supported 0-2, finalized only once set.
        let txn = &supported[3];
        assert_eq!(
            (txn.name.as_str(), txn.min_version, txn.max_version),
            (TRANSACTION_VERSION, 0, 2)
        );
        assert!(
            finalized
                .iter()
                .all(|f| f.name.as_str() != TRANSACTION_VERSION)
        );
        image.features.insert(TRANSACTION_VERSION.into(), 2);
        let (_, finalized, _) = advertised_features(&image, (7, 25));
        let tv = finalized
            .iter()
            .find(|f| f.name.as_str() == TRANSACTION_VERSION)
            .map(|f| (f.min_version_level, f.max_version_level));
        assert_eq!(tv, Some((2, 2)));
    }

    #[tokio::test]
    async fn single_node_refuses_each_feature_and_v2_has_no_results() {
        let tb = broker(&[]);
        for v in 0..=2 {
            let mut req = UpdateFeaturesRequest::default();
            req.feature_updates = vec![key(METADATA_VERSION, 21, false, 1)];
            let r = handle(&tb.broker, req, v).await;
            assert_eq!(r.error_code, E::InvalidUpdateVersion.code());
            if v < 2 {
                assert_eq!(r.results.len(), 1);
                assert_eq!(r.results[0].error_code, E::InvalidUpdateVersion.code());
            } else {
                assert!(r.results.is_empty());
            }
            encodes(ApiKey::UpdateFeatures, v, ResponseKind::UpdateFeatures(r));
        }
        // Above the node's newest level: Kafka's words, which kafka-features prints.
        let mut req = UpdateFeaturesRequest::default();
        req.feature_updates = vec![key(METADATA_VERSION, 28, false, 1)];
        let r = handle(&tb.broker, req, 1).await;
        assert_eq!(r.error_code, E::InvalidUpdateVersion.code());
        assert_eq!(
            r.error_message.as_deref(),
            Some(
                "Invalid update version 28 for feature metadata.version. \
                 Local controller 1 only supports versions 7-26"
            )
        );
        let mut req = UpdateFeaturesRequest::default();
        req.feature_updates = vec![key("a", 1, false, 1), key("a", 2, false, 1)];
        let r = handle(&tb.broker, req, 1).await;
        assert_eq!(r.error_code, E::InvalidRequest.code());
        assert_eq!(r.results.len(), 2);
    }
}
