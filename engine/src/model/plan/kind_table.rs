//! Reading a test: common fields plus exactly one kind table.
//!
//! Written by hand rather than with `#[serde(flatten)]` or an internally
//! tagged enum because those buffer the input and lose the positions and
//! field paths that plan errors must name.

use super::{TestKind, TestSpec};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// The fields every test may have.
const COMMON: [&str; 4] = ["id", "title", "description", "alongside"];

/// Every field a test table may hold: the common ones, then each kind's
/// table.
const FIELDS: [&str; COMMON.len() + TestKind::NAMES.len()] = {
    let mut fields = [""; COMMON.len() + TestKind::NAMES.len()];
    let mut i = 0;
    while i < fields.len() {
        fields[i] = if i < COMMON.len() {
            COMMON[i]
        } else {
            TestKind::NAMES[i - COMMON.len()]
        };
        i += 1;
    }
    fields
};

struct TestVisitor;

impl<'de> Visitor<'de> for TestVisitor {
    type Value = TestSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a test table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TestSpec, A::Error> {
        let mut id: Option<String> = None;
        let mut title = None;
        let mut description = None;
        let mut alongside = None;
        let mut kind: Option<TestKind> = None;
        while let Some(key) = map.next_key::<String>()? {
            let found = match key.as_str() {
                "id" => {
                    id = Some(map.next_value()?);
                    None
                }
                "title" => {
                    title = Some(map.next_value()?);
                    None
                }
                "description" => {
                    description = Some(map.next_value()?);
                    None
                }
                "alongside" => {
                    alongside = Some(map.next_value()?);
                    None
                }
                "http_load" => Some(TestKind::HttpLoad(map.next_value()?)),
                "job_workload" => Some(TestKind::JobWorkload(map.next_value()?)),
                "stream" => Some(TestKind::Stream(map.next_value()?)),
                "assert" => Some(TestKind::Assert(map.next_value()?)),
                "chaos" => Some(TestKind::Chaos(map.next_value()?)),
                "storage_probe" => Some(TestKind::StorageProbe(map.next_value()?)),
                "health" => Some(TestKind::Health(map.next_value()?)),
                other => return Err(de::Error::unknown_field(other, &FIELDS)),
            };
            if let Some(found) = found {
                if let Some(previous) = &kind {
                    return Err(de::Error::custom(format!(
                        "a test has one kind table, found both `{}` and `{}`",
                        previous.name(),
                        found.name()
                    )));
                }
                kind = Some(found);
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let kind = kind.ok_or_else(|| {
            de::Error::custom(format!(
                "test {id:?} has no kind table: expected one of `{}`",
                TestKind::NAMES.join("`, `")
            ))
        })?;
        Ok(TestSpec {
            id,
            title,
            description,
            alongside,
            kind,
        })
    }
}

impl<'de> Deserialize<'de> for TestSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TestVisitor)
    }
}
