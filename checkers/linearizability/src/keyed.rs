//! [`Keyed`]: runs a model independently per key within one search, so a keyed history can be
//! checked without splitting (the state is then every key's state at once).

use crate::model::{Model, ModelOptions};
use crate::values::canonical_string;
use faultline_history::Operation;
use rustc_hash::FxHashMap;
use serde_json::Value;

/// One instance of `M` per key (Jepsen's "independent" keys).
#[derive(Clone, Copy, Debug)]
pub struct Keyed<'a, M>(pub &'a M);

/// Keys and one inner context per key.
pub struct KeyedCtx<M: Model> {
    ids: FxHashMap<String, u32>,
    keys: Vec<Option<Value>>,
    ctxs: Vec<M::Ctx>,
    /// Per key, an id for each distinct state of that key seen (for [`Model::part_state_id`]).
    state_ids: Vec<FxHashMap<M::State, u32>>,
    opts: ModelOptions,
}

impl<M: Model> KeyedCtx<M> {
    /// The key of key index `k` (`None` for operations without a key).
    pub fn key(&self, k: u32) -> &Option<Value> {
        &self.keys[k as usize]
    }
}

impl<M: Model> Keyed<'_, M> {
    /// The index of `op`'s key, a fresh one (with its own inner context) when new.
    fn key_index(&self, ctx: &mut KeyedCtx<M>, op: &Operation) -> u32 {
        let name = op.key.as_ref().map(canonical_string).unwrap_or_default();
        let next = ctx.keys.len() as u32;
        let k = *ctx.ids.entry(name).or_insert(next);
        if k == next {
            ctx.keys.push(op.key.clone());
            ctx.ctxs.push(self.0.new_ctx(&ctx.opts));
            ctx.state_ids.push(FxHashMap::default());
        }
        k
    }
}

impl<M: Model> Model for Keyed<'_, M> {
    type Op = (u32, M::Op);
    /// Each key's state, by key index.
    type State = Box<[M::State]>;
    type Ctx = KeyedCtx<M>;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn new_ctx(&self, opts: &ModelOptions) -> KeyedCtx<M> {
        KeyedCtx {
            ids: FxHashMap::default(),
            keys: Vec::new(),
            ctxs: Vec::new(),
            state_ids: Vec::new(),
            opts: opts.clone(),
        }
    }

    fn prepare(&self, ctx: &mut KeyedCtx<M>, ops: &[&Operation]) {
        // Each key's model sees its own key's operations, as when the history is split.
        let mut by_key: Vec<Vec<&Operation>> = Vec::new();
        for &op in ops {
            let k = self.key_index(ctx, op) as usize;
            by_key.resize_with(ctx.keys.len(), Vec::new);
            by_key[k].push(op);
        }
        for (k, key_ops) in by_key.iter().enumerate() {
            self.0.prepare(&mut ctx.ctxs[k], key_ops);
        }
    }

    fn compile(&self, ctx: &mut KeyedCtx<M>, op: &Operation) -> Result<Self::Op, String> {
        let k = self.key_index(ctx, op);
        Ok((k, self.0.compile(&mut ctx.ctxs[k as usize], op)?))
    }

    fn init(&self, ctx: &mut KeyedCtx<M>) -> Self::State {
        ctx.ctxs.iter_mut().map(|c| self.0.init(c)).collect()
    }

    #[inline]
    fn step(
        &self,
        ctx: &mut KeyedCtx<M>,
        state: &Self::State,
        (k, op): &Self::Op,
    ) -> Option<Self::State> {
        let k = *k as usize;
        let next = self.0.step(&mut ctx.ctxs[k], &state[k], op)?;
        if next == state[k] {
            return Some(state.clone());
        }
        let mut all = state.clone();
        all[k] = next;
        Some(all)
    }

    fn read_only(&self, (_, op): &Self::Op) -> bool {
        self.0.read_only(op)
    }

    fn monotone(&self, (_, op): &Self::Op) -> bool {
        self.0.monotone(op)
    }

    #[inline]
    fn reachable(&self, ctx: &mut KeyedCtx<M>, state: &Self::State, (k, op): &Self::Op) -> bool {
        let k = *k as usize;
        self.0.reachable(&mut ctx.ctxs[k], &state[k], op)
    }

    fn trivial(&self, (_, op): &Self::Op) -> bool {
        self.0.trivial(op)
    }

    fn state_json(&self, ctx: &KeyedCtx<M>, state: &Self::State) -> Value {
        Value::Array(
            state
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    Value::Array(vec![
                        ctx.keys[k].clone().unwrap_or(Value::Null),
                        self.0.state_json(&ctx.ctxs[k], s),
                    ])
                })
                .collect(),
        )
    }

    fn explain(&self, ctx: &KeyedCtx<M>, state: &Self::State, (k, op): &Self::Op) -> String {
        let k = *k as usize;
        let clause = self.0.explain(&ctx.ctxs[k], &state[k], op);
        match &ctx.keys[k] {
            Some(key) => format!("on key {key}: {clause}"),
            None => clause,
        }
    }

    fn observes(&self, (k, op): &Self::Op) -> Option<u64> {
        self.0.observes(op).map(|v| (u64::from(*k) << 32) | v)
    }

    fn produces(&self, (k, op): &Self::Op) -> Option<u64> {
        self.0.produces(op).map(|v| (u64::from(*k) << 32) | v)
    }

    /// Every op touches exactly its own key, and the state is one state per key.
    fn part(&self, (k, _): &Self::Op) -> Option<u32> {
        Some(*k)
    }

    fn part_state_id(&self, ctx: &mut KeyedCtx<M>, state: &Self::State, part: u32) -> u64 {
        let k = part as usize;
        let ids = &mut ctx.state_ids[k];
        if let Some(&id) = ids.get(&state[k]) {
            return u64::from(id);
        }
        let id = ids.len() as u32;
        ids.insert(state[k].clone(), id);
        u64::from(id)
    }

    fn ctx_bytes(&self, ctx: &KeyedCtx<M>) -> usize {
        let ids: usize = ctx
            .state_ids
            .iter()
            .map(|m| m.capacity() * (std::mem::size_of::<M::State>() + 8))
            .sum();
        ids + ctx.ctxs.iter().map(|c| self.0.ctx_bytes(c)).sum::<usize>()
    }

    fn heap_bytes(&self, state: &Self::State) -> usize {
        state
            .iter()
            .map(|s| std::mem::size_of_val(s) + self.0.heap_bytes(s))
            .sum()
    }
}
