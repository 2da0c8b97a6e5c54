//! Interning of JSON values to small integer ids, so model states are cheap to clone,
//! hash and compare.

use rustc_hash::FxHashMap;
use serde_json::Value;
use std::fmt::Write as _;

/// An interned value's id. `0` is always `null`.
pub type ValueId = u32;

/// Maps JSON values to dense ids and back; equal values (by canonical form) share an id.
#[derive(Clone, Debug)]
pub struct Interner {
    ids: FxHashMap<String, ValueId>,
    values: Vec<Value>,
    scratch: String,
}

impl Default for Interner {
    fn default() -> Self {
        let mut interner = Interner {
            ids: FxHashMap::default(),
            values: Vec::new(),
            scratch: String::new(),
        };
        interner.intern(&Value::Null);
        interner
    }
}

impl Interner {
    /// The id of `null`.
    pub const NULL: ValueId = 0;

    /// Returns the id of `value`, assigning a fresh one the first time it is seen.
    pub fn intern(&mut self, value: &Value) -> ValueId {
        self.scratch.clear();
        canonical(value, &mut self.scratch);
        if let Some(&id) = self.ids.get(self.scratch.as_str()) {
            return id;
        }
        let id = ValueId::try_from(self.values.len()).expect("more than 2^32 distinct values");
        self.ids.insert(self.scratch.clone(), id);
        self.values.push(value.clone());
        id
    }

    /// The value behind `id`.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id as usize]
    }

    /// How many distinct values have been interned.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when only `null` has been interned.
    pub fn is_empty(&self) -> bool {
        self.values.len() <= 1
    }
}

/// Writes a canonical text form of `value`: object keys sorted, so equal values give equal text
/// whatever the map's insertion order.
pub fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::String(k.clone()));
                canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The canonical text of a value, as a fresh string (used for partition keys).
pub fn canonical_string(value: &Value) -> String {
    let mut s = String::new();
    canonical(value, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_share_ids_and_null_is_zero() {
        let mut i = Interner::default();
        assert_eq!(i.intern(&Value::Null), Interner::NULL);
        let a = i.intern(&json!({"a": 1, "b": [1, "x"]}));
        let b = i.intern(&json!({"b": [1, "x"], "a": 1}));
        assert_eq!(a, b);
        assert_ne!(i.intern(&json!("1")), i.intern(&json!(1)));
        assert_eq!(i.value(a), &json!({"a": 1, "b": [1, "x"]}));
    }
}
