//! etcd: crates/db's [`EtcdClient`] for single-key operations, leases and locks, plus the
//! multi-key transactions and prefix ranges the workloads need, over the same HTTP/JSON
//! gateway and with the same sorting of errors into definite and indeterminate.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use faultline_db::etcd::{EtcdClient, EtcdOptions};
use faultline_db::{url_host, ClientError};
use serde_json::{json, Value};
use std::time::Duration;

/// A key as etcd returns it from a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kv {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The revision at which the key was created.
    pub create_revision: i64,
    /// The revision of its last modification.
    pub mod_revision: i64,
}

/// What a transaction did.
#[derive(Clone, Debug, PartialEq)]
pub struct TxnResult {
    /// True when every compare held and the success branch ran.
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
    /// The branch's responses, as the gateway gives them.
    pub responses: Vec<Value>,
}

/// A client of one etcd member: [`EtcdClient`] plus transactions and ranges.
#[derive(Clone, Debug)]
pub struct EtcdConn {
    /// crates/db's client: get, put, cas, leases, locks.
    pub client: EtcdClient,
    serializable_reads: bool,
}

impl EtcdConn {
    /// A client of the member at `address`, client port `port`.
    pub fn new(
        address: &str,
        port: u16,
        timeout: Duration,
        serializable_reads: bool,
    ) -> Result<Self, ClientError> {
        Self::with_endpoint(
            &format!("http://{}:{port}", url_host(address)),
            timeout,
            serializable_reads,
        )
    }

    /// A client of the member at `endpoint`, e.g. `http://127.0.0.1:2379`.
    pub fn with_endpoint(
        endpoint: &str,
        timeout: Duration,
        serializable_reads: bool,
    ) -> Result<Self, ClientError> {
        let options = EtcdOptions {
            serializable_reads,
            timeout,
        };
        Ok(EtcdConn {
            client: EtcdClient::with_endpoint(endpoint, options)?,
            serializable_reads,
        })
    }

    /// One gateway request, through crates/db's [`EtcdClient::call`]: the same HTTP client
    /// and the same sorting of errors.
    pub async fn call(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.client.call(path, body).await
    }

    /// Runs `if compare then success else failure` atomically.
    pub async fn txn(
        &self,
        compare: Vec<Value>,
        success: Vec<Value>,
        failure: Vec<Value>,
    ) -> Result<TxnResult, ClientError> {
        let resp = self
            .call(
                "/v3/kv/txn",
                json!({ "compare": compare, "success": success, "failure": failure }),
            )
            .await?;
        Ok(TxnResult {
            succeeded: resp["succeeded"].as_bool().unwrap_or(false),
            revision: int(&resp["header"]["revision"]),
            responses: resp["responses"].as_array().cloned().unwrap_or_default(),
        })
    }

    /// Every key starting with `prefix`, in key order, read at one revision.
    pub async fn range_prefix(&self, prefix: &str) -> Result<Vec<Kv>, ClientError> {
        let mut body =
            json!({ "key": b64(prefix), "range_end": B64.encode(prefix_end(prefix.as_bytes())) });
        if self.serializable_reads {
            body["serializable"] = json!(true);
        }
        let resp = self.call("/v3/kv/range", body).await?;
        kvs(&resp["kvs"])
    }
}

/// The keys of a range response (also inside a txn's `response_range`).
pub fn kvs(list: &Value) -> Result<Vec<Kv>, ClientError> {
    let Some(items) = list.as_array() else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|kv| {
            Ok(Kv {
                key: decode(&kv["key"])?,
                value: decode(&kv["value"])?,
                create_revision: int(&kv["create_revision"]),
                mod_revision: int(&kv["mod_revision"]),
            })
        })
        .collect()
}

/// The first byte string after every key starting with `prefix` (etcd's `range_end`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // every key
}

/// base64 of a key or value, as the gateway wants it.
pub fn b64(s: &str) -> String {
    B64.encode(s)
}

/// Compare: `key`'s value equals `value` (false when the key is absent).
pub fn value_equals(key: &str, value: &str) -> Value {
    json!({ "key": b64(key), "result": "EQUAL", "target": "VALUE", "value": b64(value) })
}

/// Compare: `key`'s value is greater than `value`, as bytes (false when absent).
pub fn value_greater(key: &str, value: &str) -> Value {
    json!({ "key": b64(key), "result": "GREATER", "target": "VALUE", "value": b64(value) })
}

/// Compare: `key` was last modified at `revision` (0: absent).
pub fn mod_revision_is(key: &str, revision: i64) -> Value {
    json!({ "key": b64(key), "result": "EQUAL", "target": "MOD", "mod_revision": revision.to_string() })
}

/// Compare: `key` was created at `revision` (0: absent).
pub fn create_revision_is(key: &str, revision: i64) -> Value {
    json!({ "key": b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": revision.to_string() })
}

/// Txn op: put `key` = `value`.
pub fn put(key: &str, value: &str) -> Value {
    json!({ "request_put": { "key": b64(key), "value": b64(value) } })
}

/// Txn op: delete `key`.
pub fn delete(key: &str) -> Value {
    json!({ "request_delete_range": { "key": b64(key) } })
}

/// Txn op: read `key`.
pub fn get(key: &str) -> Value {
    json!({ "request_range": { "key": b64(key) } })
}

/// int64 fields come as JSON strings from the gateway; absent means 0.
pub fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn decode(v: &Value) -> Result<String, ClientError> {
    let bytes = B64
        .decode(v.as_str().unwrap_or(""))
        .map_err(|e| ClientError::Indeterminate(format!("bad base64 from etcd: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|e| ClientError::Indeterminate(format!("non-UTF-8 data from etcd: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeEtcd, Reply};

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"a/"), b"a0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff]), vec![0]);
    }

    #[tokio::test]
    async fn txn_reads_success_and_revision_from_the_gateway() {
        let fake = FakeEtcd::start(vec![Reply::json(
            200,
            json!({"header": {"revision": "17"}, "succeeded": true, "responses": []}),
        )])
        .await;
        let c = EtcdConn::with_endpoint(&fake.endpoint, Duration::from_secs(2), false).unwrap();
        let r = c.txn(vec![], vec![put("k", "v")], vec![]).await.unwrap();
        assert!(r.succeeded);
        assert_eq!(r.revision, 17);
        let body = fake.requests().await.remove(0);
        assert!(body.contains("\"request_put\""), "{body}");
    }

    #[tokio::test]
    async fn gateway_errors_sort_into_definite_and_indeterminate() {
        let fake = FakeEtcd::start(vec![
            Reply::grpc_error(9, "etcdserver: some precondition"),
            Reply::grpc_error(14, "etcdserver: request timed out"),
            Reply::Close,
            Reply::json(200, json!({"kvs": [{"key": b64("p/1"), "value": b64(""), "create_revision": "3", "mod_revision": "4"}]})),
        ])
        .await;
        let c = EtcdConn::with_endpoint(&fake.endpoint, Duration::from_secs(2), false).unwrap();
        assert!(c.range_prefix("p/").await.unwrap_err().is_definite());
        assert!(!c.range_prefix("p/").await.unwrap_err().is_definite());
        assert!(!c.range_prefix("p/").await.unwrap_err().is_definite());
        let got = c.range_prefix("p/").await.unwrap();
        assert_eq!(got[0].key, "p/1");
        assert_eq!((got[0].create_revision, got[0].mod_revision), (3, 4));
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_is_indeterminate() {
        let fake = FakeEtcd::start(vec![Reply::Hang]).await;
        let c = EtcdConn::with_endpoint(&fake.endpoint, Duration::from_millis(200), false).unwrap();
        assert!(!c
            .txn(vec![], vec![], vec![])
            .await
            .unwrap_err()
            .is_definite());
    }

    #[tokio::test]
    async fn a_refused_connection_is_definite() {
        let c =
            EtcdConn::with_endpoint("http://127.0.0.1:1", Duration::from_secs(1), false).unwrap();
        assert!(c
            .txn(vec![], vec![], vec![])
            .await
            .unwrap_err()
            .is_definite());
    }
}
