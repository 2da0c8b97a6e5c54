//! `[ready] timeout_s` is how long a definition's nodes have to become ready: `setup_all`
//! gives up after exactly that long (plus one check), never after a larger default.

use faultline_control::{ControlError, ExecOutput, Node, Remote};
use faultline_db::definition::parse;
use faultline_db::{setup_all, DefinedDb};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node where every command succeeds but the readiness check, which never passes.
#[derive(Debug)]
struct NeverReady;

impl Remote for NeverReady {
    fn exec(&self, cmd: &str, _: &[u8], _: Duration) -> Result<ExecOutput, ControlError> {
        let status = if cmd.contains("is-it-ready") { 1 } else { 0 };
        Ok(ExecOutput {
            status,
            stdout: Vec::new(),
            stderr: b"not yet\n".to_vec(),
        })
    }
    fn upload(&self, _: &Path, _: &str) -> Result<(), ControlError> {
        Ok(())
    }
    fn download(&self, _: &str, _: &Path) -> Result<(), ControlError> {
        Ok(())
    }
    fn target(&self) -> String {
        "fake".into()
    }
}

fn definition(ready: &str) -> DefinedDb {
    let text = format!(
        "name = \"kv\"\n[[daemons]]\nname = \"kv\"\nstart = \"kv\"\n{ready}\n[client]\nfamily = \"none\"\n"
    );
    DefinedDb::new(parse("db.toml", &text, Some(Path::new(".")), vec![]).unwrap())
}

fn nodes() -> Vec<Node> {
    ["n1", "n2"]
        .iter()
        .map(|n| Node {
            name: n.to_string(),
            address: "10.0.0.1".into(),
            remote: Arc::new(NeverReady),
        })
        .collect()
}

#[test]
fn setup_gives_up_after_the_definitions_ready_timeout_exactly() {
    let db = definition("[ready]\ncommand = \"is-it-ready\"\ntimeout_s = 1.5");
    let started = Instant::now();
    let e = setup_all(&db, &nodes()).unwrap_err().to_string();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(2500),
        "gave up after {took:?}"
    );
    assert!(
        e.contains("kv not ready after 1.5 s ([ready] timeout_s): ready.command exited with status 1: not yet"),
        "{e}"
    );
}

#[test]
fn the_documented_default_is_sixty_seconds() {
    use faultline_db::Db;
    let db = definition("[ready]\ncommand = \"is-it-ready\"");
    assert_eq!(db.ready_timeout(), Duration::from_secs(60));
}
