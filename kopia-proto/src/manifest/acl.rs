//! Access-control entries (`type=acl` manifests, `internal/acl`, `internal/auth`,
//! repository-format §9.5, server-protocol §3): JSON, validation, evaluation, kopia's default
//! ACL set and the legacy rules used while no ACL exists.

use super::{Labels, ManifestError, TYPE_LABEL};
use crate::gojson::{ObjectWriter, de};
use serde::{Deserialize, Deserializer};

/// Placeholder in target values replaced by the caller's user name.
pub const OWN_USER: &str = "OWN_USER";
/// Placeholder in target values replaced by the caller's host name.
pub const OWN_HOST: &str = "OWN_HOST";

/// Access level; ordered so that a higher level includes the lower ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    /// 0: unset or unknown string (omitted from JSON; invalid in an entry).
    #[default]
    Unspecified = 0,
    /// `NONE`.
    None = 1,
    /// `READ`.
    Read = 2,
    /// `APPEND`: read and create.
    Append = 3,
    /// `FULL`: read, create, update, delete.
    Full = 4,
}

impl AccessLevel {
    /// The JSON string, or `None` for [`AccessLevel::Unspecified`].
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            AccessLevel::Unspecified => None,
            AccessLevel::None => Some("NONE"),
            AccessLevel::Read => Some("READ"),
            AccessLevel::Append => Some("APPEND"),
            AccessLevel::Full => Some("FULL"),
        }
    }

    /// Parses `NONE`/`READ`/`APPEND`/`FULL` (anything else is [`AccessLevel::Unspecified`], as
    /// kopia's JSON decoder does).
    pub fn from_name(s: &str) -> Self {
        match s {
            "NONE" => AccessLevel::None,
            "READ" => AccessLevel::Read,
            "APPEND" => AccessLevel::Append,
            "FULL" => AccessLevel::Full,
            _ => AccessLevel::Unspecified,
        }
    }
}

impl<'de> Deserialize<'de> for AccessLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        Ok(s.map_or(AccessLevel::Unspecified, |s| AccessLevel::from_name(&s)))
    }
}

/// One ACL manifest payload: `{"user":..,"target":{..},"access":..}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AclEntry {
    /// `user`: `name@host`, either part may be `*`.
    #[serde(deserialize_with = "de::null_default")]
    pub user: String,
    /// `target`: labels a manifest must carry (values may contain placeholders).
    #[serde(deserialize_with = "de::null_default")]
    pub target: Labels,
    /// `access`.
    pub access: AccessLevel,
}

fn allowed_target_labels(t: &str) -> Option<&'static [&'static str]> {
    match t {
        "content" | "acl" => Some(&[]),
        "policy" => Some(&["hostname", "username", "path", "policyType"]),
        "snapshot" => Some(&["hostname", "username", "path"]),
        "user" => Some(&["username"]),
        _ => None,
    }
}

fn user_matches(rule: &str, user: &str, host: &str) -> bool {
    let parts: Vec<&str> = rule.split('@').collect();
    match parts.as_slice() {
        [u, h] => (*u == "*" || *u == user) && (*h == "*" || *h == host),
        _ => false,
    }
}

impl AclEntry {
    /// An entry granting `access` to `user` on `target`.
    pub fn new(user: &str, target: &[(&str, &str)], access: AccessLevel) -> Self {
        AclEntry {
            user: user.to_string(),
            target: target
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            access,
        }
    }

    /// Manifest labels: `{"type":"acl"}`.
    pub fn labels() -> Labels {
        Labels::from([(TYPE_LABEL.to_string(), "acl".to_string())])
    }

    /// Kopia's `Validate`: `user` has exactly one `@`, target has a known `type` and only the
    /// labels allowed for it (non-empty; `policyType` one of the four kinds), access is set.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let bad = |r: String| Err(ManifestError::invalid("ACL entry", r));
        if self.user.split('@').count() != 2 {
            return bad("user must be 'username@hostname' possibly including wildcards".into());
        }
        let typ = self
            .target
            .get(TYPE_LABEL)
            .map(String::as_str)
            .unwrap_or("");
        if typ.is_empty() {
            return bad("ACL target must have a 'type' label".into());
        }
        let Some(allowed) = allowed_target_labels(typ) else {
            return bad(
                "invalid 'type' label, must be one of: acl, content, policy, snapshot, user".into(),
            );
        };
        for (k, v) in &self.target {
            if k == TYPE_LABEL {
                continue;
            }
            if !allowed.contains(&k.as_str()) {
                return bad(format!("unsupported label '{k}' for type '{typ}'"));
            }
            if v.is_empty() {
                return bad(format!(
                    "invalid label '{k}={v}' for type '{typ}': must be non-empty"
                ));
            }
            if k == "policyType" && !matches!(v.as_str(), "global" | "host" | "user" | "path") {
                return bad(format!("invalid label '{k}={v}' for type '{typ}'"));
            }
        }
        if self.access == AccessLevel::Unspecified {
            return bad("valid access level must be specified".into());
        }
        Ok(())
    }

    /// Whether this entry applies to `user@host` for a manifest with `labels`.
    pub fn applies(&self, user: &str, host: &str, labels: &Labels) -> bool {
        user_matches(&self.user, user, host)
            && self.target.iter().all(|(k, v)| {
                let v = v.replace(OWN_USER, user).replace(OWN_HOST, host);
                labels.get(k).map_or(v.is_empty(), |l| *l == v)
            })
    }

    /// Parses a payload.
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        de::from_slice_first(json).map_err(ManifestError::json("ACL entry"))
    }

    /// The Go encoding of the payload.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        let mut o = ObjectWriter::new(&mut out);
        o.str("user", &self.user);
        o.string_map("target", (!self.target.is_empty()).then_some(&self.target));
        if let Some(a) = self.access.as_str() {
            o.str("access", a);
        }
        o.finish();
        out
    }
}

/// Highest access among `entries` applying to `user@host` for `labels` (NONE if none).
/// For contents pass labels `{"type":"content"}`.
pub fn effective_access(
    user: &str,
    host: &str,
    labels: &Labels,
    entries: &[AclEntry],
) -> AccessLevel {
    entries
        .iter()
        .filter(|e| e.applies(user, host, labels))
        .map(|e| e.access)
        .fold(AccessLevel::None, AccessLevel::max)
}

/// Kopia's legacy rules, used while no ACL manifest exists: contents FULL (pass `None`);
/// global policy READ; host policy of the own host READ; any manifest whose
/// `username`@`hostname` labels equal the caller FULL; otherwise NONE.
pub fn legacy_access(user_at_host: &str, labels: Option<&Labels>) -> AccessLevel {
    let Some(labels) = labels else {
        return AccessLevel::Full;
    };
    let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
    if get(TYPE_LABEL) == "policy" {
        match get("policyType") {
            "global" => return AccessLevel::Read,
            "host" if user_at_host.ends_with(&format!("@{}", get("hostname"))) => {
                return AccessLevel::Read;
            }
            _ => {}
        }
    }
    if format!("{}@{}", get("username"), get("hostname")) == user_at_host {
        return AccessLevel::Full;
    }
    AccessLevel::None
}

/// The ACL set installed by `kopia server acl enable`.
pub fn default_acl_entries() -> Vec<AclEntry> {
    use AccessLevel::*;
    vec![
        AclEntry::new("*@*", &[("type", "content")], Append),
        AclEntry::new("*@*", &[("type", "policy"), ("policyType", "global")], Read),
        AclEntry::new(
            "*@*",
            &[
                ("type", "policy"),
                ("policyType", "host"),
                ("hostname", OWN_HOST),
            ],
            Read,
        ),
        AclEntry::new(
            "*@*",
            &[
                ("type", "policy"),
                ("username", OWN_USER),
                ("hostname", OWN_HOST),
            ],
            Full,
        ),
        AclEntry::new(
            "*@*",
            &[
                ("type", "snapshot"),
                ("username", OWN_USER),
                ("hostname", OWN_HOST),
            ],
            Full,
        ),
        AclEntry::new(
            "*@*",
            &[("type", "user"), ("username", "OWN_USER@OWN_HOST")],
            Full,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[(&str, &str)]) -> Labels {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_evaluate_like_kopia() {
        let acl = default_acl_entries();
        for e in &acl {
            e.validate().unwrap();
        }
        let own_snap = labels(&[
            ("type", "snapshot"),
            ("username", "alice"),
            ("hostname", "vm1"),
            ("path", "/x"),
        ]);
        assert_eq!(
            effective_access("alice", "vm1", &own_snap, &acl),
            AccessLevel::Full
        );
        assert_eq!(
            effective_access("bob", "vm1", &own_snap, &acl),
            AccessLevel::None
        );
        let content = labels(&[("type", "content")]);
        assert_eq!(
            effective_access("bob", "vm2", &content, &acl),
            AccessLevel::Append
        );
        let user = labels(&[("type", "user"), ("username", "alice@vm1")]);
        assert_eq!(
            effective_access("alice", "vm1", &user, &acl),
            AccessLevel::Full
        );
        let host_pol = labels(&[
            ("type", "policy"),
            ("policyType", "host"),
            ("hostname", "vm1"),
        ]);
        assert_eq!(
            effective_access("bob", "vm1", &host_pol, &acl),
            AccessLevel::Read
        );
        assert_eq!(
            effective_access("bob", "vm2", &host_pol, &acl),
            AccessLevel::None
        );
    }

    #[test]
    fn legacy_rules() {
        assert_eq!(legacy_access("alice@vm1", None), AccessLevel::Full);
        let g = labels(&[("type", "policy"), ("policyType", "global")]);
        assert_eq!(legacy_access("alice@vm1", Some(&g)), AccessLevel::Read);
        let h = labels(&[
            ("type", "policy"),
            ("policyType", "host"),
            ("hostname", "vm1"),
        ]);
        assert_eq!(legacy_access("alice@vm1", Some(&h)), AccessLevel::Read);
        assert_eq!(legacy_access("alice@vm2", Some(&h)), AccessLevel::None);
        let s = labels(&[
            ("type", "snapshot"),
            ("username", "alice"),
            ("hostname", "vm1"),
        ]);
        assert_eq!(legacy_access("alice@vm1", Some(&s)), AccessLevel::Full);
        let u = labels(&[("type", "user"), ("username", "alice@vm1")]);
        assert_eq!(legacy_access("alice@vm1", Some(&u)), AccessLevel::None);
    }

    #[test]
    fn validation_and_json() {
        let bad = [
            AclEntry::new("alice", &[("type", "content")], AccessLevel::Read),
            AclEntry::new("a@b", &[], AccessLevel::Read),
            AclEntry::new("a@b", &[("type", "blob")], AccessLevel::Read),
            AclEntry::new(
                "a@b",
                &[("type", "user"), ("hostname", "x")],
                AccessLevel::Read,
            ),
            AclEntry::new(
                "a@b",
                &[("type", "policy"), ("policyType", "other")],
                AccessLevel::Read,
            ),
            AclEntry::new(
                "a@b",
                &[("type", "snapshot"), ("path", "")],
                AccessLevel::Read,
            ),
            AclEntry::new("a@b", &[("type", "acl")], AccessLevel::Unspecified),
        ];
        for e in bad {
            assert!(e.validate().is_err(), "{e:?}");
        }
        let e = AclEntry::new(
            "*@*",
            &[("type", "snapshot"), ("hostname", "OWN_HOST")],
            AccessLevel::Full,
        );
        let json =
            r#"{"user":"*@*","target":{"hostname":"OWN_HOST","type":"snapshot"},"access":"FULL"}"#;
        assert_eq!(String::from_utf8(e.to_json()).unwrap(), json);
        assert_eq!(AclEntry::from_json(json.as_bytes()).unwrap(), e);
        let odd = AclEntry::from_json(br#"{"user":"a@b","target":null,"access":"SUPER"}"#).unwrap();
        assert_eq!(odd.access, AccessLevel::Unspecified);
        assert_eq!(odd.to_json(), br#"{"user":"a@b","target":null}"#);
        assert!(AclEntry::from_json(br#"{"access":5}"#).is_err());
    }
}
