//! Histories shaped like faultline's findings, for tests and examples: a builder that numbers
//! events as they are added, and the stale read and lost writes of `docs/findings.md`.

use faultline_history::{Event, EventType, Process, PRIMARIES};
use serde_json::{json, Value};

/// One second in nanoseconds.
pub const S: u64 = 1_000_000_000;

/// Builds a history event by event; [`History::sort`] orders and numbers them by time.
#[derive(Default)]
pub struct History {
    /// The events so far.
    pub events: Vec<Event>,
}

impl History {
    /// Adds an event and returns it, to set `key`, `node` or `error`.
    pub fn push(
        &mut self,
        time: u64,
        process: Process,
        kind: EventType,
        f: &str,
        value: Value,
    ) -> &mut Event {
        let index = self.events.len() as u64;
        self.events.push(faultline_history::testing::event(
            index, time, process, kind, f, value,
        ));
        self.events.last_mut().expect("just pushed")
    }

    /// A client operation served by `node`: invoked at `from` with `input`, completed as
    /// `kind` with `output` at `to`.
    #[allow(clippy::too_many_arguments)]
    pub fn op(
        &mut self,
        process: u64,
        f: &str,
        key: Option<Value>,
        input: Value,
        from: u64,
        kind: EventType,
        output: Value,
        to: u64,
        node: &str,
    ) {
        let p = Process::Client(process);
        let e = self.push(from, p, EventType::Invoke, f, input);
        e.key = key.clone();
        e.node = Some(node.into());
        let e = self.push(to, p, kind, f, output);
        e.key = key;
        e.node = Some(node.into());
    }

    /// A nemesis operation from `from` to `to`, with `value` on both ends.
    pub fn nemesis(&mut self, from: u64, to: u64, f: &str, value: Value) {
        self.push(from, Process::Nemesis, EventType::Invoke, f, value.clone());
        self.push(to, Process::Nemesis, EventType::Ok, f, value);
    }

    /// A leader observation.
    pub fn leaders(&mut self, t: u64, primaries: &[&str]) {
        self.push(
            t,
            Process::Nemesis,
            EventType::Info,
            PRIMARIES,
            json!(primaries),
        );
    }

    /// The leader watch could not tell who leads at `t` (a `primaries` event with null).
    pub fn leaders_unknown(&mut self, t: u64) {
        self.push(t, Process::Nemesis, EventType::Info, PRIMARIES, Value::Null);
    }

    /// `count` operations on `node` by fresh processes, spread evenly over `[from, to)`,
    /// each taking 10 ms, ending as `kind`.
    pub fn ops_on(&mut self, node: &str, from: u64, to: u64, count: u64, kind: EventType) {
        for i in 0..count {
            let t = from + (to - from) * i / count.max(1);
            let p = self.events.len() as u64 + 1000;
            let out = json!(i);
            self.op(
                p,
                "write",
                None,
                out.clone(),
                t,
                kind,
                out,
                t + S / 100,
                node,
            );
        }
    }

    /// Orders the events by time and numbers them from 0.
    pub fn sort(&mut self) {
        self.events.sort_by_key(|e| (e.time, e.index));
        for (i, e) in self.events.iter_mut().enumerate() {
            e.index = i as u64;
        }
    }
}

/// Finding 2's shape (etcd, serializable reads, majorities-ring partition): n3 is cut off from
/// n1, n4 and n5 from 10.0 s to 20.4 s; write 4 of key 7 is acknowledged by n1 at 18.2 s; then
/// n3 answers a read of key 7 with the old value 0. n1 leads throughout.
pub fn stale_read() -> History {
    let mut h = History::default();
    let k = Some(json!(7));
    let ring = json!({"fault": "partition", "spec": "majorities-ring", "grudge": {
        "n1": ["n3", "n4"], "n2": ["n4", "n5"], "n3": ["n1", "n4", "n5"],
        "n4": ["n1", "n2", "n3"], "n5": ["n2", "n3"]
    }});
    h.leaders(0, &["n1"]);
    h.op(
        5,
        "write",
        k.clone(),
        json!(0),
        S,
        EventType::Ok,
        json!(0),
        S + S / 10,
        "n1",
    );
    h.nemesis(10 * S, 10 * S + S / 10, "start-partition", ring);
    for i in 0..6u64 {
        let t = 11 * S + i * S;
        h.op(
            7,
            "read",
            k.clone(),
            Value::Null,
            t,
            EventType::Ok,
            json!(0),
            t + S / 20,
            "n2",
        );
    }
    h.op(
        5,
        "write",
        k.clone(),
        json!(4),
        18 * S,
        EventType::Ok,
        json!(4),
        18 * S + S / 5,
        "n1",
    );
    h.op(
        24,
        "read",
        k.clone(),
        Value::Null,
        19 * S,
        EventType::Ok,
        json!(0),
        19 * S + S / 2,
        "n3",
    );
    let (from, to) = (19 * S + S / 10, 19 * S + S / 5);
    h.op(
        6,
        "read",
        k.clone(),
        Value::Null,
        from,
        EventType::Ok,
        json!(4),
        to,
        "n2",
    );
    h.nemesis(20 * S, 20 * S + 4 * S / 10, "stop-partition", Value::Null);
    h.sort();
    h
}

/// Finding 3's shape: the primary n1 is cut off, keeps acknowledging adds, n3 is promoted,
/// and n1 is demoted at the heal, discarding them.
pub fn lost_writes() -> History {
    let mut h = History::default();
    h.leaders(0, &["n1"]);
    let cut = json!({"fault": "partition", "spec": "primaries", "grudge": {
        "n1": ["n2", "n3", "n4", "n5"], "n2": ["n1"], "n3": ["n1"], "n4": ["n1"], "n5": ["n1"]
    }});
    h.op(
        0,
        "add",
        None,
        json!(1),
        S,
        EventType::Ok,
        json!(1),
        S + S / 100,
        "n1",
    );
    h.nemesis(5 * S, 5 * S + S / 10, "start-partition", cut);
    h.op(
        0,
        "add",
        None,
        json!(2),
        8 * S,
        EventType::Ok,
        json!(2),
        8 * S + S / 100,
        "n1",
    );
    h.leaders(9 * S, &["n1", "n3"]);
    h.op(
        1,
        "add",
        None,
        json!(3),
        12 * S,
        EventType::Ok,
        json!(3),
        12 * S + S / 100,
        "n3",
    );
    h.nemesis(20 * S, 20 * S + S / 10, "stop-partition", Value::Null);
    h.leaders(21 * S, &["n3"]);
    h.op(
        1,
        "read",
        None,
        Value::Null,
        25 * S,
        EventType::Ok,
        json!([1, 3]),
        25 * S + S / 100,
        "n3",
    );
    h.sort();
    h
}
