//! Fake etcd gateway and Redis servers on loopback, scripted reply by reply: test doubles
//! that let tests show how each client operation classifies refusals, server errors,
//! dropped connections and hangs. Not a database: they answer only what the script says.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// One scripted reply.
#[derive(Clone, Debug)]
pub enum Reply {
    /// etcd: an HTTP response with this status and JSON body.
    Http(u16, Value),
    /// Redis: these raw RESP bytes, e.g. `:1\r\n` or `-READONLY ...\r\n`.
    Resp(String),
    /// Close the connection without answering (the request may have been applied).
    Close,
    /// Never answer (the client's timeout fires).
    Hang,
}

impl Reply {
    /// An HTTP reply with a JSON body.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Http(status, body)
    }

    /// The gateway's reply for a gRPC error `code`.
    pub fn grpc_error(code: i64, message: &str) -> Reply {
        let status = if code == 14 { 503 } else { 400 };
        Reply::Http(
            status,
            json!({ "error": message, "message": message, "code": code }),
        )
    }

    /// A Redis error reply, e.g. `READONLY You can't write against a read only replica.`
    pub fn redis_error(message: &str) -> Reply {
        Reply::Resp(format!("-{message}\r\n"))
    }

    /// A Redis integer reply.
    pub fn redis_int(n: i64) -> Reply {
        Reply::Resp(format!(":{n}\r\n"))
    }

    /// A Redis bulk string reply; `None` is nil.
    pub fn redis_bulk(s: Option<&str>) -> Reply {
        match s {
            Some(s) => Reply::Resp(format!("${}\r\n{s}\r\n", s.len())),
            None => Reply::Resp("$-1\r\n".into()),
        }
    }

    /// A Redis array of bulk strings; `None` elements are nil.
    pub fn redis_array(items: &[Option<&str>]) -> Reply {
        let mut out = format!("*{}\r\n", items.len());
        for item in items {
            match item {
                Some(s) => out.push_str(&format!("${}\r\n{s}\r\n", s.len())),
                None => out.push_str("$-1\r\n"),
            }
        }
        Reply::Resp(out)
    }
}

type Script = Arc<Mutex<VecDeque<Reply>>>;
type Log = Arc<Mutex<Vec<String>>>;
type Routes = Arc<Vec<(String, Reply)>>;

/// A fake etcd HTTP/JSON gateway: the n-th request gets the n-th reply (then `Close`).
pub struct FakeEtcd {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    log: Log,
    task: JoinHandle<()>,
}

impl FakeEtcd {
    /// Listens on a free loopback port and answers with `replies` in order.
    pub async fn start(replies: Vec<Reply>) -> FakeEtcd {
        FakeEtcd::start_with_routes(replies, vec![]).await
    }

    /// Like [`FakeEtcd::start`], but requests to a path in `routes` (e.g.
    /// `/v3/lease/keepalive`) always get that route's reply and leave the script alone.
    pub async fn start_with_routes(replies: Vec<Reply>, routes: Vec<(&str, Reply)>) -> FakeEtcd {
        let routes: Routes = Arc::new(
            routes
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let script: Script = Arc::new(Mutex::new(replies.into()));
        let log: Log = Arc::default();
        let (s, l) = (script.clone(), log.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_http(stream, s.clone(), l.clone(), routes.clone()));
            }
        });
        FakeEtcd {
            endpoint,
            log,
            task,
        }
    }

    /// The request lines and bodies received so far (`POST /v3/kv/txn {json}`), in order.
    pub async fn requests(&self) -> Vec<String> {
        self.log.lock().await.clone()
    }
}

impl Drop for FakeEtcd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_http(mut stream: TcpStream, script: Script, log: Log, routes: Routes) {
    loop {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head_end, length) = loop {
            let Ok(n) = stream.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0usize);
                break (end + 4, length);
            }
        };
        while buf.len() < head_end + length {
            let Ok(n) = stream.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let request_line = String::from_utf8_lossy(&buf[..head_end])
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
        log.lock().await.push(format!(
            "{} {body}",
            request_line.trim_end_matches(" HTTP/1.1")
        ));
        let path = request_line.split(' ').nth(1).unwrap_or("");
        let routed = routes
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, r)| r.clone());
        let reply = match routed {
            Some(r) => r,
            None => script.lock().await.pop_front().unwrap_or(Reply::Close),
        };
        match reply {
            Reply::Http(status, body) => {
                let body = body.to_string();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
            }
            Reply::Resp(_) | Reply::Close => return,
            Reply::Hang => {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A fake Redis primary: answers `ROLE` as a master and connection set-up commands with OK;
/// every other command gets the next scripted reply (then `Close`).
pub struct FakeRedis {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    log: Log,
    task: JoinHandle<()>,
}

impl FakeRedis {
    /// Listens on a free loopback port and answers data commands with `replies` in order.
    pub async fn start(replies: Vec<Reply>) -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let script: Script = Arc::new(Mutex::new(replies.into()));
        let log: Log = Arc::default();
        let (s, l) = (script.clone(), log.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_resp(stream, s.clone(), l.clone()));
            }
        });
        FakeRedis { port, log, task }
    }

    /// The data commands received so far, words joined by spaces, in order.
    pub async fn commands(&self) -> Vec<String> {
        self.log.lock().await.clone()
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Parses one RESP array of bulk strings from the front of `buf`, if complete.
fn parse_command(buf: &[u8]) -> Option<(Vec<String>, usize)> {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
        Some((&buf[at..end], end + 2))
    }
    let (head, mut at) = line(buf, 0)?;
    let count: usize = std::str::from_utf8(head.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, next) = line(buf, at)?;
        let len: usize = std::str::from_utf8(len.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        if buf.len() < next + len + 2 {
            return None;
        }
        words.push(String::from_utf8_lossy(&buf[next..next + len]).to_string());
        at = next + len + 2;
    }
    Some((words, at))
}

async fn serve_resp(mut stream: TcpStream, script: Script, log: Log) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((words, used)) = parse_command(&buf) {
            buf.drain(..used);
            let name = words
                .first()
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default();
            let reply = match name.as_str() {
                "ROLE" => Reply::Resp("*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n".into()),
                "CLIENT" | "HELLO" | "SELECT" | "PING" | "READONLY" => {
                    Reply::Resp("+OK\r\n".into())
                }
                _ => {
                    log.lock().await.push(words.join(" "));
                    script.lock().await.pop_front().unwrap_or(Reply::Close)
                }
            };
            match reply {
                Reply::Resp(bytes) => {
                    if stream.write_all(bytes.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Reply::Http(..) | Reply::Close => return,
                Reply::Hang => std::future::pending::<()>().await,
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_commands_parse_only_when_complete() {
        let full = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(
            parse_command(full),
            Some((vec!["GET".to_string(), "k".to_string()], full.len()))
        );
        assert_eq!(parse_command(&full[..full.len() - 3]), None);
    }
}
