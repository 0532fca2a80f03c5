//! The versions catalog (`operator/versions.yaml`, compiled in): every broker version
//! this operator can run, its image and the highest `metadata.version` it supports.
//! Pure data and look-ups; deciding what to do with them is [`super::upgrade`]'s job.

use serde::Deserialize;
use tidewater_client::metadata_version_name;

/// The catalog as shipped with this operator.
pub const CATALOG_YAML: &str = include_str!("../../versions.yaml");

/// Errors reading a catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Not the YAML list the catalog is.
    #[error("versions catalog: {0}")]
    Parse(#[from] serde_yaml::Error),
    /// A `metadataVersion` that is not one of Kafka's level names.
    #[error("versions catalog: version {version}: unknown metadataVersion {name}")]
    UnknownLevel {
        /// The entry.
        version: String,
        /// Its `metadataVersion`.
        name: String,
    },
    /// A past release without the commit it is built from.
    #[error("versions catalog: version {0} is not the newest and names no commit")]
    NoCommit(String),
}

/// One catalog entry as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    version: String,
    image: String,
    metadata_version: String,
    #[serde(default)]
    commit: Option<String>,
}

/// A broker version the operator can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Broker version, e.g. `0.2.0`.
    pub version: String,
    /// Image the kube runtime runs for it.
    pub image: String,
    /// Highest `metadata.version` level it supports (KIP-584 feature level).
    pub metadata_version: i16,
    /// Commit of this repository it is built from (`None`: the current source).
    pub commit: Option<String>,
}

/// Every runnable version, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    releases: Vec<Release>,
}

/// The level of a Kafka `metadata.version` name (`3.9-IV0` -> 21).
pub fn level_of(name: &str) -> Option<i16> {
    (1..=i16::MAX)
        .map_while(|l| metadata_version_name(l).map(|n| (l, n)))
        .find(|(_, n)| *n == name)
        .map(|(l, _)| l)
}

/// The image the shipped catalog lists for `version` (`None`: not listed).
pub fn image_for(version: &str) -> Option<String> {
    static SHIPPED: std::sync::LazyLock<Catalog> = std::sync::LazyLock::new(Catalog::shipped);
    SHIPPED.get(version).map(|r| r.image.clone())
}

impl Catalog {
    /// Parses catalog text.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let entries: Vec<Entry> = serde_yaml::from_str(text)?;
        let last = entries.len().saturating_sub(1);
        let mut releases = Vec::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let metadata_version =
                level_of(&e.metadata_version).ok_or_else(|| CatalogError::UnknownLevel {
                    version: e.version.clone(),
                    name: e.metadata_version.clone(),
                })?;
            if i < last && e.commit.is_none() {
                return Err(CatalogError::NoCommit(e.version));
            }
            releases.push(Release {
                version: e.version,
                image: e.image,
                metadata_version,
                commit: e.commit,
            });
        }
        Ok(Self { releases })
    }

    /// The catalog compiled into this operator. It is checked by a unit test, so a
    /// failure here is a build defect, not input.
    pub fn shipped() -> Self {
        Self::parse(CATALOG_YAML).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The release of `version`, if the operator can run it.
    pub fn get(&self, version: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.version == version)
    }

    /// Versions listed, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.releases.iter().map(|r| r.version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_has_the_previous_release_and_the_current_source() {
        let c = Catalog::parse(CATALOG_YAML).expect("versions.yaml parses");
        let oldest = c.get("0.1.0").expect("0.1.0 still listed (still runnable)");
        assert_eq!(oldest.metadata_version, 21, "3.9-IV0");
        let old = c.get("0.2.0").expect("0.2.0 listed");
        assert_eq!(old.metadata_version, 25, "4.0-IV3");
        assert!(oldest.commit.is_some() && old.commit.is_some());
        let new = c
            .get(env!("CARGO_PKG_VERSION"))
            .expect("the current source is listed");
        assert_eq!(new.commit, None);
        assert!(new.metadata_version > old.metadata_version);
        assert_eq!(
            i32::from(new.metadata_version),
            i32::from(tidewater_quorum_latest()),
            "the catalog's level of the current source is what the broker supports"
        );
        assert!(c.get("9.9.9").is_none());
    }

    /// 4.1-IV0: the broker's `LATEST_METADATA_VERSION` (the operator does not link the
    /// quorum crate; the broker-side unit test pins the same number).
    fn tidewater_quorum_latest() -> i16 {
        26
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        let unknown = "- {version: 1.0.0, image: i, metadataVersion: 9.9-IV9}\n";
        assert!(matches!(
            Catalog::parse(unknown),
            Err(CatalogError::UnknownLevel { version, .. }) if version == "1.0.0"
        ));
        let no_commit = "- {version: 0.1.0, image: i, metadataVersion: 3.9-IV0}\n\
                         - {version: 0.2.0, image: i, metadataVersion: 4.0-IV3}\n";
        assert!(
            matches!(Catalog::parse(no_commit), Err(CatalogError::NoCommit(v)) if v == "0.1.0")
        );
        assert_eq!(level_of("4.0-IV3"), Some(25));
    }
}
