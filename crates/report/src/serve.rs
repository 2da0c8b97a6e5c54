//! The store server: HTTP/1 on 127.0.0.1, through hyper, with every request bounded.
//!
//! hyper rather than a hand-written server: it caps what a request line and its headers may
//! take (beyond [`MAX_REQUEST_HEAD`] the answer is 431 or 414 and the connection closes),
//! times out a head sent too slowly, and streams files with backpressure, so neither a
//! 300 MB header nor a client that reads a large file slowly costs more than a bounded
//! buffer, and none of them holds up anyone else.

use crate::store::{
    content_type, host_allowed, list_runs, render_index, render_listing, resolve, Refusal,
};
use crate::ReportError;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{header, Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The most bytes a request line and its headers may take together (hyper's floor is 8 KiB).
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The most headers a request may carry.
const MAX_HEADERS: usize = 64;
/// How many connections are served at once; further ones wait to be accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send a request's head before the connection is closed.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

type Body = BoxBody<Bytes, std::io::Error>;

/// A store server bound to 127.0.0.1, not yet answering requests.
pub struct StoreServer {
    listener: std::net::TcpListener,
    store: PathBuf,
    port: u16,
}

impl StoreServer {
    /// Binds 127.0.0.1:`port` (0 picks a free port) to serve `store`.
    pub fn bind(store: &Path, port: u16) -> Result<StoreServer, ReportError> {
        let addr = format!("127.0.0.1:{port}");
        let fail = |message: String| ReportError::Serve {
            addr: addr.clone(),
            message,
        };
        if !store.is_dir() {
            return Err(fail(format!(
                "store {} is not a directory",
                store.display()
            )));
        }
        let listener = std::net::TcpListener::bind(&addr).map_err(|e| fail(e.to_string()))?;
        let port = listener.local_addr().map_or(port, |a| a.port());
        Ok(StoreServer {
            listener,
            store: store.to_path_buf(),
            port,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Answers requests until the process ends, up to [`MAX_CONNECTIONS`] at once.
    pub fn run(self) -> Result<(), ReportError> {
        let addr = format!("127.0.0.1:{}", self.port);
        let fail = |e: std::io::Error| ReportError::Serve {
            addr: addr.clone(),
            message: e.to_string(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(fail)?;
        runtime.block_on(self.accept_loop()).map_err(fail)
    }

    async fn accept_loop(self) -> std::io::Result<()> {
        self.listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let store: Arc<Path> = self.store.into();
        loop {
            let slot = slots.clone().acquire_owned().await.expect("never closed");
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of file descriptors, or a connection reset before it was accepted:
                // wait a moment rather than spin, and go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (store, port) = (store.clone(), self.port);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| answer(request, store.clone(), port));
                // A client that went away or sent a bad or oversized head is not our error.
                let _ = http1()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(slot);
            });
        }
    }
}

/// hyper's HTTP/1 settings: the bounds that keep one request small.
fn http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_buf_size(MAX_REQUEST_HEAD)
        .max_headers(MAX_HEADERS)
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    builder
}

/// Answers one request: the Host header must name this server, once.
async fn answer(
    request: Request<Incoming>,
    store: Arc<Path>,
    port: u16,
) -> Result<Response<Body>, std::convert::Infallible> {
    let hosts: Vec<String> = request
        .headers()
        .get_all(header::HOST)
        .iter()
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .collect();
    let reply = match hosts.as_slice() {
        [host] if host_allowed(Some(host), port) => {
            let (method, path) = (request.method().clone(), request.uri().path().to_string());
            // Listing and opening touch the disk: off the threads that serve connections.
            tokio::task::spawn_blocking(move || respond(&store, &method, &path))
                .await
                .unwrap_or_else(|e| Reply::text(500, format!("{e}\n")))
        }
        [_, _, ..] => Reply::text(400, "more than one Host header\n".into()),
        _ => Reply::text(
            403,
            format!("the Host header must be 127.0.0.1:{port} or localhost:{port}\n"),
        ),
    };
    Ok(reply.into_response())
}

/// What a request gets, before it becomes an HTTP response.
enum Reply {
    /// A short text or HTML page.
    Page {
        status: u16,
        content_type: &'static str,
        body: String,
        location: Option<String>,
    },
    /// A regular file of the store, streamed.
    File {
        file: fs::File,
        len: u64,
        content_type: &'static str,
    },
}

impl Reply {
    fn text(status: u16, body: String) -> Reply {
        Reply::Page {
            status,
            content_type: "text/plain",
            body,
            location: None,
        }
    }

    fn html(body: String) -> Reply {
        Reply::Page {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body,
            location: None,
        }
    }

    fn into_response(self) -> Response<Body> {
        let builder = Response::builder();
        let response = match self {
            Reply::Page {
                status,
                content_type,
                body,
                location,
            } => {
                let builder = builder
                    .status(status)
                    .header(header::CONTENT_TYPE, content_type);
                let builder = match location {
                    Some(l) => builder.header(header::LOCATION, l),
                    None => builder,
                };
                let body = Full::new(Bytes::from(body)).map_err(|never| match never {});
                builder.body(body.boxed())
            }
            Reply::File {
                file,
                len,
                content_type,
            } => {
                let chunks = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
                let body = StreamBody::new(chunks.map_ok(Frame::data));
                builder
                    .header(header::CONTENT_TYPE, content_type)
                    .header(header::CONTENT_LENGTH, len)
                    .body(BodyExt::boxed(body))
            }
        };
        response.expect("a status, headers and body that are valid by construction")
    }
}

fn respond(store: &Path, method: &Method, path: &str) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return Reply::text(405, "only GET and HEAD\n".into());
    }
    if path == "/" || path.is_empty() {
        return match list_runs(store) {
            Ok(runs) => Reply::html(render_index(&store.display().to_string(), &runs)),
            Err(e) => Reply::text(500, format!("{e}\n")),
        };
    }
    let resolved = resolve(store, path);
    if path == "/favicon.ico" && resolved.is_err() {
        // Browsers ask for it on plain-text pages; there is none, and that is no error.
        return Reply::text(204, String::new());
    }
    match resolved {
        Ok(target) if target.is_dir() => {
            if !path.ends_with('/') {
                return Reply::Page {
                    status: 301,
                    content_type: "text/plain",
                    body: "moved\n".into(),
                    location: Some(format!("{path}/")),
                };
            }
            let root = fs::canonicalize(store).unwrap_or_else(|_| store.to_path_buf());
            Reply::html(render_listing(path, &target, &root))
        }
        Ok(target) => serve_file(&target),
        Err(Refusal::BadRequest) => Reply::text(400, "bad path\n".into()),
        Err(Refusal::Forbidden) => Reply::text(403, "outside the store\n".into()),
        Err(Refusal::NotFound) => Reply::text(404, "not found\n".into()),
    }
}

/// A regular file only: opening a FIFO (or a device) would block or never end.
fn serve_file(target: &Path) -> Reply {
    if !fs::metadata(target).is_ok_and(|m| m.is_file()) {
        return Reply::text(403, "not a regular file\n".into());
    }
    match fs::File::open(target) {
        Ok(file) => match file.metadata() {
            Ok(meta) => Reply::File {
                len: meta.len(),
                file,
                content_type: content_type(target),
            },
            Err(e) => Reply::text(500, format!("{e}\n")),
        },
        Err(e) => Reply::text(500, format!("{e}\n")),
    }
}
