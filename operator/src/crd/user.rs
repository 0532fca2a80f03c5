//! The `KafkaUser` API (`tidewater.io/v1alpha1`), in the shape of Strimzi's: a user of
//! the `KafkaCluster` named by the label [`CLUSTER_LABEL`], its authentication
//! (`scram-sha-512`: a password; `tls`: a client certificate from the clients CA), and
//! its ACLs (`authorization.acls`). Wire shape only: `crate::user` validates it and
//! reconciles it through the Kafka admin API.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Label naming the user's `KafkaCluster` (in the user's namespace), as Strimzi's
/// `strimzi.io/cluster`.
pub const CLUSTER_LABEL: &str = "tidewater.io/cluster";

/// A Kafka user of a `KafkaCluster`: credentials in a Secret named as the user, ACLs
/// in the cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tidewater.io",
    version = "v1alpha1",
    kind = "KafkaUser",
    namespaced,
    status = "KafkaUserStatus",
    shortname = "ku",
    category = "tidewater",
    doc = "A Kafka user (SCRAM-SHA-512 or TLS client certificate) and its ACLs, managed by tidewater-operator.",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".metadata.labels.tidewater\\.io/cluster"}"#,
    printcolumn = r#"{"name":"Authentication","type":"string","jsonPath":".spec.authentication.type"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserSpec {
    /// How the user authenticates.
    pub authentication: UserAuthentication,
    /// What the user may do (`type: simple`: Kafka ACLs). Absent: no ACLs are managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<UserAuthorization>,
}

/// `spec.authentication`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.type == 'scram-sha-512' || !has(self.password)").message("spec.authentication.password is for type scram-sha-512 only"))]
pub struct UserAuthentication {
    /// `scram-sha-512`: a password (generated, or `password`) in the Secret's keys
    /// `password` and `sasl.jaas.config`, principal `User:<name>`. `tls`: a
    /// certificate with subject `CN=<name>` from the cluster's clients CA in the keys
    /// `user.crt`, `user.key` and `ca.crt`, principal `User:CN=<name>`.
    #[serde(rename = "type")]
    pub kind: UserAuthenticationType,
    /// A password the user brings instead of a generated one (scram-sha-512 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSpec>,
}

/// Authentication of a user.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum UserAuthenticationType {
    /// SASL SCRAM-SHA-512.
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    /// Mutual TLS with a client certificate.
    #[serde(rename = "tls")]
    Tls,
}

/// `spec.authentication.password`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSpec {
    /// Where the password is.
    pub value_from: PasswordSource,
}

/// `spec.authentication.password.valueFrom`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSource {
    /// A key of a Secret in the user's namespace (on the local runtime the file
    /// `<state-dir>/secrets/<name>/<key>`).
    pub secret_key_ref: SecretKeyRef,
}

/// A key of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// `spec.authorization`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct UserAuthorization {
    /// `simple`: Kafka ACLs (`StandardAuthorizer`).
    #[serde(rename = "type")]
    pub kind: AuthorizationType,
    /// The user's ACLs; the operator creates the missing ones and deletes every other
    /// ACL of the user's principal.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub acls: Vec<AclRule>,
}

/// Authorization of a user.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthorizationType {
    /// Kafka ACLs.
    Simple,
}

/// One ACL rule: operations on a resource, allowed or denied from a host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct AclRule {
    /// The resource (or resource prefix).
    pub resource: AclResource,
    /// Operations the rule covers.
    #[schemars(length(min = 1, max = 12))]
    pub operations: Vec<AclOperation>,
    /// Host the rule applies to; `*` for any.
    #[serde(default = "any_host")]
    #[schemars(length(min = 1, max = 255))]
    pub host: String,
    /// `allow` (default) or `deny`.
    #[serde(default, rename = "type")]
    pub kind: AclRuleType,
}

fn any_host() -> String {
    "*".to_owned()
}

/// The resource of an ACL rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'cluster' || has(self.name)").message("an ACL resource needs a name, except type cluster"))]
pub struct AclResource {
    /// Kind of resource.
    #[serde(rename = "type")]
    pub kind: AclResourceType,
    /// Name, or prefix with `patternType: prefix`; `*` for every resource of the type.
    /// Unused for `cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249))]
    pub name: Option<String>,
    /// `literal` (default) or `prefix`.
    #[serde(default)]
    pub pattern_type: AclPatternType,
}

/// Kafka resource types an ACL can name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclResourceType {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster.
    Cluster,
    /// A transactional id.
    TransactionalId,
}

/// How an ACL's resource name matches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclPatternType {
    /// The exact name (or `*`).
    #[default]
    Literal,
    /// Every name starting with it.
    Prefix,
}

/// Kafka ACL operations (Strimzi's spelling).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum AclOperation {
    /// Read.
    Read,
    /// Write.
    Write,
    /// Create.
    Create,
    /// Delete.
    Delete,
    /// Alter.
    Alter,
    /// Describe.
    Describe,
    /// ClusterAction.
    ClusterAction,
    /// AlterConfigs.
    AlterConfigs,
    /// DescribeConfigs.
    DescribeConfigs,
    /// IdempotentWrite.
    IdempotentWrite,
    /// All operations.
    All,
}

/// Whether an ACL rule allows or denies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclRuleType {
    /// Allow.
    #[default]
    Allow,
    /// Deny (wins over any allow).
    Deny,
}

/// Observed state of a `KafkaUser`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the credentials are in the Secret and in the cluster, the ACLs applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The Kafka user name: the principal without `User:` (`<name>` or `CN=<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The Secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}
