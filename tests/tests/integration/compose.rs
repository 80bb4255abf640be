//! docker-compose.yml, the Dockerfile and deploy/ checked as far as a machine without Docker can:
//! every file, build context, command, variable and port they name exists and agrees with the
//! workspace and the `convo` binary, and the service answers what compose and Prometheus ask.

use std::path::{Path, PathBuf};
use std::process::Command;

use convo_tests::chaos::service::{Env, Instance, convo_bin};
use convo_tests::kafka::brokers;
use convo_tests::{TestApp, send};
use serde_norway::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    let mut value: Value = serde_norway::from_str(&read(path)).expect("YAML parses");
    value.apply_merge().expect("merge keys resolve");
    value
}

fn compose() -> Value {
    yaml("docker-compose.yml")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The services built from this repository (the `convo` image).
fn convo_services(compose: &Value) -> Vec<(String, &Value)> {
    let services = compose["services"].as_mapping().expect("services");
    let services: Vec<(String, &Value)> = services
        .iter()
        .filter(|(_, s)| s.get("build").is_some())
        .map(|(name, s)| (name.as_str().expect("a name").to_owned(), s))
        .collect();
    assert!(!services.is_empty(), "no service builds the convo image");
    services
}

/// `convo args... --help`: what it prints, or a panic naming what the binary refused.
fn convo_help(args: &[String]) -> String {
    let out = Command::new(convo_bin())
        .args(args)
        .arg("--help")
        .output()
        .expect("run convo");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`convo {} --help` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn every_file_and_build_context_compose_names_exists() {
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().expect("services") {
        if let Some(build) = service.get("build") {
            let context = build
                .as_str()
                .or(build["context"].as_str())
                .expect("context");
            let dockerfile = build["dockerfile"].as_str().unwrap_or("Dockerfile");
            let path = repo().join(context).join(dockerfile);
            assert!(path.is_file(), "{name:?}: {} is missing", path.display());
        }
        for volume in strings(&service["volumes"]) {
            let host = volume.split(':').next().expect("a source");
            if host.starts_with("./") {
                assert!(
                    repo().join(host).exists(),
                    "{name:?} mounts {host}: missing"
                );
            } else {
                let declared = compose["volumes"].get(host).is_some();
                assert!(declared, "{name:?} uses volume {host}, not declared");
            }
        }
        if let Some(deps) = service["depends_on"].as_mapping() {
            for dep in deps.keys() {
                assert!(
                    compose["services"].get(dep).is_some(),
                    "{name:?} -> {dep:?}"
                );
            }
        }
        for dep in strings(&service["depends_on"]) {
            assert!(compose["services"].get(&dep).is_some(), "{name:?} -> {dep}");
        }
    }
}

#[test]
fn every_convo_command_and_variable_compose_sets_is_one_the_binary_reads() {
    let compose = compose();
    for (name, service) in convo_services(&compose) {
        let command = strings(&service["command"]);
        assert!(!command.is_empty(), "{name}: no command");
        // The subcommand with every flag compose passes: clap refuses an unknown one.
        let help = convo_help(&command);
        let env = service["environment"].as_mapping().expect("environment");
        for var in env.keys().map(|k| k.as_str().expect("a name")) {
            assert!(
                help.contains(&format!("[env: {var}")),
                "{name}: `convo {}` reads no {var}",
                command[0]
            );
        }
    }
}

/// `host:port` → port.
fn port_of(address: &str) -> &str {
    address.rsplit(':').next().expect("a port")
}

#[test]
fn ports_agree_between_compose_prometheus_and_grafana() {
    let compose = compose();
    let convo = &compose["services"]["convo"];
    let listen = convo["environment"]["CONVO_LISTEN"]
        .as_str()
        .expect("CONVO_LISTEN");
    let published = strings(&convo["ports"]);
    assert!(
        published.iter().any(|p| port_of(p) == port_of(listen)),
        "convo listens on {listen} but publishes {published:?}"
    );
    let healthcheck = strings(&convo["healthcheck"]["test"]).join(" ");
    assert!(
        healthcheck.contains(&format!("/{}", port_of(listen))),
        "{healthcheck}"
    );

    let prometheus = yaml("deploy/prometheus/prometheus.yml");
    let job = &prometheus["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    let targets = strings(&job["static_configs"][0]["targets"]);
    assert_eq!(targets, [format!("convo:{}", port_of(listen))]);
    let mounted = strings(&compose["services"]["prometheus"]["volumes"]);
    assert!(
        mounted
            .iter()
            .any(|v| v.contains("deploy/prometheus/prometheus.yml"))
    );
    assert!(strings(&compose["services"]["prometheus"]["ports"]).contains(&"9090:9090".into()));

    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let url = datasources["datasources"][0]["url"]
        .as_str()
        .expect("a url");
    assert_eq!(url, "http://prometheus:9090");
}

#[test]
fn the_dockerfile_builds_the_workspace_as_it_is() {
    let dockerfile = read("Dockerfile");
    let rust_version = rust_version();
    let rust = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("FROM rust:"))
        .expect("a rust builder image");
    assert!(
        rust.starts_with(&format!("{rust_version}-")),
        "FROM rust:{rust} but rust-version = {rust_version}"
    );
    let build = dockerfile
        .lines()
        .find(|l| l.contains("cargo build"))
        .expect("a cargo build step");
    let package = build
        .split_whitespace()
        .skip_while(|w| *w != "-p")
        .nth(1)
        .expect("cargo build -p PACKAGE");
    let crate_manifest = read(&format!("crates/{package}/Cargo.toml"));
    assert!(crate_manifest.contains(&format!("name = \"{package}\"")));
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(repo().join(source).exists(), "{line}: {source} missing");
        }
    }
    assert!(dockerfile.contains("SQLX_OFFLINE=true"));
    assert!(
        repo().join(".sqlx").is_dir(),
        "the offline query data is missing"
    );
}

/// `rust-version` of the root Cargo.toml (no TOML crate for one value).
fn rust_version() -> String {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("rust-version"))
        .expect("rust-version");
    line.split('"').nth(1).expect("a quoted version").to_owned()
}

/// `convo serve` as compose runs it (every role), on the test's database and broker.
async fn serve_like_compose(app: &TestApp) -> Instance {
    let dir = std::env::temp_dir().join(format!("convo-compose-{}", app.db.name));
    std::fs::create_dir_all(&dir).expect("log dir");
    let env = Env {
        bin: convo_bin(),
        dir,
        database_url: app.database_url(),
        brokers: brokers(),
        topic_prefix: format!("{}.", app.db.name),
        partitions: 2,
    };
    Instance::start(&env, "compose", "api,relay,intake,projector").await
}

#[tokio::test]
async fn the_healthcheck_path_compose_asks_for_answers_200_once_ready() {
    let compose = compose();
    let healthcheck = strings(&compose["services"]["convo"]["healthcheck"]["test"]).join(" ");
    let path = healthcheck
        .split("GET ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("GET <path> in the healthcheck");
    let app = TestApp::spawn().await;
    let instance = serve_like_compose(&app).await;
    let url = format!("{}{path}", instance.api.as_ref().expect("an API"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = send(app.client.get(&url)).await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Every `convo_*` name in the dashboard's PromQL, histogram suffixes stripped.
fn dashboard_metrics() -> Vec<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/convo.json")).expect("JSON");
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("convo_") {
                    let name = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| word.strip_suffix(s))
                        .unwrap_or(word);
                    names.push(name.to_owned());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_one_the_service_exports() {
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 10, "{wanted:?}");
    let app = TestApp::spawn().await;
    let instance = serve_like_compose(&app).await;
    let base = instance.api.as_ref().expect("an API");
    // Some traffic first, so that labelled series exist: a command and a request.
    app.start("dashboardmetric1").await;
    send(
        app.client
            .get(format!("{base}/v2/conversations/dashboardmetric1")),
    )
    .await;
    let scrape = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.expect("a body");
    // Names as TYPE lines declare them and as samples carry them (histogram suffixes stripped).
    let mut exported: Vec<&str> = Vec::new();
    for line in text.lines() {
        let name = match line.strip_prefix("# TYPE ") {
            Some(declared) => declared.split_whitespace().next(),
            None if line.starts_with('#') => None,
            None => line.split(['{', ' ']).next(),
        };
        if let Some(name) = name {
            exported.push(name);
            exported.extend(
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .filter_map(|s| name.strip_suffix(s)),
            );
        }
    }
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|name| !exported.contains(&name.as_str()))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{text}");
}
