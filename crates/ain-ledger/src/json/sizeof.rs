//! [`js_sizeof`]: what [`super::js_object_sizeof`] returns for `serde_json::to_value(x)`, counted
//! straight from `x`'s `Serialize` implementation, without building the `Value` tree.
//!
//! The built-in chain measures every block it seals this way (the node stores `size`), and a
//! full block's tree is thousands of small allocations built only to be counted and dropped.
//! The rules are those of npm `object-sizeof` 1.6.3 applied to the JSON `to_value` would give:
//! 2 bytes per UTF-16 unit of every string and object key, 8 per number, 4 per boolean, 0 for
//! null; serde's data model maps onto JSON exactly as `serde_json::to_value` maps it.

use serde::ser::{self, Serialize};

/// The `object-sizeof` size of `value` as JSON, as `js_object_sizeof(&to_value(value)?)` gives it
/// (`0` where `to_value` fails, as it does for a map with keys JSON cannot hold).
pub fn js_sizeof<T: Serialize + ?Sized>(value: &T) -> usize {
    value.serialize(Size).unwrap_or(0)
}

fn utf16(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

/// The error of a value `to_value` would refuse (only ever a map key JSON cannot hold).
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl ser::Error for Refused {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Refused(msg.to_string())
    }
}

/// Counts a value.
struct Size;

/// Counts the elements of a sequence, map or struct; `key` holds a map key's size until its
/// value comes.
struct Sum {
    total: usize,
}

impl Sum {
    fn add<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Refused> {
        self.total += v.serialize(Size)?;
        Ok(())
    }
}

macro_rules! number {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, _: $t) -> Result<usize, Refused> {
            Ok(8)
        }
    )*};
}

impl ser::Serializer for Size {
    type Ok = usize;
    type Error = Refused;
    type SerializeSeq = Sum;
    type SerializeTuple = Sum;
    type SerializeTupleStruct = Sum;
    type SerializeTupleVariant = Sum;
    type SerializeMap = Sum;
    type SerializeStruct = Sum;
    type SerializeStructVariant = Sum;

    fn serialize_bool(self, _: bool) -> Result<usize, Refused> {
        Ok(4)
    }
    number!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128);
    fn serialize_f32(self, v: f32) -> Result<usize, Refused> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<usize, Refused> {
        // `to_value` turns NaN and the infinities into null.
        Ok(if v.is_finite() { 8 } else { 0 })
    }
    fn serialize_char(self, v: char) -> Result<usize, Refused> {
        Ok(v.len_utf16() * 2)
    }
    fn serialize_str(self, v: &str) -> Result<usize, Refused> {
        Ok(utf16(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<usize, Refused> {
        // An array of numbers.
        Ok(v.len() * 8)
    }
    fn serialize_none(self) -> Result<usize, Refused> {
        Ok(0)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<usize, Refused> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<usize, Refused> {
        Ok(0)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<usize, Refused> {
        Ok(0)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<usize, Refused> {
        Ok(utf16(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<usize, Refused> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<usize, Refused> {
        Ok(utf16(variant) + v.serialize(self)?)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Sum, Refused> {
        Ok(Sum { total: 0 })
    }
    fn serialize_tuple(self, _: usize) -> Result<Sum, Refused> {
        Ok(Sum { total: 0 })
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Sum, Refused> {
        Ok(Sum { total: 0 })
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Sum, Refused> {
        Ok(Sum {
            total: utf16(variant),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Sum, Refused> {
        Ok(Sum { total: 0 })
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Sum, Refused> {
        if name == RAW_VALUE {
            // `to_value` parses a `RawValue`'s text; counting it would need the same parse.
            return Err(Refused("RawValue is not counted".into()));
        }
        Ok(Sum { total: 0 })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Sum, Refused> {
        Ok(Sum {
            total: utf16(variant),
        })
    }
}

/// The struct name serde_json gives a `RawValue` (its `raw_value` feature).
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// The element-only compounds: each element's size adds up.
macro_rules! sum_of_elements {
    ($($kind:ident::$method:ident),*) => {$(
        impl ser::$kind for Sum {
            type Ok = usize;
            type Error = Refused;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Refused> {
                self.add(v)
            }
            fn end(self) -> Result<usize, Refused> {
                Ok(self.total)
            }
        }
    )*};
}

sum_of_elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Sum {
    type Ok = usize;
    type Error = Refused;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Refused> {
        // `to_value` turns a key into a string: strings stay, numbers, booleans and chars print.
        self.total += match serde_json::to_value(key).map_err(ser::Error::custom)? {
            serde_json::Value::String(s) => utf16(&s),
            serde_json::Value::Number(n) => n.to_string().len() * 2,
            serde_json::Value::Bool(b) => {
                if b {
                    8
                } else {
                    10
                }
            }
            other => return Err(Refused(format!("key {other} is not a JSON key"))),
        };
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Refused> {
        self.add(v)
    }
    fn end(self) -> Result<usize, Refused> {
        Ok(self.total)
    }
}

/// The named-field compounds: each field's name (a JSON key) and value add up.
macro_rules! sum_of_fields {
    ($($kind:ident),*) => {$(
        impl ser::$kind for Sum {
            type Ok = usize;
            type Error = Refused;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), Refused> {
                self.total += utf16(key);
                self.add(v)
            }
            fn end(self) -> Result<usize, Refused> {
                Ok(self.total)
            }
        }
    )*};
}

sum_of_fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::super::js_object_sizeof;
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn same<T: Serialize>(v: &T) {
        let tree = serde_json::to_value(v).unwrap();
        assert_eq!(js_sizeof(v), js_object_sizeof(&tree), "{tree}");
    }

    #[test]
    fn counts_what_the_value_tree_counts() {
        same(&json!({"a": [true, null, 1.5, "é🚀"], "b": {"c": -1, "d": ""}}));
        same(&json!([[], {}, 0, "x"]));
        same(&(1u8, 'é', "🚀", Some(2.5f32), None::<u32>, ()));
        same(&f64::NAN);
        same(&BTreeMap::from([(1u32, "one"), (22, "two")]));
        same(&BTreeMap::from([(true, 1)]));
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tup(u8, String),
            St { a: bool },
        }
        #[derive(serde::Serialize)]
        struct S {
            e: Vec<E>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            #[serde(flatten)]
            flat: BTreeMap<String, u8>,
            bytes: serde_bytes_like::Bytes,
        }
        mod serde_bytes_like {
            /// Serialized with `serialize_bytes`, as serde_bytes does.
            pub(super) struct Bytes(pub(super) Vec<u8>);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        same(&S {
            e: vec![
                E::Unit,
                E::New(1),
                E::Tup(2, "ab".into()),
                E::St { a: true },
            ],
            skipped: None,
            flat: BTreeMap::from([("k".into(), 1)]),
            bytes: serde_bytes_like::Bytes(vec![1, 2, 3]),
        });
    }
}
