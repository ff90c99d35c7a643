//! `Positive`: a whole number above zero, with the error message plans need
//! (`expected a positive integer, got -5`).

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// A whole number from 1 to 4294967295.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Positive(u32);

impl Positive {
    /// `Some` when `value` is above zero.
    pub fn new(value: u32) -> Option<Self> {
        (value > 0).then_some(Positive(value))
    }
    /// The number as a `u32`.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Positive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Positive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

struct PositiveVisitor;

impl Visitor<'_> for PositiveVisitor {
    type Value = Positive;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a positive integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Positive, E> {
        u32::try_from(v)
            .ok()
            .and_then(Positive::new)
            .ok_or_else(|| E::custom(format!("expected a positive integer, got {v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Positive, E> {
        u32::try_from(v)
            .ok()
            .and_then(Positive::new)
            .ok_or_else(|| {
                E::custom(format!(
                    "expected a positive integer up to 4294967295, got {v}"
                ))
            })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Positive, E> {
        Err(E::custom(format!("expected a positive integer, got {v}")))
    }
}

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PositiveVisitor)
    }
}

impl JsonSchema for Positive {
    fn schema_name() -> Cow<'static, str> {
        "Positive".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": u32::MAX,
            "description": "A whole number above zero."
        })
    }
}
