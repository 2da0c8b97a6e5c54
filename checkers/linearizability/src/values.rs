//! Interning of JSON values to small integer ids, so model states are cheap to clone,
//! hash and compare.
//!
//! Strings (the common case, and the ones `append` creates by the million) live in one text
//! arena with no allocation per string; other values are keyed by a canonical text form.

use hashbrown::HashTable;
use rustc_hash::FxHasher;
use serde_json::Value;
use std::fmt::Write as _;
use std::hash::Hasher;

/// An interned value's id. `0` is always `null`.
pub type ValueId = u32;

#[derive(Clone, Debug)]
enum Slot {
    /// A string value: `text[start..start + len]`.
    Str { start: usize, len: usize },
    /// Any other value, with its canonical text at `text[start..start + len]`.
    Other {
        start: usize,
        len: usize,
        value: Value,
    },
}

/// Maps JSON values to dense ids and back; equal values (by canonical form) share an id.
#[derive(Clone, Debug)]
pub struct Interner {
    table: HashTable<ValueId>,
    hashes: Vec<u64>,
    slots: Vec<Slot>,
    text: String,
    scratch: String,
}

impl Default for Interner {
    fn default() -> Self {
        let mut interner = Interner {
            table: HashTable::new(),
            hashes: Vec::new(),
            slots: Vec::new(),
            text: String::new(),
            scratch: String::new(),
        };
        interner.intern(&Value::Null);
        interner
    }
}

fn text_hash(is_str: bool, s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(is_str as u8);
    h.write(s.as_bytes());
    h.finish()
}

impl Interner {
    /// The id of `null`.
    pub const NULL: ValueId = 0;

    fn slot_text(&self, id: ValueId) -> (bool, &str) {
        match &self.slots[id as usize] {
            Slot::Str { start, len } => (true, &self.text[*start..*start + *len]),
            Slot::Other { start, len, .. } => (false, &self.text[*start..*start + *len]),
        }
    }

    fn lookup_or_insert(&mut self, is_str: bool, s: &str, value: Option<&Value>) -> ValueId {
        let hash = text_hash(is_str, s);
        let (slots, text, hashes) = (&self.slots, &self.text, &self.hashes);
        let found = self.table.find(hash, |&id| {
            hashes[id as usize] == hash
                && match &slots[id as usize] {
                    Slot::Str { start, len } => is_str && &text[*start..*start + *len] == s,
                    Slot::Other { start, len, .. } => !is_str && &text[*start..*start + *len] == s,
                }
        });
        if let Some(&id) = found {
            return id;
        }
        let id = ValueId::try_from(self.slots.len()).expect("more than 2^32 distinct values");
        let start = self.text.len();
        self.text.push_str(s);
        self.slots.push(if is_str {
            Slot::Str {
                start,
                len: s.len(),
            }
        } else {
            Slot::Other {
                start,
                len: s.len(),
                value: value.cloned().unwrap_or(Value::Null),
            }
        });
        self.hashes.push(hash);
        let hashes = &self.hashes;
        self.table.insert_unique(hash, id, |&j| hashes[j as usize]);
        id
    }

    /// Returns the id of `value`, assigning a fresh one the first time it is seen.
    pub fn intern(&mut self, value: &Value) -> ValueId {
        if let Value::String(s) = value {
            return self.intern_str(s);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        canonical(value, &mut scratch);
        let id = self.lookup_or_insert(false, &scratch, Some(value));
        self.scratch = scratch;
        id
    }

    /// Returns the id of the string value `s`, assigning a fresh one the first time.
    pub fn intern_str(&mut self, s: &str) -> ValueId {
        self.lookup_or_insert(true, s, None)
    }

    /// The string behind `id`, if it is a string.
    pub fn as_str(&self, id: ValueId) -> Option<&str> {
        match self.slot_text(id) {
            (true, s) => Some(s),
            _ => None,
        }
    }

    /// The value behind `id`.
    pub fn value(&self, id: ValueId) -> Value {
        match &self.slots[id as usize] {
            Slot::Str { start, len } => Value::String(self.text[*start..*start + *len].into()),
            Slot::Other { value, .. } => value.clone(),
        }
    }

    /// How many distinct values have been interned.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when only `null` has been interned.
    pub fn is_empty(&self) -> bool {
        self.slots.len() <= 1
    }

    /// Approximate bytes held, for the memory budget.
    pub fn bytes(&self) -> usize {
        self.text.capacity()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.hashes.capacity() * 8
            + self.table.capacity() * 5
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
        assert_eq!(i.value(a), json!({"a": 1, "b": [1, "x"]}));
        let s = i.intern(&json!("xy"));
        assert_eq!(i.intern_str("xy"), s);
        assert_eq!(i.as_str(s), Some("xy"));
        assert_eq!(i.value(s), json!("xy"));
        // A string never equals the non-string whose canonical text it spells.
        assert_ne!(i.intern_str("null"), Interner::NULL);
    }
}
