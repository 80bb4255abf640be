//! Spec §4: the parser against Ruby 3.1's own `Time.parse`, row by row, from the reference table
//! that scripts/ruby-dates.rb generates (tests/data/ruby_time_parse.tsv). A row agrees with Ruby
//! unless it names the project's own answer and why (ADR 0005).

use chrono::{DateTime, SecondsFormat, Utc};
use convo_domain::follow_up_date::parse_follow_up_date;

const TABLE: &str = include_str!("data/ruby_time_parse.tsv");

/// One row: the input, Ruby's answer as written (its year may be beyond chrono's range), and the
/// project's answer with its reason where they differ.
struct Row {
    input: String,
    ruby: String,
    differs: Option<(Option<DateTime<Utc>>, String)>,
}

/// An instant written as RFC 3339, or None for "error".
fn answer(text: &str) -> Option<DateTime<Utc>> {
    if text == "error" {
        return None;
    }
    let instant = DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    Some(instant.to_utc())
}

fn show(answer: Option<DateTime<Utc>>) -> String {
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
    answer(header.split(')').next().expect("closing parenthesis")).expect("an instant")
}

fn rows() -> Vec<Row> {
    TABLE
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            match columns.as_slice() {
                [input, ruby] => Row {
                    input: unescape(input),
                    ruby: ruby.to_string(),
                    differs: None,
                },
                [input, ruby, ours, why] => Row {
                    input: unescape(input),
                    ruby: ruby.to_string(),
                    differs: Some((answer(ours), why.to_string())),
                },
                _ => panic!("malformed row {line:?}"),
            }
        })
        .collect()
}

#[test]
fn the_parser_reads_every_row_as_ruby_does_or_as_documented() {
    let now = reference_now();
    let rows = rows();
    let mut failures = Vec::new();
    for row in &rows {
        let got = parse_follow_up_date(&row.input, now);
        let (want, why) = match &row.differs {
            Some((ours, why)) => (*ours, format!(" (Ruby: {}; {why})", row.ruby)),
            None if row.ruby == "error" => (None, String::new()),
            None => match DateTime::parse_from_rfc3339(&row.ruby) {
                Ok(instant) => (Some(instant.to_utc()), String::new()),
                Err(_) => {
                    failures.push(format!(
                        "{:?}: Ruby's {} is beyond chrono",
                        row.input, row.ruby
                    ));
                    continue;
                }
            },
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
                show(ours),
                row.ruby,
                "{:?} is marked as differing ({why})",
                row.input
            );
            assert!(!why.is_empty(), "{:?} gives no reason", row.input);
        }
    }
}
