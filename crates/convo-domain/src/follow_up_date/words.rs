//! The words the parser knows: weekdays, months, zone names and the words it treats specially.

/// Seconds in an hour, for zone offsets.
const HOUR: i32 = 3600;

/// Whether `word` (lower case) names a weekday, in full or abbreviated.
pub(super) fn is_weekday(word: &str) -> bool {
    matches!(
        word,
        "sun"
            | "sunday"
            | "mon"
            | "monday"
            | "tue"
            | "tues"
            | "tuesday"
            | "wed"
            | "wednesday"
            | "thu"
            | "thur"
            | "thurs"
            | "thursday"
            | "fri"
            | "friday"
            | "sat"
            | "saturday"
    )
}

/// The month (1-12) that `word` (lower case) names, in full or abbreviated.
pub(super) fn month_number(word: &str) -> Option<u32> {
    let month = match word {
        "jan" | "january" => 1,
        "feb" | "february" => 2,
        "mar" | "march" => 3,
        "apr" | "april" => 4,
        "may" => 5,
        "jun" | "june" => 6,
        "jul" | "july" => 7,
        "aug" | "august" => 8,
        "sep" | "sept" | "september" => 9,
        "oct" | "october" => 10,
        "nov" | "november" => 11,
        "dec" | "december" => 12,
        _ => return None,
    };
    Some(month)
}

/// Whether `word` (lower case) names a zone that [`named_zone_offset`] knows.
pub(super) fn is_zone_name(word: &str) -> bool {
    named_zone_offset(word).is_some()
}

/// Words that Ruby skips but that change what a date means in English (`tomorrow 10:00`,
/// `2026-05-06 noon`, `6 May 2026 BC`); an input containing one is refused.
pub(super) fn is_meaningful_word(word: &str) -> bool {
    matches!(
        word,
        "today"
            | "tonight"
            | "tomorrow"
            | "yesterday"
            | "now"
            | "noon"
            | "midday"
            | "midnight"
            | "morning"
            | "afternoon"
            | "evening"
            | "night"
            | "next"
            | "last"
            | "ago"
            | "before"
            | "after"
            | "am"
            | "pm"
            | "bc"
            | "bce"
            | "dst"
    )
}

/// Whether `word` (lower case) begins with a month's three-letter abbreviation (`mayday`).
pub(super) fn starts_with_month(word: &str) -> bool {
    word.get(..3).and_then(month_number).is_some()
}

/// Words that join a date and a time (`on 2026-05-06 at 10:31`) or mark the common era: never
/// taken for a zone.
pub(super) fn is_filler_word(word: &str) -> bool {
    matches!(word, "at" | "on" | "by" | "ad" | "ce")
}

/// Offset in seconds of the zone names Ruby's `Time.zone_offset` knows (military letters aside).
pub(super) fn named_zone_offset(name: &str) -> Option<i32> {
    let hours = match name {
        "utc" | "ut" | "gmt" | "z" => 0,
        "edt" => -4,
        "est" | "cdt" => -5,
        "cst" | "mdt" => -6,
        "mst" | "pdt" => -7,
        "pst" => -8,
        _ => return None,
    };
    Some(hours * HOUR)
}
