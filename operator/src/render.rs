//! `render`: every Kubernetes object the operator would create for a cluster file, as a
//! multi-document YAML stream (like `helm template`). Pure apart from reading input.

use crate::build::build_all;
use crate::crd::KafkaCluster;
use crate::validate::{InvalidSpec, validate};

/// Errors reading or rendering a cluster file.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The file is not a `KafkaCluster` YAML document.
    #[error("not a KafkaCluster: {0}")]
    Parse(#[from] serde_yaml::Error),
    /// The document is a different kind.
    #[error("expected apiVersion tidewater.io/v1alpha1 kind KafkaCluster, got {0}")]
    WrongKind(String),
    /// The spec is invalid.
    #[error("invalid KafkaCluster: {0}")]
    Invalid(#[from] InvalidSpec),
}

/// Parses one `KafkaCluster` YAML document, checking apiVersion and kind.
pub fn parse_cluster(text: &str) -> Result<KafkaCluster, RenderError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text)?;
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let kind = value.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    if api_version != "tidewater.io/v1alpha1" || kind != "KafkaCluster" {
        return Err(RenderError::WrongKind(format!("{api_version} {kind}")));
    }
    Ok(serde_yaml::from_value(value)?)
}

/// Renders every object of the cluster in `text` as YAML documents separated by `---`.
pub fn render(text: &str) -> Result<String, RenderError> {
    let cluster = parse_cluster(text)?;
    let valid = validate(&cluster)?;
    let mut out = String::new();
    for object in build_all(&valid) {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&object)?);
    }
    Ok(out)
}
