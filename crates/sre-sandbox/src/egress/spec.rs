//! The egress part of a function spec as stored on chain (`functions/<fn>.egress`).

use serde::{Deserialize, Serialize};

use super::{Caps, EgressPolicy, PolicyError};

/// `{allow: "api.example.com:443 *.cdn.example.com:443", connections?, bytes_out?, bytes_in?}`.
/// The allow-list is one space-separated string: AIN values hold no arrays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressSpec {
    /// The allow-list, `HOST:PORT` entries separated by spaces.
    pub allow: String,
    /// The function's caps (bounded by its profile's).
    #[serde(flatten)]
    pub caps: Caps,
}

impl EgressSpec {
    /// The stored form of `policy`; `None` when it allows nothing.
    pub fn of(policy: &EgressPolicy) -> Option<EgressSpec> {
        (!policy.allow.is_empty()).then(|| EgressSpec {
            allow: policy.allow_string(),
            caps: policy.caps,
        })
    }

    /// Parses it back (a spec written by hand may be malformed: the error names the entry).
    pub fn policy(&self) -> Result<EgressPolicy, PolicyError> {
        EgressPolicy::parse(std::slice::from_ref(&self.allow), self.caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_without_arrays() {
        let p = EgressPolicy::parse(
            &["api.example.com:443".into(), "*.cdn.example.com:443".into()],
            Caps {
                connections: Some(3),
                ..Caps::default()
            },
        )
        .unwrap();
        let s = EgressSpec::of(&p).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"allow": "api.example.com:443 *.cdn.example.com:443", "connections": 3})
        );
        let back: EgressSpec = serde_json::from_value(v).unwrap();
        assert_eq!(back.policy().unwrap(), p);
        assert!(EgressSpec::of(&EgressPolicy::default()).is_none());
        let bad = EgressSpec {
            allow: "*:443".into(),
            caps: Caps::default(),
        };
        assert!(bad.policy().unwrap_err().to_string().contains("bare `*`"));
    }
}
