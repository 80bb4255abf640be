use super::*;

/// The rows of the table in `docs/metrics.md`: name (in backticks), type, labels, meaning.
fn documented() -> Vec<[String; 4]> {
    include_str!("../../../docs/metrics.md")
        .lines()
        .filter(|line| line.starts_with("| `convo_"))
        .map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect();
            assert_eq!(cells.len(), 4, "a row has 4 cells: {line}");
            let name = cells[0].trim_matches('`').to_owned();
            [name, cells[1].clone(), cells[2].clone(), cells[3].clone()]
        })
        .collect()
}

#[test]
fn the_documentation_table_lists_every_metric_as_declared() {
    let declared: Vec<[String; 4]> = ALL
        .iter()
        .map(|m| {
            [
                m.name.to_owned(),
                m.kind.name().to_owned(),
                m.labels.join(", "),
                m.help.to_owned(),
            ]
        })
        .collect();
    assert_eq!(documented(), declared);
}

#[test]
fn names_follow_the_prometheus_conventions() {
    for metric in ALL {
        assert!(metric.name.starts_with("convo_"), "{}", metric.name);
        let total = metric.name.ends_with("_total");
        assert_eq!(total, metric.kind == Kind::Counter, "{}", metric.name);
        if metric.kind == Kind::Histogram {
            assert!(metric.name.ends_with("_seconds"), "{}", metric.name);
        }
    }
}

#[test]
fn what_is_recorded_is_rendered_with_bounded_labels() {
    install();
    command(Transport::Http, "update", Outcome::Accepted, 200);
    http_request(None, "BREW", 404, Duration::from_millis(3));
    let text = render();
    assert!(
        text.contains(
            r#"convo_commands_total{transport="http",type="update",outcome="accepted",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"convo_http_requests_total{route="unmatched",method="other",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"convo_http_request_duration_seconds_bucket{route="unmatched",method="other",le="0.005"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("# HELP convo_commands_total Commands by"),
        "{text}"
    );
}
