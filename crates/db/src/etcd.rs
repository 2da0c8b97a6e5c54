//! The etcd client (the `etcd` protocol family). The database itself is the definition
//! `dbs/etcd/`.
//!
//! The client speaks etcd's HTTP/JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, ...; keys and
//! values base64) through reqwest rather than gRPC: the `etcd-client` crate needs `protoc`
//! at build time, and every call here is one small JSON request, where the gateway costs
//! nothing that matters. The gateway reports gRPC status codes, from which errors are
//! sorted into definite and indeterminate ones.
//!
//! Clock faults cannot reach etcd: it is a static Go binary that reads time through the
//! vDSO, never through libc, so the LD_PRELOAD clock shim has nothing to intercept.

use crate::{url_host, ClientError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

/// The client port.
pub const CLIENT_PORT: u16 = 2379;
/// The peer (Raft) port.
pub const PEER_PORT: u16 = 2380;
/// Options of an [`EtcdClient`].
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Read with `serializable: true` (from the member's local state, possibly stale)
    /// instead of etcd's default linearizable reads.
    pub serializable_reads: bool,
    /// The time limit of each request; a request that outlives it is indeterminate.
    pub timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            serializable_reads: false,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A key's value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The value.
    pub value: String,
    /// The revision of the key's last modification.
    pub mod_revision: i64,
    /// The revision at which the key was created.
    pub create_revision: i64,
    /// How many times the key was written since its creation.
    pub version: i64,
}

/// A client of one etcd member, through its HTTP/JSON gateway.
#[derive(Clone, Debug)]
pub struct EtcdClient {
    base: String,
    http: reqwest::Client,
    options: EtcdOptions,
}

impl EtcdClient {
    /// A client of the member at `address` (host or IP; port 2379).
    pub fn new(address: &str, options: EtcdOptions) -> Result<Self, ClientError> {
        Self::with_endpoint(
            &format!("http://{}:{CLIENT_PORT}", url_host(address)),
            options,
        )
    }

    /// A client of the member at `endpoint`, e.g. `http://10.0.0.2:2379`.
    pub fn with_endpoint(endpoint: &str, options: EtcdOptions) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(2)))
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Rejected(format!("cannot build HTTP client: {e}")))?;
        Ok(EtcdClient {
            base: endpoint.trim_end_matches('/').to_string(),
            http,
            options,
        })
    }

    /// One gateway request: POSTs `body` to `path` (e.g. `/v3/kv/txn`) and returns the JSON
    /// reply, with failures sorted into definite and indeterminate.
    pub async fn call(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| classify_transport(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| classify_transport(&e))?;
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            ClientError::Indeterminate(format!("{path}: HTTP {status}: unreadable reply {text:?}"))
        })?;
        if let Some(err) = value.get("error").or_else(|| value.get("message")) {
            if !status.is_success() || value.get("code").is_some() {
                let code = value.get("code").and_then(Value::as_i64).unwrap_or(2);
                return Err(classify_grpc(code, err.as_str().unwrap_or("")));
            }
        }
        if !status.is_success() {
            return Err(ClientError::Indeterminate(format!("{path}: HTTP {status}")));
        }
        Ok(value)
    }

    /// Reads a key with its revisions; `None` if absent.
    pub async fn get_kv(&self, key: &str) -> Result<Option<KeyValue>, ClientError> {
        let mut body = json!({ "key": B64.encode(key) });
        if self.options.serializable_reads {
            body["serializable"] = json!(true);
        }
        let resp = self.call("/v3/kv/range", body).await?;
        match resp["kvs"].as_array().and_then(|kvs| kvs.first()) {
            None => Ok(None),
            Some(kv) => Ok(Some(KeyValue {
                value: decode(&kv["value"])?,
                mod_revision: int(&kv["mod_revision"]),
                create_revision: int(&kv["create_revision"]),
                version: int(&kv["version"]),
            })),
        }
    }

    /// Reads a key's value; `None` if absent.
    pub async fn get(&self, key: &str) -> Result<Option<String>, ClientError> {
        Ok(self.get_kv(key).await?.map(|kv| kv.value))
    }

    /// Writes a key.
    pub async fn put(&self, key: &str, value: &str) -> Result<(), ClientError> {
        self.put_at(key, value).await.map(drop)
    }

    /// Writes a key; the revision it was written at (the response header's: etcd gives
    /// every change a place in one total order).
    pub async fn put_at(&self, key: &str, value: &str) -> Result<i64, ClientError> {
        let resp = self
            .call(
                "/v3/kv/put",
                json!({ "key": B64.encode(key), "value": B64.encode(value) }),
            )
            .await?;
        Ok(int(&resp["header"]["revision"]))
    }

    /// Sets `key` to `new` if its value is `expected` (`None`: if the key is absent), in one
    /// transaction. A mismatch is [`ClientError::CompareFailed`].
    pub async fn cas(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<(), ClientError> {
        let compare = match expected {
            Some(v) => {
                json!({ "key": B64.encode(key), "result": "EQUAL", "target": "VALUE", "value": B64.encode(v) })
            }
            None => {
                json!({ "key": B64.encode(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0" })
            }
        };
        self.txn_put(key, compare, new).await
    }

    /// Sets `key` to `new` if its last modification was at `mod_revision` (0: absent).
    pub async fn cas_revision(
        &self,
        key: &str,
        mod_revision: i64,
        new: &str,
    ) -> Result<(), ClientError> {
        let compare = json!({ "key": B64.encode(key), "result": "EQUAL", "target": "MOD", "mod_revision": mod_revision.to_string() });
        self.txn_put(key, compare, new).await
    }

    async fn txn_put(&self, key: &str, compare: Value, new: &str) -> Result<(), ClientError> {
        let body = json!({
            "compare": [compare],
            "success": [{ "request_put": { "key": B64.encode(key), "value": B64.encode(new) } }],
        });
        let resp = self.call("/v3/kv/txn", body).await?;
        if resp["succeeded"].as_bool().unwrap_or(false) {
            Ok(())
        } else {
            Err(ClientError::CompareFailed)
        }
    }

    /// Grants a lease of `ttl` seconds; returns its id.
    pub async fn lease_grant(&self, ttl_secs: i64) -> Result<i64, ClientError> {
        let resp = self
            .call("/v3/lease/grant", json!({ "TTL": ttl_secs.to_string() }))
            .await?;
        let id = int(&resp["ID"]);
        if id == 0 {
            return Err(ClientError::Indeterminate(format!(
                "lease grant: no ID in {resp}"
            )));
        }
        Ok(id)
    }

    /// Renews a lease once; returns the remaining TTL in seconds (0 or less: expired).
    pub async fn lease_keepalive(&self, lease: i64) -> Result<i64, ClientError> {
        // The gateway streams one JSON object per renewal; one request yields one result.
        let resp = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        Ok(int(&resp["result"]["TTL"]))
    }

    /// Revokes a lease, deleting the keys attached to it.
    pub async fn lease_revoke(&self, lease: i64) -> Result<(), ClientError> {
        self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .await
            .map(|_| ())
    }

    /// Acquires the lock `name` held under `lease` (etcd's lock API; waits while another
    /// holder has it, up to the client timeout). Returns the lock's key for [`Self::unlock`],
    /// and the revision of the grant: the response header's, from the linearizable read
    /// that found no older waiter's key, so every earlier holder's key was gone by then.
    pub async fn lock(&self, name: &str, lease: i64) -> Result<(String, i64), ClientError> {
        let resp = self
            .call(
                "/v3/lock/lock",
                json!({ "name": B64.encode(name), "lease": lease.to_string() }),
            )
            .await?;
        Ok((decode(&resp["key"])?, int(&resp["header"]["revision"])))
    }

    /// Releases a lock by the key [`Self::lock`] returned.
    pub async fn unlock(&self, key: &str) -> Result<(), ClientError> {
        self.call("/v3/lock/unlock", json!({ "key": B64.encode(key) }))
            .await
            .map(|_| ())
    }
}

/// int64 fields come as JSON strings from the gateway; absent means 0.
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn decode(v: &Value) -> Result<String, ClientError> {
    let s = v.as_str().unwrap_or("");
    let bytes = B64
        .decode(s)
        .map_err(|e| ClientError::Indeterminate(format!("bad base64 from etcd: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|e| ClientError::Indeterminate(format!("non-UTF-8 value: {e}")))
}

/// A request that never reached the server is definite; any later failure is not.
fn classify_transport(e: &reqwest::Error) -> ClientError {
    let msg = error_chain(e);
    if e.is_connect() {
        ClientError::Rejected(format!("connect: {msg}"))
    } else if e.is_timeout() {
        ClientError::Indeterminate(format!("timeout: {msg}"))
    } else {
        ClientError::Indeterminate(msg)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Sorts gRPC status codes: those etcd returns only before proposing a request are
/// definite; unavailable, deadline exceeded, unknown and internal may follow a proposal.
pub fn classify_grpc(code: i64, message: &str) -> ClientError {
    match code {
        // InvalidArgument, NotFound, AlreadyExists, PermissionDenied, ResourceExhausted,
        // FailedPrecondition, OutOfRange, Unimplemented, Unauthenticated.
        3 | 5 | 6 | 7 | 8 | 9 | 11 | 12 | 16 => ClientError::Rejected(message.to_string()),
        _ => ClientError::Indeterminate(message.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_sort_into_definite_and_indeterminate() {
        assert!(classify_grpc(8, "etcdserver: too many requests").is_definite());
        assert!(classify_grpc(3, "etcdserver: key is not provided").is_definite());
        assert!(!classify_grpc(14, "etcdserver: request timed out").is_definite());
        assert!(!classify_grpc(4, "context deadline exceeded").is_definite());
        assert!(!classify_grpc(2, "etcdserver: leader changed").is_definite());
    }

    #[test]
    fn gateway_integers_parse_from_strings() {
        assert_eq!(int(&json!("42")), 42);
        assert_eq!(int(&json!(7)), 7);
        assert_eq!(int(&Value::Null), 0);
    }

    #[tokio::test]
    async fn refused_connection_is_definite() {
        // Port 1 on loopback: nothing listens, so the request never reaches a server.
        let c = EtcdClient::with_endpoint("http://127.0.0.1:1", EtcdOptions::default()).unwrap();
        let err = c.put("k", "v").await.unwrap_err();
        assert!(err.is_definite(), "{err:?}");
    }
}
