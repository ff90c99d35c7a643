//! Reading internally tagged enums (`{"event": "window", ...fields}`)
//! without serde's buffering.
//!
//! For `#[serde(tag = "...")]` serde's derived `Deserialize` first copies
//! the whole object into its private `Content` tree, then reads the variant
//! from that copy: every type below such an enum gets a second decoder (for
//! `Content`) beside its JSON one, which in the browser bundle came to a
//! few hundred kilobytes. Every such object this project writes starts with
//! its tag (serde writes the tag first), so [`deserialize`] reads the first
//! key: when it is the tag, the variant is read straight from the rest of
//! the object, with the decoder the variant's type already has. When it is
//! not (a document written by hand or by another tool), the object is read
//! as JSON, its tag moved to the front and the text read again: the same
//! values come out, only slower. The JSON written stays as serde's derive
//! writes it (the enums keep their `#[serde(tag)]` for `Serialize` and
//! JSON Schema).
//!
//! An enum opts in with [`tag_first_deserialize!`], which implements
//! [`Tagged`] and `Deserialize` for it: `read` hands the tag and the rest
//! of the object to an externally tagged `#[serde(remote = "...")]` mirror
//! of the enum (same variants, same renames, checked against the enum by
//! the compiler) through [`TagAndRest`].

use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess,
    VariantAccess, Visitor,
};
use std::fmt;
use std::marker::PhantomData;

/// An internally tagged enum read with [`deserialize`].
pub(crate) trait Tagged: DeserializeOwned {
    /// The tag's key (`event`, `kind`, `state`).
    const TAG: &'static str;
    /// What the object is, for error messages.
    const EXPECTING: &'static str;
    /// Reads the variant from the tag and the rest of the object (usually
    /// `Mirror::deserialize(rest)` of the enum's remote mirror).
    fn read<'de, A: MapAccess<'de>>(rest: TagAndRest<'_, A>) -> Result<Self, A::Error>;
}

/// Implements [`Tagged`] and `Deserialize` for an internally tagged enum,
/// read through its remote mirror:
/// `tag_first_deserialize!(Enum via EnumMirror, tag "kind", expecting "...")`.
macro_rules! tag_first_deserialize {
    ($ty:ident via $mirror:ident, tag $tag:literal, expecting $expecting:literal) => {
        impl $crate::model::tag_first::Tagged for $ty {
            const TAG: &'static str = $tag;
            const EXPECTING: &'static str = $expecting;
            fn read<'de, A: serde::de::MapAccess<'de>>(
                rest: $crate::model::tag_first::TagAndRest<'_, A>,
            ) -> Result<Self, A::Error> {
                $mirror::deserialize(rest)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::model::tag_first::deserialize(deserializer)
            }
        }
    };
}
pub(crate) use tag_first_deserialize;

/// Reads `T` from an object whose tag comes first, else by the slow path
/// described in the module documentation.
pub(crate) fn deserialize<'de, T: Tagged, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(TaggedVisitor::<T>(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field(T::TAG));
        };
        if first == T::TAG {
            let tag: String = map.next_value()?;
            return T::read(TagAndRest {
                tag: &tag,
                rest: map,
            });
        }
        // The tag is elsewhere: read the object, put the tag first, read again.
        let mut object = serde_json::Map::new();
        object.insert(first, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        let tag = object
            .remove(T::TAG)
            .ok_or_else(|| de::Error::missing_field(T::TAG))?;
        let text = tag_first_text(T::TAG, &tag, object).map_err(de::Error::custom)?;
        serde_json::from_str(&text).map_err(de::Error::custom)
    }
}

/// `{"<key>": <tag>, ...object}` as JSON text.
fn tag_first_text(
    key: &str,
    tag: &serde_json::Value,
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<String, serde_json::Error> {
    let mut text = format!(
        "{{{}:{}",
        serde_json::to_string(key)?,
        serde_json::to_string(tag)?
    );
    let rest = serde_json::to_string(&serde_json::Value::Object(object))?;
    // `rest` is `{}` or `{"a":…}`: append its members after the tag.
    if rest.len() > 2 {
        text.push(',');
        text.push_str(&rest[1..]);
    } else {
        text.push('}');
    }
    Ok(text)
}

/// An object's tag and the rest of it, read as the externally tagged
/// variant the tag names: a struct variant from the remaining fields, a
/// newtype variant's value from the remaining object, a unit variant
/// ignoring whatever else the object holds.
pub(crate) struct TagAndRest<'t, A> {
    tag: &'t str,
    rest: A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for TagAndRest<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for TagAndRest<'_, A> {
    type Error = A::Error;
    type Variant = Rest<A>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Rest<A>), A::Error> {
        let variant = seed.deserialize(StrDeserializer::<A::Error>::new(self.tag))?;
        Ok((variant, Rest(self.rest)))
    }
}

/// The object after its tag.
pub(crate) struct Rest<A>(A);

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for Rest<A> {
    type Error = A::Error;

    fn unit_variant(mut self) -> Result<(), A::Error> {
        while self.0.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        seed.deserialize(MapAccessDeserializer::new(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: u32,
        #[serde(default)]
        b: Option<String>,
    }

    /// The derive's own reading, to compare with.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Derived {
        Unit,
        Newtype(Inner),
        Fields { x: f64, list: Vec<u32> },
    }

    #[derive(Debug, PartialEq, Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Sample {
        Unit,
        Newtype(Inner),
        Fields { x: f64, list: Vec<u32> },
    }

    #[derive(Deserialize)]
    #[serde(remote = "Sample", rename_all = "snake_case")]
    enum SampleMirror {
        Unit,
        Newtype(Inner),
        Fields { x: f64, list: Vec<u32> },
    }

    tag_first_deserialize!(Sample via SampleMirror, tag "kind", expecting "a sample");

    fn both(text: &str) -> (Result<Sample, String>, Result<Derived, String>) {
        (
            serde_json::from_str::<Sample>(text).map_err(|e| e.to_string()),
            serde_json::from_str::<Derived>(text).map_err(|e| e.to_string()),
        )
    }

    fn same(text: &str) -> Sample {
        let (ours, derived) = both(text);
        let ours = ours.unwrap_or_else(|e| panic!("{text}: {e}"));
        let derived = derived.unwrap_or_else(|e| panic!("{text}: {e}"));
        // Same variant and values as the derive reads.
        let again = serde_json::to_string(&ours).unwrap();
        assert_eq!(
            serde_json::from_str::<Derived>(&again).unwrap(),
            derived,
            "{text}"
        );
        ours
    }

    #[test]
    fn reads_what_serde_writes_and_round_trips() {
        for value in [
            Sample::Unit,
            Sample::Newtype(Inner {
                a: 3,
                b: Some("x".into()),
            }),
            Sample::Fields {
                x: 0.1,
                list: vec![1, 2],
            },
        ] {
            let text = serde_json::to_string(&value).unwrap();
            assert!(text.starts_with(r#"{"kind":"#), "{text}");
            assert_eq!(same(&text), value);
        }
    }

    #[test]
    fn reads_a_tag_that_is_not_first() {
        assert_eq!(
            same(r#"{"x": 2.5, "list": [3], "kind": "fields"}"#),
            Sample::Fields {
                x: 2.5,
                list: vec![3]
            }
        );
        assert_eq!(
            same(r#"{"a": 1, "kind": "newtype"}"#),
            Sample::Newtype(Inner { a: 1, b: None })
        );
        assert_eq!(same(r#"{"extra": [1], "kind": "unit"}"#), Sample::Unit);
    }

    #[test]
    fn ignores_unknown_fields_as_the_derive_does() {
        assert_eq!(same(r#"{"kind": "unit", "extra": {"y": 1}}"#), Sample::Unit);
        assert_eq!(
            same(r#"{"kind": "newtype", "a": 7, "zzz": null}"#),
            Sample::Newtype(Inner { a: 7, b: None })
        );
    }

    #[test]
    fn the_model_enums_read_back_what_they_write() {
        use crate::access::FinalDecision;
        use crate::plan::PlanOrigin;
        for origin in [
            PlanOrigin::File,
            PlanOrigin::Folder,
            PlanOrigin::Pasted {
                environments_from: "a.toml".into(),
                environments_sha256: "00ff".into(),
            },
        ] {
            let text = serde_json::to_string(&origin).unwrap();
            assert_eq!(serde_json::from_str::<PlanOrigin>(&text).unwrap(), origin);
        }
        assert_eq!(
            serde_json::from_str::<PlanOrigin>(
                r#"{"environments_sha256": "1", "kind": "pasted", "environments_from": "b"}"#
            )
            .unwrap(),
            PlanOrigin::Pasted {
                environments_from: "b".into(),
                environments_sha256: "1".into()
            }
        );
        for decision in [
            FinalDecision::Pending { go: 0, required: 2 },
            FinalDecision::Go { go: 2, required: 2 },
            FinalDecision::NoGo {
                by: vec!["ann".into()],
            },
        ] {
            let text = serde_json::to_string(&decision).unwrap();
            assert_eq!(
                serde_json::from_str::<FinalDecision>(&text).unwrap(),
                decision
            );
        }
        assert_eq!(
            serde_json::from_str::<FinalDecision>(r#"{"by": [], "state": "no-go"}"#).unwrap(),
            FinalDecision::NoGo { by: vec![] }
        );
    }

    #[test]
    fn rejects_what_the_derive_rejects() {
        for text in [
            r#"{}"#,
            r#"{"a": 1}"#,
            r#"{"kind": "nope", "a": 1}"#,
            r#"{"kind": "newtype"}"#,
            r#"{"kind": "fields", "x": "not a number", "list": []}"#,
            r#"{"kind": 3}"#,
            r#"[]"#,
        ] {
            let (ours, derived) = both(text);
            assert!(derived.is_err(), "the derive accepts {text}");
            let err = ours.expect_err(text);
            assert!(!err.is_empty());
        }
        let err = serde_json::from_str::<Sample>(r#"{"kind": "nope"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `nope`"), "{err}");
        let err = serde_json::from_str::<Sample>(r#"{"a": 1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `kind`"), "{err}");
    }
}
