//! The parser's own table and properties.

use super::*;
use chrono::{SecondsFormat, Timelike};
use proptest::prelude::*;

/// The fixed "now" of every test: 2026-05-01T12:00:00Z.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0)
        .single()
        .expect("valid now")
}

fn parse(input: &str) -> Option<DateTime<Utc>> {
    parse_follow_up_date(input, now())
}

const JS: &str = "2026-05-06T10:31:21Z";

/// `(input, expected instant as RFC 3339)`; None means rejected.
const CASES: &[(&str, Option<&str>)] = &[
    // Spec and seed examples.
    (
        "Wed May 06 2026 13:31:21 GMT+0300 (Israel Daylight Time)",
        Some(JS),
    ),
    ("2026-05-06T10:31:21Z", Some(JS)),
    ("2026-05-06T10:31:21.000Z", Some(JS)),
    ("2026-05-06T13:31:21+03:00", Some(JS)),
    ("2026-05-06 13:31:21 +0300", Some(JS)),
    ("2026-05-06T13:31:21+03", Some(JS)),
    ("Wed, 06 May 2026 10:31:21 GMT", Some(JS)),
    // JS toString variants: other offsets, nested or non-ASCII zone names, no comment.
    (
        "Tue May 05 2026 20:31:21 GMT-1400 (Far West Time)",
        Some(JS),
    ),
    (
        "Thu May 07 2026 00:31:21 GMT+1400 (Line Islands Time)",
        Some(JS),
    ),
    (
        "Wed May 06 2026 03:31:21 GMT-0700 (Pacific Daylight Time)",
        Some(JS),
    ),
    (
        "Wed May 06 2026 16:01:21 GMT+0530 (India (Standard) Time)",
        Some(JS),
    ),
    (
        "Wed May 06 2026 13:31:21 GMT+0300 (שעון ישראל (קיץ))",
        Some(JS),
    ),
    ("Wed May 06 2026 13:31:21 GMT+0300", Some(JS)),
    ("Wed May 06 2026 13:31:21 GMT+0300 (Israel", None),
    // Offsets with and without GMT/UTC prefixes.
    ("2026-05-06 03:31:21 UTC-07:00", Some(JS)),
    ("2026-05-06 03:31:21 -0700", Some(JS)),
    ("2026-05-06 03:31:21 -07:00", Some(JS)),
    ("2026-05-06 13:31:21 +03:00", Some(JS)),
    ("2026-05-06 13:31:21 GMT+03:00", Some(JS)),
    ("2026-05-06 13:31:21 UTC+3", Some(JS)),
    ("2026-05-06 13:31:21 utc+0300", Some(JS)),
    ("2026-05-06 16:01:21+0530", Some(JS)),
    ("2026-05-06 11:01:21 +030", Some(JS)),
    ("2026-05-06 13:31:21 GMT +0300", None),
    ("2026-05-06 10:31:21 +24:00", None),
    ("2026-05-06 10:31:21 +03:60", None),
    ("2026-05-06 10:31:21 +030000", None),
    // Zone names, case-insensitive.
    ("2026-05-06 10:31:21 UTC", Some(JS)),
    ("2026-05-06 10:31:21 gmt", Some(JS)),
    ("2026-05-06 10:31:21 z", Some(JS)),
    ("2026-05-06 05:31:21 EST", Some(JS)),
    ("2026-05-06 06:31:21 EDT", Some(JS)),
    ("2026-05-06 04:31:21 CST", Some(JS)),
    ("2026-05-06 05:31:21 CDT", Some(JS)),
    ("2026-05-06 03:31:21 MST", Some(JS)),
    ("2026-05-06 04:31:21 MDT", Some(JS)),
    ("2026-05-06 02:31:21 PST", Some(JS)),
    ("2026-05-06 03:31:21 pdt", Some(JS)),
    ("2026-05-06 10:31:21 CET", None),
    // A zone after a date without a time: honoured (Ruby ignores it).
    ("2026-05-06 UTC", Some("2026-05-06T00:00:00Z")),
    ("Wed, 06 May 2026 GMT", Some("2026-05-06T00:00:00Z")),
    ("6 May 2026 +0300", Some("2026-05-05T21:00:00Z")),
    ("2026-05-06 -07:00", Some("2026-05-06T07:00:00Z")),
    ("May 6, 2026 EST", Some("2026-05-06T05:00:00Z")),
    ("2026-05-06 +0300 10:00", None),
    ("2026-05-06 CET", None),
    ("May-06-2026", None),
    // No zone, no time, no year.
    ("2026-05-06 10:31:21", Some(JS)),
    ("2026-05-06T10:31:21", Some(JS)),
    ("2026-05-06", Some("2026-05-06T00:00:00Z")),
    ("May 6, 2026", Some("2026-05-06T00:00:00Z")),
    ("May 6", Some("2026-05-06T00:00:00Z")),
    ("6 May 10:00", Some("2026-05-06T10:00:00Z")),
    ("6th May", Some("2026-05-06T00:00:00Z")),
    ("December 25", Some("2026-12-25T00:00:00Z")),
    ("May 2027", Some("2027-05-01T00:00:00Z")),
    ("10:30", Some("2026-05-01T10:30:00Z")),
    ("01:30 -0300", Some("2026-05-01T04:30:00Z")),
    // Numeric dates as Ruby reads them.
    ("06/05/2026", Some("2026-05-06T00:00:00Z")),
    ("6/5/2026 13:31", Some("2026-05-06T13:31:00Z")),
    ("13/05/2026", Some("2026-05-13T00:00:00Z")),
    ("05/13/2026", None),
    ("06-05-2026", Some("2026-05-06T00:00:00Z")),
    ("06.05.2026 10:31:21", Some(JS)),
    ("2026/05/06 10:31:21", Some(JS)),
    ("05/06", Some("2026-05-06T00:00:00Z")),
    ("06-May-2026 10:31:21", Some(JS)),
    ("2026-may-06", Some("2026-05-06T00:00:00Z")),
    ("06/05/26", None),
    ("2026/05", None),
    ("6/5/2026/1", None),
    // ISO 8601 basic and ordinal dates.
    ("20260506", Some("2026-05-06T00:00:00Z")),
    ("20260506T103121", Some(JS)),
    ("20260506T103121Z", Some(JS)),
    ("20260506T133121+0300", Some(JS)),
    ("20260506T1031", Some("2026-05-06T10:31:00Z")),
    ("20260506T10", Some("2026-05-06T10:00:00Z")),
    ("20260506T10:31:21Z", Some(JS)),
    ("20260506T103121.5Z", Some("2026-05-06T10:31:21.5Z")),
    ("2026-126", Some("2026-05-06T00:00:00Z")),
    ("2026126", Some("2026-05-06T00:00:00Z")),
    ("2026126T103121Z", Some(JS)),
    ("2026-126 10:31:21", Some(JS)),
    ("2028-366", Some("2028-12-31T00:00:00Z")),
    ("2026-366", None),
    ("2026-000", None),
    ("20260230", None),
    ("20260506T246000", None),
    ("2026-05-06T103121Z", None),
    ("20260506 103121", None),
    // A `T` before the time, also after a written date.
    ("May 6, 2026T10:31:21", Some(JS)),
    ("6 May 2026T10:31:21Z", Some(JS)),
    ("T10:31", Some("2026-05-01T10:31:00Z")),
    // A date among words: skipped as Ruby skips them, with exceptions.
    ("on 2026-05-06 at 10:31:21", Some(JS)),
    ("at 10:31:21 on 2026-05-06", Some(JS)),
    ("remind me on May 6, 2026 at 10:31:21 AM", Some(JS)),
    ("2026-05-06T10:31:21Z please", Some(JS)),
    ("Wed, 06 May 2026 10:31:21 GMT thanks", Some(JS)),
    ("6 May 2026 AD", Some("2026-05-06T00:00:00Z")),
    ("2026-05-06 10:31 please", None),
    ("2026-05-06 10:31 a", None),
    ("2026-05-06 please", None),
    ("the 6th of May 2026", None),
    ("May banana 6 2026", None),
    ("tomorrow 10:00", None),
    ("2026-05-06 noon", None),
    ("6 May 2026 BC", None),
    // Month names, full or abbreviated, any case; free word order as Ruby reads it.
    ("6 MAY 2026", Some("2026-05-06T00:00:00Z")),
    ("6 september 2026", Some("2026-09-06T00:00:00Z")),
    ("Sept. 6 2026", Some("2026-09-06T00:00:00Z")),
    ("2026 May 6", Some("2026-05-06T00:00:00Z")),
    ("Wed May 6 10:31:21 2026", Some(JS)),
    ("1st Jan 2027", Some("2027-01-01T00:00:00Z")),
    ("6 2026 May", None),
    ("May 6 May", None),
    // Weekdays optional and not checked.
    ("Fri May 06 2026 10:31:21", Some(JS)),
    (
        "Wednesday, May 6, 2026 at 1:31 PM",
        Some("2026-05-06T13:31:00Z"),
    ),
    ("Wed", None),
    ("Wed Thu May 6", None),
    // 12-hour clock.
    ("2026-05-06 1:31 PM", Some("2026-05-06T13:31:00Z")),
    ("2026-05-06 1:31PM", Some("2026-05-06T13:31:00Z")),
    ("May 6 2026 1pm", Some("2026-05-06T13:00:00Z")),
    ("May 6 2026 1 p.m.", Some("2026-05-06T13:00:00Z")),
    ("2026-05-06 12:00 am", Some("2026-05-06T00:00:00Z")),
    ("2026-05-06 12:00 pm", Some("2026-05-06T12:00:00Z")),
    ("2026-05-06 10:31:21 AM EDT", Some("2026-05-06T14:31:21Z")),
    ("2026-05-06 13:00 pm", None),
    ("2026-05-06 0:30 am", None),
    // Fractional seconds.
    ("2026-05-06T10:31:21.5Z", Some("2026-05-06T10:31:21.5Z")),
    ("2026-05-06T10:31:21,25Z", Some("2026-05-06T10:31:21.25Z")),
    (
        "2026-05-06T13:31:21.123456+03:00",
        Some("2026-05-06T10:31:21.123456Z"),
    ),
    (
        "2026-05-06T10:31:21.1234567891Z",
        Some("2026-05-06T10:31:21.123456789Z"),
    ),
    ("2026-05-06T10:31:21.Z", None),
    // Rollover across day, month and year boundaries.
    ("2026-01-01T01:00:00+03:00", Some("2025-12-31T22:00:00Z")),
    ("2026-12-31T22:00:00-05:00", Some("2027-01-01T03:00:00Z")),
    ("2026-05-31 23:30 -0100", Some("2026-06-01T00:30:00Z")),
    ("2026-03-01 00:30 +01:00", Some("2026-02-28T23:30:00Z")),
    ("2028-03-01 00:30 +01:00", Some("2028-02-29T23:30:00Z")),
    // Leap days and impossible dates or times.
    ("2028-02-29", Some("2028-02-29T00:00:00Z")),
    ("29 Feb 2028 10:00", Some("2028-02-29T10:00:00Z")),
    ("2026-02-29", None),
    ("2026-02-30", None),
    ("31/04/2026", None),
    ("2026-13-01", None),
    ("2026-00-10", None),
    ("2026-05-00", None),
    ("May 32 2026", None),
    ("2026-05-06 25:00", None),
    ("2026-05-06 24:00", None),
    ("2026-05-06 10:60", None),
    ("2026-05-06 10:00:60", None),
    ("2026-05-06 10:5", None),
    // Garbage and trailing junk.
    ("", None),
    ("   ", None),
    ("\t\n", None),
    ("not a date", None),
    ("tomorrow", None),
    ("2026", None),
    ("6", None),
    ("at 10:00", Some("2026-05-01T10:00:00Z")),
    (",May 6", Some("2026-05-06T00:00:00Z")),
    ("2026-05-06 10:00 banana", None),
    ("2026-05-06T10:00:00Zjunk", None),
    ("2026-05-06T10:00:00Z!", None),
    ("2026-05-06 T10:00", Some("2026-05-06T10:00:00Z")),
    ("2026-05-06Tfoo", None),
    ("2026-05-06 10:00 (", None),
    ("(Israel Daylight Time)", None),
    ("2026-05-06 ١٠:٠٠", None),
    ("99999999999999999999-05-06", None),
    ("2026-05-06 99999999999999999999:00", None),
    ("2026-05-06 10:00 +99999999999999999999", None),
];

/// A JS toString-like input padded with multi-byte characters to exactly `chars` characters.
fn padded_js(chars: usize) -> String {
    let head = "Wed May 06 2026 13:31:21 GMT+0300 (";
    let fill = chars - head.chars().count() - 1;
    format!("{head}{})", "ש".repeat(fill))
}

#[test]
fn follow_up_date_table() {
    let long = [
        (padded_js(MAX_LEN), Some(JS)),
        (padded_js(MAX_LEN + 1), None),
        (format!("{JS}{}", " ".repeat(MAX_LEN - JS.len())), Some(JS)),
        (format!("{JS}{}", " ".repeat(MAX_LEN + 1 - JS.len())), None),
    ];
    assert_eq!(long[0].0.chars().count(), 128);
    assert!(long[0].0.len() > 128, "the padding is multi-byte");
    assert_eq!(long[1].0.chars().count(), 129);

    let rows = CASES
        .iter()
        .map(|(input, expected)| (input.to_string(), *expected))
        .chain(long);
    let mut count = 0;
    let mut failures = Vec::new();
    for (input, expected) in rows {
        count += 1;
        let want = expected.map(|text| {
            DateTime::parse_from_rfc3339(text)
                .expect("valid expectation")
                .with_timezone(&Utc)
        });
        let got = parse(&input);
        if got != want {
            failures.push(format!(
                "{input:?}: got {:?}, want {:?}",
                got.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                expected
            ));
        }
    }
    assert!(count >= 45, "only {count} rows");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn missing_year_and_time_only_use_now_in_the_input_offset() {
    // 2026-12-31T23:00Z is already 2027 at +03:00.
    let new_year_eve = Utc
        .with_ymd_and_hms(2026, 12, 31, 23, 0, 0)
        .single()
        .expect("valid");
    let parsed = parse_follow_up_date("Jan 2 10:00 +0300", new_year_eve);
    assert_eq!(parsed, "2027-01-02T07:00:00Z".parse().ok());
    let parsed = parse_follow_up_date("10:00 +0300", new_year_eve);
    assert_eq!(parsed, "2027-01-01T07:00:00Z".parse().ok());
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(input in any::<String>()) {
        let _ = parse(&input);
    }

    #[test]
    fn never_panics_on_date_like_text(
        input in "[0-9A-Za-z :+\\-/.,()\u{5e9}\u{a0}\t]{0,140}",
    ) {
        let _ = parse(&input);
    }

    #[test]
    fn never_panics_with_extreme_now(
        input in "[0-9]{1,2}:[0-9]{2} ?([+-][0-9]{2}:?[0-9]{2})?|May [0-9]{1,2}( [+-]0[0-9]00)?",
        at_max in any::<bool>(),
    ) {
        let now = if at_max { DateTime::<Utc>::MAX_UTC } else { DateTime::<Utc>::MIN_UTC };
        let _ = parse_follow_up_date(&input, now);
    }

    #[test]
    fn round_trips_rfc3339_js_and_rfc2822(
        seconds in -30_000_000_000i64..250_000_000_000i64,
        nanos in 0u32..1_000_000_000,
        offset_minutes in -1439i32..=1439,
    ) {
        let instant = DateTime::from_timestamp(seconds, nanos).expect("in range");
        let zone = FixedOffset::east_opt(offset_minutes * 60).expect("valid offset");
        let local = instant.with_timezone(&zone);
        let whole = instant.with_nanosecond(0).expect("valid");

        let rfc3339 = local.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        prop_assert_eq!(parse(&rfc3339), Some(instant), "{}", rfc3339);

        let js = local.format("%a %b %d %Y %H:%M:%S GMT%z (Some Time Zone)").to_string();
        prop_assert_eq!(parse(&js), Some(whole), "{}", js);

        let rfc2822 = local.to_rfc2822();
        prop_assert_eq!(parse(&rfc2822), Some(whole), "{}", rfc2822);
    }
}
