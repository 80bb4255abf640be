//! Spec §4: the parser against Ruby 3.1's own `Time.parse`, row by row, from the reference table
//! that scripts/ruby-dates.rb generates (tests/data/ruby_time_parse.tsv). A row agrees with Ruby
//! unless it names the project's own answer and why (ADR 0005).

use chrono::{DateTime, SecondsFormat, Utc};
use convo_domain::follow_up_date::parse_follow_up_date;

const TABLE: &str = include_str!("data/ruby_time_parse.tsv");

/// An answer of the table: an instant, or None for "error".
type Answer = Option<DateTime<Utc>>;

/// One row: the input, Ruby's answer as written, and the project's answer with its reason where
/// they differ.
struct Row {
    input: String,
    ruby: String,
    differs: Option<(Answer, String)>,
}

/// Reads an answer written as RFC 3339 or "error"; Err when chrono cannot hold the instant (Ruby
/// reads years beyond 9999 and before 1).
fn answer(text: &str) -> Result<Answer, String> {
    if text == "error" {
        return Ok(None);
    }
    let instant = DateTime::parse_from_rfc3339(text).map_err(|e| format!("{text}: {e}"))?;
    Ok(Some(instant.to_utc()))
}

fn show(answer: Answer) -> String {
    answer.map_or("error".into(), |t| {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    })
}

/// Undoes the generator's escapes: `\\`, `\t`, `\n`, `\r`.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            other => panic!("bad escape \\{other:?} in {text:?}"),
        }
    }
    out
}

/// The reference "now" the table was generated with, from its header.
fn reference_now() -> DateTime<Utc> {
    let header = TABLE
        .lines()
        .find_map(|line| line.strip_prefix("# Time.parse(input, "))
        .expect("the header names the reference now");
    let now = header.split(')').next().expect("closing parenthesis");
    answer(now).expect("valid").expect("an instant")
}

fn rows() -> Vec<Row> {
    TABLE
        .lines()
        .filter(|line| !line.starts_with("# "))
        .map(
            |line| match line.split('\t').collect::<Vec<_>>().as_slice() {
                [input, ruby] => Row {
                    input: unescape(input),
                    ruby: ruby.to_string(),
                    differs: None,
                },
                [input, ruby, ours, why] => Row {
                    input: unescape(input),
                    ruby: ruby.to_string(),
                    differs: Some((answer(ours).expect("the project's answer"), why.to_string())),
                },
                _ => panic!("malformed row {line:?}"),
            },
        )
        .collect()
}

#[test]
fn the_parser_reads_every_row_as_ruby_does_or_as_documented() {
    let now = reference_now();
    let rows = rows();
    let mut failures = Vec::new();
    for row in &rows {
        let got = parse_follow_up_date(&row.input, now);
        let (want, why) = match (&row.differs, answer(&row.ruby)) {
            (Some((ours, why)), _) => (*ours, format!(" (Ruby: {}; {why})", row.ruby)),
            (None, Ok(ruby)) => (ruby, String::new()),
            (None, Err(e)) => {
                failures.push(format!(
                    "{:?}: mark Ruby's answer as a difference: {e}",
                    row.input
                ));
                continue;
            }
        };
        if got != want {
            failures.push(format!(
                "{:?}: got {}, want {}{why}",
                row.input,
                show(got),
                show(want)
            ));
        }
    }
    assert!(rows.len() >= 300, "only {} rows", rows.len());
    assert!(
        failures.is_empty(),
        "{} of {} rows:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn documented_differences_really_differ_from_ruby() {
    for row in rows() {
        if let Some((ours, why)) = row.differs {
            assert_ne!(
                Ok(ours),
                answer(&row.ruby),
                "{:?} is marked as differing ({why})",
                row.input
            );
            assert!(!why.is_empty(), "{:?} gives no reason", row.input);
        }
    }
}
