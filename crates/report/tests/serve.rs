//! The store server: loopback only, runs newest first, and no way out of the store.

mod common;

use faultline_report::{list_runs, resolve, Refusal, StoreServer};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends a raw HTTP/1.0 request (so the path reaches the server unnormalised).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
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
