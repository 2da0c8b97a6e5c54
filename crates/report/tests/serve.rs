//! The store server: loopback only, runs newest first, and no way out of the store.

mod common;

use faultline_report::{list_runs, resolve, Refusal, StoreServer};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends a raw HTTP/1.0 request (so the path reaches the server unnormalised), with the
/// Host header a browser at http://127.0.0.1:PORT/ sends.
fn get(port: u16, path: &str) -> (u16, String) {
    get_with_host(port, path, Some(&format!("127.0.0.1:{port}")))
}

fn get_with_host(port: u16, path: &str, host: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\n{host}\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

fn serve_in_background(store: &std::path::Path) -> u16 {
    let server = StoreServer::bind(store, 0).unwrap();
    let port = server.port();
    std::thread::spawn(move || server.run());
    port
}

/// Issue 8's reproduction: cluster state in the store (`.clusters/<p>/<p>/id_ed25519`) was
/// served with 200. Only what a run directory is meant to show is served now.
#[test]
fn serves_only_what_a_run_shows_never_keys_or_dot_directories() {
    let (store, _outside) = store_with_a_secret();
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----";
    let run = store.path().join("t/20240101T000000");
    let cluster = store
        .path()
        .join(".clusters/faultline-1-abc/faultline-1-abc");
    std::fs::create_dir_all(&cluster).unwrap();
    std::fs::write(cluster.join("id_ed25519"), key).unwrap();
    std::fs::write(run.join("id_ed25519"), key).unwrap();
    std::fs::write(run.join("faultline.log"), "setting up etcd").unwrap();
    std::fs::write(run.join("test.json"), "{\"seed\": 1}").unwrap();
    std::fs::create_dir_all(run.join(".hidden")).unwrap();
    std::fs::write(run.join(".hidden/key"), key).unwrap();
    std::fs::write(run.join("logs/.key"), key).unwrap();
    std::fs::create_dir_all(store.path().join("t/not-a-run")).unwrap();
    std::fs::write(store.path().join("t/not-a-run/id_ed25519"), key).unwrap();
    std::fs::write(store.path().join("t/stray.txt"), key).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&cluster, run.join("logs/inner")).unwrap();
        std::os::unix::fs::symlink("t/20240101T000000", store.path().join("latest")).unwrap();
    }
    let port = serve_in_background(store.path());
    for path in [
        "/.clusters/",
        "/.clusters/faultline-1-abc/faultline-1-abc/id_ed25519",
        "/%2eclusters/faultline-1-abc/faultline-1-abc/id_ed25519",
        "/t/20240101T000000/id_ed25519",
        "/t/20240101T000000/.hidden/key",
        "/t/20240101T000000/logs/.key",
        "/t/20240101T000000/logs/inner/id_ed25519",
        "/t/not-a-run/id_ed25519",
        "/t/stray.txt",
        "/latest/id_ed25519",
    ] {
        let (status, body) = get(port, path);
        assert!(matches!(status, 403 | 404), "{path} answered {status}");
        assert!(!body.contains(key), "{path} leaked a key");
    }
    for path in [
        "/t/20240101T000000/faultline.log",
        "/t/20240101T000000/test.json",
        "/t/20240101T000000/results.json",
        "/t/20240101T000000/logs/n1/db.log",
        "/latest/report.html",
    ] {
        let (status, _) = get(port, path);
        assert_eq!(status, 200, "{path}");
    }
    // Listings name only what is served.
    for (path, hidden) in [
        ("/t/20240101T000000/", "id_ed25519"),
        ("/t/20240101T000000/", ".hidden"),
        ("/t/20240101T000000/logs/", ".key"),
        ("/t/", "not-a-run"),
        ("/t/", "stray.txt"),
        ("/", ".clusters"),
    ] {
        let (status, body) = get(port, path);
        assert_eq!(status, 200, "{path}");
        assert!(!body.contains(hidden), "{path} lists {hidden}");
    }
    let (_, body) = get(port, "/t/20240101T000000/");
    assert!(body.contains("faultline.log") && body.contains("report.html"));
}

/// A DNS-rebinding page reaches 127.0.0.1 under its own name: only the address and port
/// `serve` listens on are accepted as Host.
#[test]
fn refuses_requests_for_any_other_host() {
    let (store, _outside) = store_with_a_secret();
    let port = serve_in_background(store.path());
    let history = "/t/20240101T000000/history.jsonl";
    for host in [
        Some("evil.example".to_string()),
        Some(format!("evil.example:{port}")),
        Some(format!("127.0.0.1:{}", port.wrapping_add(1))),
        Some("127.0.0.1".to_string()),
        Some("localhost".to_string()),
        None,
    ] {
        let (status, body) = get_with_host(port, history, host.as_deref());
        assert_eq!(status, 403, "Host {host:?} answered {status}");
        assert!(
            !body.contains("\"invoke\""),
            "Host {host:?} got the history"
        );
    }
    for host in [format!("127.0.0.1:{port}"), format!("LOCALHOST:{port}")] {
        let (status, _) = get_with_host(port, history, Some(&host));
        assert_eq!(status, 200, "Host {host}");
    }
}

fn store_with_a_secret() -> (tempfile::TempDir, tempfile::TempDir) {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let store = tempfile::tempdir().unwrap();
    let run = common::synth_run(100, 2);
    common::write_run_dir(&store.path().join("t/20240101T000000"), &run);
    (store, outside)
}

#[test]
fn refuses_path_traversal_in_every_spelling() {
    let (store, outside) = store_with_a_secret();
    let secret_rel = format!(
        "../{}/secret.txt",
        outside.path().file_name().unwrap().to_string_lossy()
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), store.path().join("escape")).unwrap();
    let server = StoreServer::bind(store.path(), 0).unwrap();
    let port = server.port();
    std::thread::spawn(move || server.run());

    for path in [
        format!("/{secret_rel}"),
        format!("/t/../{secret_rel}"),
        format!("/{}", secret_rel.replace("..", "%2e%2e")),
        format!("/{}", secret_rel.replace('/', "%2f")),
        "/..%5c..%5cetc%5cpasswd".to_string(),
        "/escape/secret.txt".to_string(),
        "/%00".to_string(),
    ] {
        let (status, body) = get(port, &path);
        assert!(
            matches!(status, 400 | 403 | 404),
            "{path} answered {status}"
        );
        assert!(!body.contains("top secret"), "{path} leaked the file");
    }
    assert_eq!(
        resolve(store.path(), "/escape/secret.txt"),
        Err(Refusal::Forbidden)
    );
    assert_eq!(
        resolve(store.path(), "/a/%2e%2e/b"),
        Err(Refusal::Forbidden)
    );
    assert_eq!(resolve(store.path(), "/%ff"), Err(Refusal::BadRequest));

    // What is inside is served, with a type browsers show.
    let (status, body) = get(port, "/t/20240101T000000/history.jsonl");
    assert_eq!(status, 200);
    assert!(body.contains("text/plain"));
    let (status, body) = get(port, "/t/20240101T000000/report.html");
    assert_eq!(status, 200);
    assert!(body.contains("text/html"));
    let (status, _) = get(port, "/t/20240101T000000/nope");
    assert_eq!(status, 404);
    let (status, body) = get(port, "/t/20240101T000000/logs/");
    assert_eq!(status, 200);
    assert!(body.contains("href=\"n1/\""));
}

#[test]
fn listens_on_loopback_only() {
    let (store, _outside) = store_with_a_secret();
    let server = StoreServer::bind(store.path(), 0).unwrap();
    let port = server.port();
    std::thread::spawn(move || server.run());
    let (status, body) = get(port, "/");
    assert_eq!(status, 200);
    assert!(body.contains("20240101T000000"));
    // Not reachable through any other local address.
    let others: Vec<std::net::IpAddr> = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("10.255.255.255:9")?;
            s.local_addr()
        })
        .map(|a| vec![a.ip()])
        .unwrap_or_default();
    for ip in others.into_iter().filter(|ip| !ip.is_loopback()) {
        assert!(
            TcpStream::connect((ip, port)).is_err(),
            "reachable on {ip}:{port}"
        );
    }
}

#[test]
fn lists_runs_newest_first_with_their_verdicts() {
    let store = tempfile::tempdir().unwrap();
    let run = common::synth_run(100, 2);
    common::write_run_dir(&store.path().join("b-test/20240301T000000"), &run);
    common::write_run_dir(&store.path().join("a-test/20240401T000000"), &run);
    std::fs::create_dir_all(store.path().join("a-test/not-a-run")).unwrap();
    let runs = list_runs(store.path()).unwrap();
    let names: Vec<_> = runs
        .iter()
        .map(|r| (r.test.as_str(), r.timestamp.as_str()))
        .collect();
    assert_eq!(
        names,
        [("a-test", "20240401T000000"), ("b-test", "20240301T000000")]
    );
    assert_eq!(runs[0].verdict, Some(faultline_history::Verdict::Invalid));
    assert_eq!(runs[0].operations, Some(100));
    assert!(runs[0].files.contains(&"report.html"));
    assert!(list_runs(&store.path().join("missing")).is_err());
}

/// Issue 18: one slow client blocked everyone, and a FIFO under `logs/` blocked the server.
#[test]
fn a_slow_reader_or_a_fifo_never_holds_up_other_requests() {
    let (store, _outside) = store_with_a_secret();
    let run = store.path().join("t/20240101T000000");
    std::fs::write(run.join("history.jsonl"), vec![b'x'; 64 << 20]).unwrap();
    #[cfg(unix)]
    {
        let fifo = run.join("logs/n1/fifo.log");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    }
    let port = serve_in_background(store.path());
    // Several clients ask for 64 MB and never read it.
    let slow: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(
                s,
                "GET /t/20240101T000000/history.jsonl HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let index = get(port, "/");
        let fifo = get(port, "/t/20240101T000000/logs/n1/fifo.log");
        let _ = tx.send((index, fifo));
    });
    let ((index, _), (fifo, body)) = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the server answered nobody while slow clients held their downloads");
    assert_eq!(index, 200);
    assert_eq!(fifo, 403, "{body}");
    drop(slow);
}

/// Issue 18: a request with two Host headers is refused.
#[test]
fn two_host_headers_are_a_bad_request() {
    let (store, _outside) = store_with_a_secret();
    let port = serve_in_background(store.path());
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example:80\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(&out[9..12], "400", "{out}");
    assert_eq!(get(port, "/").0, 200);
}

/// Sends `head_len` bytes of request head (line plus headers) as fast as the server takes
/// them and returns what it answered; a server that stops reading ends the sending.
fn send_oversized_head(port: u16, long_line: bool, head_len: usize) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let start = if long_line {
        format!("GET /{} HTTP/1.1\r\n", "a".repeat(head_len))
    } else {
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "b".repeat(head_len)
        )
    };
    // The server answers and closes once its bound is passed: a write that fails then is
    // the point, not an error.
    for chunk in start.as_bytes().chunks(64 << 10) {
        if s.write_all(chunk).is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Issue 18: a 300 MB header raised the server's RSS to 937 MB. A request's line and
/// headers are bounded now: beyond the bound the answer is 431 (or 414 for the line) after
/// at most that many bytes were read, and the server goes on answering others.
#[test]
fn an_oversized_request_line_or_header_is_refused_at_its_bound() {
    let (store, _outside) = store_with_a_secret();
    let port = serve_in_background(store.path());
    let header = send_oversized_head(port, false, 8 << 20);
    assert!(header.starts_with("HTTP/1.1 431"), "header: {header:.200}");
    let line = send_oversized_head(port, true, 8 << 20);
    assert!(
        line.starts_with("HTTP/1.1 414") || line.starts_with("HTTP/1.1 431"),
        "request line: {line:.200}"
    );
    // Just under the bound is still a request.
    let fits = send_oversized_head(port, false, faultline_report::MAX_REQUEST_HEAD - 200);
    assert!(fits.starts_with("HTTP/1.1 200"), "fits: {fits:.200}");
    assert_eq!(get(port, "/").0, 200);
}

/// A HEAD request gets a file's length and type, and no body.
#[test]
fn head_gets_the_length_and_no_body() {
    let (store, _outside) = store_with_a_secret();
    let port = serve_in_background(store.path());
    let path = "/t/20240101T000000/history.jsonl";
    let len = std::fs::metadata(store.path().join(&path[1..]))
        .unwrap()
        .len();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "HEAD {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(&out[9..12], "200", "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains(&format!("content-length: {len}")),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\n"), "a body came with HEAD: {out}");
}
