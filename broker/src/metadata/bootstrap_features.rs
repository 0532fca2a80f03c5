//! The feature levels a new cluster starts with besides `metadata.version`, as
//! `format --feature NAME=LEVEL` records them (Kafka's `kafka-storage format
//! --feature`, which writes them into the bootstrap checkpoint): a
//! `bootstrap.features` file of `NAME=LEVEL` lines beside `meta.properties` in every
//! log dir. The first controller to activate finalizes them with `metadata.version`;
//! afterwards the file is not read again (UpdateFeatures changes levels).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file `format --feature` writes in every log dir.
pub const BOOTSTRAP_FEATURES_FILE: &str = "bootstrap.features";

/// Why `format --feature` or the file was refused.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapFeatureError {
    #[error("feature {0:?} is not NAME=LEVEL")]
    Malformed(String),
    #[error("unknown feature {0}: this node supports {1}")]
    Unknown(String, String),
    #[error("feature {name} level {level} is outside the supported range {min}-{max}")]
    Unsupported {
        name: String,
        level: u16,
        min: u16,
        max: u16,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `NAME=LEVEL` as a feature level this node supports (`supported`: name -> range).
pub fn parse(
    spec: &str,
    supported: &BTreeMap<String, (u16, u16)>,
) -> Result<(String, u16), BootstrapFeatureError> {
    let malformed = || BootstrapFeatureError::Malformed(spec.to_string());
    let (name, level) = spec.split_once('=').ok_or_else(malformed)?;
    let (name, level) = (
        name.trim(),
        level.trim().parse::<u16>().map_err(|_| malformed())?,
    );
    let Some(&(min, max)) = supported.get(name) else {
        let known: Vec<&str> = supported.keys().map(String::as_str).collect();
        return Err(BootstrapFeatureError::Unknown(
            name.into(),
            known.join(", "),
        ));
    };
    if !(min..=max).contains(&level) {
        return Err(BootstrapFeatureError::Unsupported {
            name: name.into(),
            level,
            min,
            max,
        });
    }
    Ok((name.to_string(), level))
}

/// Writes the levels into every dir (nothing when there are none).
pub fn write(
    dirs: &[PathBuf],
    features: &BTreeMap<String, u16>,
) -> Result<(), BootstrapFeatureError> {
    if features.is_empty() {
        return Ok(());
    }
    let text: String = features.iter().map(|(n, l)| format!("{n}={l}\n")).collect();
    for dir in dirs {
        let path = dir.join(BOOTSTRAP_FEATURES_FILE);
        std::fs::write(&path, &text)
            .map_err(|source| BootstrapFeatureError::Io { path, source })?;
    }
    Ok(())
}

/// The levels of the first dir holding the file (none formatted: empty).
pub fn read(
    dirs: &[PathBuf],
    supported: &BTreeMap<String, (u16, u16)>,
) -> Result<BTreeMap<String, u16>, BootstrapFeatureError> {
    let Some(path) = dirs
        .iter()
        .map(|d| d.join(BOOTSTRAP_FEATURES_FILE))
        .find(|p| Path::exists(p))
    else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|source| BootstrapFeatureError::Io { path, source })?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| parse(l, supported))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported() -> BTreeMap<String, (u16, u16)> {
        BTreeMap::from([("transaction.version".to_string(), (0, 2))])
    }

    #[test]
    fn formatted_levels_round_trip_and_bad_ones_are_refused() {
        let dirs: Vec<PathBuf> = (0..2)
            .map(|_| tempfile::tempdir().unwrap().keep())
            .collect();
        assert!(read(&dirs, &supported()).unwrap().is_empty());
        let tv2 = parse("transaction.version=2", &supported()).unwrap();
        let levels = BTreeMap::from([tv2]);
        write(&dirs, &levels).unwrap();
        assert_eq!(read(&dirs[1..], &supported()).unwrap(), levels);
        for bad in [
            "transaction.version",
            "transaction.version=x",
            "group.version=1",
        ] {
            assert!(parse(bad, &supported()).is_err(), "{bad}");
        }
        assert!(matches!(
            parse("transaction.version=3", &supported()),
            Err(BootstrapFeatureError::Unsupported { max: 2, .. })
        ));
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
