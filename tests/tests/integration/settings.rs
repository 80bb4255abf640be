//! Settings as an operator meets them: secrets never printed, and SIGTERM bounded by
//! `--shutdown-grace` even with a request still in progress.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convo_tests::TestApp;
use convo_tests::chaos::service::{convo_bin, free_port};

const PASSWORD: &str = "pw-never-printed-7c1";
const JWT_SECRET: &str = "jwt-never-printed-7c1";

/// `convo serve ARGS` with a password in DATABASE_URL and a JWT secret; its stdout and stderr.
fn serve_output(database_url: &str, args: &[&str]) -> String {
    let out = Command::new(convo_bin())
        .arg("serve")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("CONVO_JWT_SECRET", JWT_SECRET)
        .env("CONVO_ROLES", "api")
        .env("RUST_LOG", "debug")
        .output()
        .expect("run convo");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn secrets_appear_neither_in_help_nor_in_connection_errors() {
    let unreachable = format!(
        "postgres://convo:{PASSWORD}@127.0.0.1:{}/convo",
        free_port()
    );
    let malformed = format!("postgres://convo:{PASSWORD}@127.0.0.1:notaport/convo");
    for (url, args) in [
        (&unreachable, &["--help"][..]),
        (&malformed, &[][..]),
        (&unreachable, &["--listen", "127.0.0.1:0"][..]),
    ] {
        let output = serve_output(url, args);
        assert!(!output.is_empty(), "{args:?} printed nothing");
        assert!(
            !output.contains(PASSWORD) && !output.contains(JWT_SECRET),
            "{args:?} printed a secret:\n{output}"
        );
    }
}

/// A request whose body never finishes is in progress at SIGTERM: the process still exits once
/// the grace period (1 s) is over, not after the 60 s request timeout.
#[tokio::test]
async fn sigterm_exits_within_the_grace_period_despite_a_request_in_progress() {
    let app = TestApp::spawn().await;
    let port = free_port();
    let mut child = Command::new(convo_bin())
        .args(["serve", "--roles", "api", "--shutdown-grace", "1"])
        .args(["--http-request-timeout", "60"])
        .env("DATABASE_URL", app.database_url())
        .env("CONVO_JWT_SECRET", convo_tests::SECRET)
        .env("CONVO_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start convo serve");
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(_) if child.try_wait().unwrap().is_none() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("convo serve ended before listening: {e}"),
        }
    };
    let token = convo_tests::token(convo_tests::STAFF, convo_tests::BUSINESS, "all");
    write!(
        stream,
        "PUT /v2/conversations/graceconv0001 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"archived\""
    )
    .unwrap();
    stream.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopped_at = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let took = stopped_at.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{log}", out.status);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "stopped after {took:?}\n{log}"
    );
    // The API's drain and the process share the deadline: whichever ends first says so.
    assert!(
        log.contains("requests still in progress at the end of the drain period")
            || log.contains("did not stop within the grace period"),
        "{log}"
    );
    drop(stream);
}
