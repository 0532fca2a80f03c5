//! Kafka's ACL vocabulary with its wire codes: `ResourceType`, `PatternType`,
//! `AclOperation`, `AclPermissionType`, an ACL binding (a resource pattern and an
//! access control entry), and the binding filters DescribeAcls and DeleteAcls match
//! with (`ResourcePatternFilter`/`AccessControlEntryFilter.matches`).
//!
//! Pure data: no authorization decision is made here (the broker's authorizer does).

use serde::{Deserialize, Serialize};

/// Kafka's literal wildcard resource name (`ResourcePattern.WILDCARD_RESOURCE`).
pub const WILDCARD_RESOURCE: &str = "*";
/// Kafka's wildcard principal (`Acl.WILDCARD_PRINCIPAL_STRING`).
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// Kafka's wildcard host (`Acl.WILDCARD_HOST`).
pub const WILDCARD_HOST: &str = "*";
/// The only name of the cluster resource (`Resource.CLUSTER_NAME`).
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Declares a Kafka enum with its `i8` wire codes; unknown codes decode to `Unknown`.
macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const fn code(self) -> i8 {
                match self { $(Self::$variant => $code),+ }
            }

            /// The variant of a wire code; codes Kafka does not define are `Unknown`.
            pub const fn from_code(code: i8) -> Self {
                match code { $($code => Self::$variant,)+ _ => Self::Unknown }
            }
        }
    };
}

kafka_enum!(
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0,
        Any = 1,
        Topic = 2,
        Group = 3,
        Cluster = 4,
        TransactionalId = 5,
        DelegationToken = 6,
        User = 7,
    }
);

kafka_enum!(
    /// Kafka's `PatternType`: `Any` and `Match` exist only in filters.
    PatternType {
        Unknown = 0,
        Any = 1,
        Match = 2,
        Literal = 3,
        Prefixed = 4,
    }
);

kafka_enum!(
    /// Kafka's `AclOperation`: `Any` exists only in filters.
    AclOperation {
        Unknown = 0,
        Any = 1,
        All = 2,
        Read = 3,
        Write = 4,
        Create = 5,
        Delete = 6,
        Alter = 7,
        Describe = 8,
        ClusterAction = 9,
        DescribeConfigs = 10,
        AlterConfigs = 11,
        IdempotentWrite = 12,
        CreateTokens = 13,
        DescribeTokens = 14,
        TwoPhaseCommit = 15,
    }
);

kafka_enum!(
    /// Kafka's `AclPermissionType`: `Any` exists only in filters.
    PermissionType {
        Unknown = 0,
        Any = 1,
        Deny = 2,
        Allow = 3,
    }
);

/// What an ACL applies to: a resource type, a name and how the name matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

/// Who may (or may not) do what from where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccessControlEntry {
    /// `Type:name`, e.g. `User:alice` or the wildcard `User:*`.
    pub principal: String,
    /// A client IP address as Java prints it, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: PermissionType,
}

/// One ACL: Kafka's `AclBinding`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

/// Kafka's `AclBindingFilter`: `None` strings and `Any` codes match everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    /// `Any`: every pattern type with exactly `name`; `Match`: every pattern that
    /// would apply to a resource called `name` (literal, `*` and prefixes).
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: PermissionType,
}

impl AclBindingFilter {
    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(&acl.pattern) && self.matches_entry(&acl.entry)
    }

    /// Kafka's `ResourcePatternFilter.isUnknown`: an `Unknown` resource or pattern type.
    pub fn pattern_is_unknown(&self) -> bool {
        self.resource_type == ResourceType::Unknown || self.pattern_type == PatternType::Unknown
    }

    /// Kafka's `AccessControlEntryFilter.isUnknown`: an `Unknown` operation or permission.
    pub fn entry_is_unknown(&self) -> bool {
        self.operation == AclOperation::Unknown || self.permission == PermissionType::Unknown
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    fn matches_pattern(&self, p: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != p.resource_type {
            return false;
        }
        let any_type = matches!(self.pattern_type, PatternType::Any | PatternType::Match);
        if !any_type && self.pattern_type != p.pattern_type {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == p.pattern_type {
            return *name == p.name;
        }
        match p.pattern_type {
            PatternType::Literal => *name == p.name || p.name == WILDCARD_RESOURCE,
            PatternType::Prefixed => name.starts_with(&p.name),
            _ => false,
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    fn matches_entry(&self, e: &AccessControlEntry) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == e.principal)
            && self.host.as_ref().is_none_or(|h| *h == e.host)
            && (self.operation == AclOperation::Any || self.operation == e.operation)
            && (self.permission == PermissionType::Any || self.permission == e.permission)
    }
}

/// Why CreateAcls refuses a binding (Kafka's `AclControlManager.validateNewAcl` and
/// `AclApis`), all answered as INVALID_REQUEST with this message.
pub fn validate_new_acl(acl: &AclBinding) -> Result<(), String> {
    let p = &acl.pattern;
    let e = &acl.entry;
    if matches!(p.resource_type, ResourceType::Unknown | ResourceType::Any) {
        return Err(format!("Invalid resourceType {}", name_of(p.resource_type)));
    }
    if !matches!(p.pattern_type, PatternType::Literal | PatternType::Prefixed) {
        return Err(format!("Invalid patternType {}", name_of(p.pattern_type)));
    }
    if matches!(e.operation, AclOperation::Unknown | AclOperation::Any) {
        return Err(format!("Invalid operation {}", name_of(e.operation)));
    }
    if !matches!(e.permission, PermissionType::Deny | PermissionType::Allow) {
        return Err(format!("Invalid permissionType {}", name_of(e.permission)));
    }
    if p.name.is_empty() {
        return Err("Resource name should not be empty".into());
    }
    if p.resource_type == ResourceType::Cluster && p.name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if !e.principal.contains(':') {
        return Err(format!(
            "Could not parse principal from `{}` (no colon is present separating the \
             principal type from the principal name)",
            e.principal
        ));
    }
    Ok(())
}

/// Java's `Enum.name()` of a variant (`PREFIXED`, `TRANSACTIONAL_ID`, ...).
fn name_of(v: impl std::fmt::Debug) -> String {
    let camel = format!("{v:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
