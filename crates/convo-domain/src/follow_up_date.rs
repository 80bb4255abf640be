//! Parsing of the `follow_up_date` request field (spec §4).
//!
//! vcita reads this field with Ruby's `Time.parse` (`Date._parse` plus `Time.make_time`), which
//! accepts almost anything that looks like a date. This module reproduces the part of that
//! behaviour that clients send, with a small hand-written tokenizer and parser (no regexes):
//!
//! * JavaScript `Date.prototype.toString()`:
//!   `Wed May 06 2026 13:31:21 GMT+0300 (Israel Daylight Time)` (the trailing parenthesised
//!   zone name is ignored);
//! * ISO 8601 / RFC 3339: `2026-05-06T10:31:21Z`, `2026-05-06T10:31:21.000Z`,
//!   `2026-05-06T13:31:21+03:00`, `2026-05-06 13:31:21 +0300`, `2026-05-06T13:31:21+03`;
//! * RFC 2822 / `toUTCString()`: `Wed, 06 May 2026 10:31:21 GMT`;
//! * English dates: `May 6, 2026 1:31 PM`, `6th May 10:00`, `06-May-2026`, `Sept 6`;
//! * numeric dates read the way Ruby reads them: `06/05/2026`, `06-05-2026` and `06.05.2026` are
//!   day/month/year, `2026/05/06` is year/month/day, and a year-less `05/06` is month/day.
//!
//! Resolution follows `Time.make_time`: no zone means UTC (the server's zone), a missing time is
//! midnight, a missing year is the current year and a time on its own is today, both taken from
//! `now` seen in the input's offset; a month name without a day means the 1st. Weekday names are
//! accepted and ignored, as Ruby does not check them.
//!
//! Deliberate differences from Ruby:
//!
//! * numeric offsets are always honoured, also after a `GMT`/`UTC` prefix (`GMT+0300`,
//!   `UTC-07:00`) and in the short `+03` form; Ruby reads those wall times as server-local;
//! * impossible calendar dates and times (`2026-02-30`, `31/04/2026`, `25:00`, `10:60`, second 60,
//!   `13 pm`) are rejected instead of being rolled over into the next day or month;
//! * unknown words are rejected instead of being skipped; the only filler word accepted is `at`;
//! * only the zone names UTC, UT, GMT, Z, EST/EDT, CST/CDT, MST/MDT and PST/PDT are understood
//!   (Ruby would read the wall time of any other zone as server-local);
//! * only four-digit years; two-digit years, apostrophe years, era markers, ordinal days without a
//!   month, week dates, day-of-year dates and compact forms such as `20260506T103121` are
//!   rejected.

use std::iter::Peekable;
use std::str::Chars;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// Longest accepted input, in characters.
pub const MAX_LEN: usize = 128;

/// Seconds in an hour, for zone offsets.
const HOUR: i32 = 3600;

/// Parses a follow-up date the way Ruby's `Time.parse` reads it (spec §4), except that numeric
/// offsets are always honoured (also after a `GMT`/`UTC` prefix). Returns None when unparseable
/// or longer than MAX_LEN characters. `now` supplies the year when the input has none.
pub fn parse_follow_up_date(input: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if input.chars().nth(MAX_LEN).is_some() {
        return None;
    }
    let text = strip_trailing_comment(input)?;
    let tokens = tokenize(text)?;
    Parser::new(&tokens).run()?.resolve(now)
}

/// Removes one trailing parenthesised comment, such as the zone name JavaScript appends
/// (`(Israel Daylight Time)`); nested parentheses inside it are allowed and its content may be any
/// text. Returns None when the parentheses do not balance.
fn strip_trailing_comment(input: &str) -> Option<&str> {
    let text = input.trim_end();
    if !text.ends_with(')') {
        return Some(text);
    }
    let mut depth = 0usize;
    for (at, c) in text.char_indices().rev() {
        match c {
            ')' => depth = depth.checked_add(1)?,
            '(' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return text.get(..at);
                }
            }
            _ => {}
        }
    }
    None
}

/// One lexical unit of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lexeme {
    /// A run of ASCII letters, lower-cased.
    Word(String),
    /// A run of ASCII digits, kept as text so that its width (`06` vs `6`, `2026`) is known.
    Number(String),
    /// One of the punctuation characters in [`SYMBOLS`].
    Symbol(char),
}

/// A lexeme and whether whitespace separates it from the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    lexeme: Lexeme,
    spaced: bool,
}

/// Punctuation that can be part of a date.
const SYMBOLS: &[char] = &[':', '-', '+', '/', '.', ','];

/// Splits `text` into words, numbers and symbols. Any other character (outside Unicode whitespace)
/// makes the input unparseable.
fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut spaced = false;
    while let Some(&c) = chars.peek() {
        let lexeme = if c.is_whitespace() {
            chars.next();
            spaced = true;
            continue;
        } else if c.is_ascii_digit() {
            Lexeme::Number(take_while(&mut chars, |c| c.is_ascii_digit()))
        } else if c.is_ascii_alphabetic() {
            Lexeme::Word(take_while(&mut chars, |c| c.is_ascii_alphabetic()).to_ascii_lowercase())
        } else if SYMBOLS.contains(&c) {
            chars.next();
            Lexeme::Symbol(c)
        } else {
            return None;
        };
        tokens.push(Token { lexeme, spaced });
        spaced = false;
    }
    Some(tokens)
}

/// Consumes and returns the longest prefix of `chars` whose characters satisfy `keep`.
fn take_while(chars: &mut Peekable<Chars<'_>>, keep: impl Fn(char) -> bool) -> String {
    let mut taken = String::new();
    while let Some(c) = chars.next_if(|&c| keep(c)) {
        taken.push(c);
    }
    taken
}

/// A time of day as written (already converted from 12-hour form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Clock {
    hour: u32,
    minute: u32,
    second: u32,
    nano: u32,
}

/// A date written with digits only (`2026-05-06`, `06/05/2026`, `05/06`) or as `06-May-2026`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CompactDate {
    year: Option<i32>,
    month: u32,
    day: u32,
}

/// A date component written on its own (`May`, `6`, `2026`), in the order they appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Day,
    Month,
    Year,
}

/// The orders in which separate day, month-name and year components are accepted; these are the
/// orders in which Ruby's `parse_eu`/`parse_us` patterns read them as written.
const ACCEPTED_ORDERS: &[&[Part]] = {
    use Part::{Day as D, Month as M, Year as Y};
    &[
        &[M],
        &[M, D],
        &[D, M],
        &[M, Y],
        &[Y, M],
        &[M, D, Y],
        &[D, M, Y],
        &[Y, M, D],
    ]
};

/// Everything the parser found, before it is resolved against `now`.
#[derive(Debug, Default)]
struct Fields {
    weekday: bool,
    compact_date: Option<CompactDate>,
    parts: Vec<Part>,
    month: Option<u32>,
    day: Option<u32>,
    year: Option<i32>,
    clock: Option<Clock>,
    /// Seconds east of UTC.
    offset: Option<i32>,
    /// An unknown word directly followed the date: it may be a zone, so a date without a time is
    /// refused rather than read as UTC.
    word_after_date: bool,
    /// A word was skipped after a day, month or year: no further one may follow it.
    word_inside_date: bool,
    /// How many of `parts` were read before the time.
    parts_before_clock: usize,
}

impl Fields {
    /// Turns the parsed components into an instant, filling what is missing the way Ruby's
    /// `Time.make_time` does. None when the components conflict or name an impossible date.
    fn resolve(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let offset = FixedOffset::east_opt(self.offset.unwrap_or(0))?;
        // `now` as a wall date in the input's offset; checked so that an extreme `now` cannot panic.
        let today = now.naive_utc().checked_add_offset(offset)?.date();
        let date = match (self.compact_date, self.parts.as_slice()) {
            (Some(date), []) => NaiveDate::from_ymd_opt(
                date.year.unwrap_or_else(|| today.year()),
                date.month,
                date.day,
            )?,
            (Some(_), _) => return None,
            (None, []) if self.clock.is_some() => today,
            (None, []) => return None,
            (None, order) if ACCEPTED_ORDERS.contains(&order) => NaiveDate::from_ymd_opt(
                self.year.unwrap_or_else(|| today.year()),
                self.month?,
                self.day.unwrap_or(1),
            )?,
            (None, _) => return None,
        };
        if self.word_after_date && self.clock.is_none() {
            return None;
        }
        // Ruby reads some years before 1000 as two-digit years (`0071-061` is 1971).
        if date.year() < 1000 {
            return None;
        }
        let clock = self.clock.unwrap_or_default();
        let time =
            NaiveTime::from_hms_nano_opt(clock.hour, clock.minute, clock.second, clock.nano)?;
        let local = offset.from_local_datetime(&date.and_time(time)).single()?;
        Some(local.with_timezone(&Utc))
    }
}

/// What the tokens read so far ended with; it decides how a following word or sign is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The start of the input, a weekday or a skipped word.
    Other,
    /// A date, or a day, month or year written on its own.
    Date,
    /// A time without a zone.
    Clock,
    /// A zone.
    Zone,
}

/// A left-to-right parser over the tokens. Each component (weekday, date, time, zone, day, month,
/// year) may appear at most once; a token that fits no component rejects the input, except words,
/// which are skipped as Ruby skips them (see [`Parser::word_component`]).
#[derive(Debug)]
struct Parser<'a> {
    tokens: &'a [Token],
    fields: Fields,
}

impl<'a> Parser<'a> {
    fn new(tokens: &'a [Token]) -> Self {
        Self {
            tokens,
            fields: Fields::default(),
        }
    }

    /// Consumes all tokens, or returns None at the first one that cannot be placed. A comma
    /// directly after a token (`May 6, 2026`) is skipped; Ruby's patterns do not read a date across
    /// a comma after a space or a second comma. A sign after a space after a date starts its zone
    /// (`6 May 2026 +0300`).
    fn run(mut self) -> Option<Fields> {
        let mut at = 0;
        let mut after = After::Other;
        while let Some(token) = self.tokens.get(at) {
            (at, after) = match &token.lexeme {
                Lexeme::Symbol(',')
                    if (at == 0 || !token.spaced) && !self.adjacent_symbol(at + 1, ',') =>
                {
                    (at + 1, after)
                }
                Lexeme::Symbol('+' | '-') if after == After::Date && token.spaced => {
                    self.date_zone(at)?
                }
                Lexeme::Symbol(_) => return None,
                Lexeme::Word(word) => self.word_component(word, at, after)?,
                Lexeme::Number(_) => self.number_component(at, after)?,
            };
        }
        Some(self.fields)
    }

    // --- token access -------------------------------------------------------------------------

    /// The lexeme at `at`, whether or not whitespace precedes it.
    fn lexeme(&self, at: usize) -> Option<&'a Lexeme> {
        self.tokens.get(at).map(|token| &token.lexeme)
    }

    /// The lexeme at `at`, only when it directly follows the previous token.
    fn adjacent(&self, at: usize) -> Option<&'a Lexeme> {
        self.tokens
            .get(at)
            .filter(|token| !token.spaced)
            .map(|token| &token.lexeme)
    }

    fn number(&self, at: usize) -> Option<&'a str> {
        match self.lexeme(at)? {
            Lexeme::Number(digits) => Some(digits),
            _ => None,
        }
    }

    fn word(&self, at: usize) -> Option<&'a str> {
        match self.lexeme(at)? {
            Lexeme::Word(word) => Some(word),
            _ => None,
        }
    }

    fn adjacent_number(&self, at: usize) -> Option<&'a str> {
        match self.adjacent(at)? {
            Lexeme::Number(digits) => Some(digits),
            _ => None,
        }
    }

    fn adjacent_word(&self, at: usize) -> Option<&'a str> {
        match self.adjacent(at)? {
            Lexeme::Word(word) => Some(word),
            _ => None,
        }
    }

    /// Whether a word or a number directly follows at `at` (no space or punctuation between).
    fn adjacent_alphanumeric(&self, at: usize) -> bool {
        matches!(self.adjacent(at), Some(Lexeme::Word(_) | Lexeme::Number(_)))
    }

    fn adjacent_symbol(&self, at: usize, symbol: char) -> bool {
        matches!(self.adjacent(at), Some(Lexeme::Symbol(c)) if *c == symbol)
    }

    /// Index after an optional adjacent `symbol` at `at`.
    fn skip_adjacent_symbol(&self, at: usize, symbol: char) -> usize {
        if self.adjacent_symbol(at, symbol) {
            at + 1
        } else {
            at
        }
    }

    /// A two-digit number directly after an adjacent `separator` at `at` (`:31`).
    fn two_digits_after(&self, at: usize, separator: char) -> Option<u32> {
        if !self.adjacent_symbol(at, separator) {
            return None;
        }
        let digits = self.adjacent_number(at + 1).filter(|d| d.len() == 2)?;
        digits.parse().ok()
    }

    // --- components ---------------------------------------------------------------------------

    /// A weekday (ignored), a month name, a `T` before a time, a zone after a date without a
    /// time, or any other word, skipped as Ruby skips it (`on 2026-05-06 at 10:31`) except:
    /// * any word but `at`, `on` and `by` directly after a time without a zone: Ruby reads it as
    ///   a zone (also a month name) and, not knowing it, reads the wall time as UTC;
    /// * words that change a date's meaning ([`is_meaningful_word`]) and zone names that fit
    ///   nowhere;
    /// * words that begin with a month abbreviation (`Mayday`), which Ruby reads as that month;
    /// * a word touching a number (`by2026-05-06`), which Ruby's patterns do not separate;
    /// * a word inside a written date (`6th of May`, from which Ruby drops the day).
    ///
    /// An unknown word after a date without a time is refused at the end, as it may be a zone too.
    fn word_component(&mut self, word: &str, at: usize, after: After) -> Option<(usize, After)> {
        if after == After::Clock && !is_filler_word(word) {
            return None;
        }
        if is_weekday(word) {
            if std::mem::replace(&mut self.fields.weekday, true) {
                return None;
            }
            // Ruby's weekday runs up to a space, a digit, `-` or `/`: `Wed,Dec` is one weekday.
            let mut next = at + 1;
            while self.adjacent_symbol(next, '.') || self.adjacent_symbol(next, ',') {
                next += 1;
            }
            if next > at + 1 && self.adjacent_word(next).is_some() {
                return None;
            }
            return Some((self.skip_adjacent_symbol(at + 1, '.'), After::Other));
        }
        if let Some(month) = month_number(word) {
            if self.splits_date() {
                return None;
            }
            self.push_part(Part::Month)?;
            self.fields.month = Some(month);
            return Some((self.skip_adjacent_symbol(at + 1, '.'), After::Date));
        }
        if word == "t"
            && self.adjacent_number(at + 1).is_some()
            && let Some((clock, next)) = self.clock_at(at + 1)
        {
            return self.set_clock(clock, next);
        }
        if is_zone_name(word) {
            return match after {
                After::Date => self.date_zone(at),
                _ => None,
            };
        }
        let follows_number = at > 0
            && self.adjacent(at).is_some()
            && matches!(self.lexeme(at - 1), Some(Lexeme::Number(_)));
        let touches_number = follows_number || self.adjacent_number(at + 1).is_some();
        if is_meaningful_word(word) || starts_with_month(word) || touches_number {
            return None;
        }
        if !is_filler_word(word) {
            match after {
                After::Clock => return None,
                After::Date => self.fields.word_after_date = true,
                After::Other | After::Zone => {}
            }
        }
        self.fields.word_inside_date |= !self.fields.parts.is_empty();
        Some((at + 1, After::Other))
    }

    /// The zone of a date without a time (`2026-05-06 UTC`, `6 May 2026 +0300`), at `at`.
    /// Only after a date with a day: Ruby reads `May -8` as May 8.
    fn date_zone(&mut self, at: usize) -> Option<(usize, After)> {
        let has_day = self.fields.compact_date.is_some() || self.fields.parts.contains(&Part::Day);
        if self.fields.clock.is_some() || !has_day {
            return None;
        }
        let (offset, next) = self.zone_at(at)?;
        if self.fields.offset.replace(offset).is_some() {
            return None;
        }
        Some((next, After::Zone))
    }

    /// A time (with its zone), a date (with an ISO `T` time in basic form), a year or a day. After
    /// a time, a day or a year only completes a date begun before it, as the year of `ctime`'s
    /// `Wed May 6 10:31:21 2026` does.
    fn number_component(&mut self, at: usize, after: After) -> Option<(usize, After)> {
        if let Some((clock, next)) = self.clock_at(at) {
            return self.set_clock(clock, next);
        }
        if let Some((date, next)) = self.basic_date_at(at) {
            self.set_date(date)?;
            // Ruby reads a comma or a period after a basic date as a broken fraction.
            if matches!(self.lexeme(next), Some(Lexeme::Symbol(',' | '.'))) {
                return None;
            }
            if self.word(next) == Some("t") {
                let (clock, after) = self.basic_clock_at(next + 1)?;
                return self.set_clock(clock, after);
            }
            return Some((next, After::Date));
        }
        if let Some((date, next)) = self.compact_date_at(at) {
            self.set_date(date)?;
            return Some((next, After::Date));
        }
        let digits = self.number(at)?;
        if self.splits_date() && !(after == After::Clock && digits.len() == 4) {
            return None;
        }
        match digits.len() {
            4 => {
                self.push_part(Part::Year)?;
                self.fields.year = Some(digits.parse().ok()?);
                Some((at + 1, After::Date))
            }
            1 | 2 => {
                self.push_part(Part::Day)?;
                self.fields.day = Some(digits.parse().ok()?);
                let next = at + 1;
                match self.adjacent_word(next) {
                    Some("st" | "nd" | "rd" | "th") => Some((next + 1, After::Date)),
                    _ => Some((next, After::Date)),
                }
            }
            _ => None,
        }
    }

    /// Whether a day, month or year read now would come after a time that follows another part of
    /// the date (`Jan 1pm, 2nd`, from which Ruby drops the day).
    fn splits_date(&self) -> bool {
        self.fields.clock.is_some() && self.fields.parts_before_clock > 0
    }

    /// Whether a zone was read after a date without a time: no date component may follow it.
    fn date_zone_read(&self) -> bool {
        self.fields.offset.is_some() && self.fields.clock.is_none()
    }

    /// Records a date written in one piece; None when there already is one or a date's zone
    /// precedes it.
    fn set_date(&mut self, date: CompactDate) -> Option<()> {
        if self.fields.compact_date.replace(date).is_some() || self.date_zone_read() {
            return None;
        }
        Some(())
    }

    /// Records a separately written date component; None when it was already seen, or a skipped
    /// word or a date's zone precedes it.
    fn push_part(&mut self, part: Part) -> Option<()> {
        if self.fields.parts.contains(&part)
            || self.fields.word_inside_date
            || self.date_zone_read()
        {
            return None;
        }
        self.fields.parts.push(part);
        Some(())
    }

    /// Records the time and reads an optional zone after it; returns the index after both. None
    /// when a time or a zone was already read.
    fn set_clock(&mut self, clock: Clock, next: usize) -> Option<(usize, After)> {
        if self.fields.clock.replace(clock).is_some() || self.fields.offset.is_some() {
            return None;
        }
        self.fields.parts_before_clock = self.fields.parts.len();
        match self.zone_at(next) {
            Some((offset, after)) => {
                self.fields.offset = Some(offset);
                Some((after, After::Zone))
            }
            None => Some((next, After::Clock)),
        }
    }

    /// `H:MM`, `H:MM:SS`, `H:MM:SS.fff` (or `,fff`), each optionally followed by `am`/`pm`, or an
    /// hour followed by `am`/`pm` (`1pm`, `1 p.m.`). Returns the time and the index after it.
    fn clock_at(&self, at: usize) -> Option<(Clock, usize)> {
        let hour: u32 = self.number(at).filter(|d| d.len() <= 2)?.parse().ok()?;
        let mut next = at + 1;
        let mut minute = None;
        let mut second = 0;
        let mut nano = 0;
        if let Some(m) = self.two_digits_after(next, ':') {
            minute = Some(m);
            next += 2;
            if let Some(s) = self.two_digits_after(next, ':') {
                second = s;
                next += 2;
                if (self.adjacent_symbol(next, '.') || self.adjacent_symbol(next, ','))
                    && let Some(fraction) = self.adjacent_number(next + 1)
                {
                    nano = fraction_to_nanos(fraction)?;
                    next += 2;
                }
            }
        }
        let hour = match self.meridian_at(next) {
            Some((pm, after)) => {
                next = after;
                if !(1..=12).contains(&hour) {
                    return None;
                }
                hour % 12 + if pm { 12 } else { 0 }
            }
            None if minute.is_none() => return None,
            None => hour,
        };
        let minute = minute.unwrap_or(0);
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let clock = Clock {
            hour,
            minute,
            second,
            nano,
        };
        Some((clock, next))
    }

    /// An ISO 8601 basic time after a `T` (`10`, `1031`, `103121`, `103121.5`) or an extended one
    /// (`10:31:21`). Returns the time and the index after it.
    fn basic_clock_at(&self, at: usize) -> Option<(Clock, usize)> {
        let digits = self.adjacent_number(at)?;
        if let Some(found) = self.clock_at(at) {
            return Some(found);
        }
        let (hour, minute, second) = match digits.len() {
            2 => (digits, "0", "0"),
            4 => (digits.get(..2)?, digits.get(2..)?, "0"),
            6 => (digits.get(..2)?, digits.get(2..4)?, digits.get(4..)?),
            _ => return None,
        };
        let mut clock = Clock {
            hour: hour.parse().ok()?,
            minute: minute.parse().ok()?,
            second: second.parse().ok()?,
            nano: 0,
        };
        let mut next = at + 1;
        if digits.len() == 6
            && (self.adjacent_symbol(next, '.') || self.adjacent_symbol(next, ','))
            && let Some(fraction) = self.adjacent_number(next + 1)
        {
            clock.nano = fraction_to_nanos(fraction)?;
            next += 2;
        }
        if clock.hour > 23 || clock.minute > 59 || clock.second > 59 {
            return None;
        }
        Some((clock, next))
    }

    /// `am`, `pm`, `a.m.` or `p.m.` at `at`: whether it is `pm`, and the index after it.
    /// Not read when a word or a number directly follows (`1pm05/06`), as in Ruby.
    fn meridian_at(&self, at: usize) -> Option<(bool, usize)> {
        let (pm, next) = match self.word(at)? {
            "am" => (false, at + 1),
            "pm" => (true, at + 1),
            letter @ ("a" | "p")
                if self.adjacent_symbol(at + 1, '.') && self.adjacent_word(at + 2) == Some("m") =>
            {
                (letter == "p", self.skip_adjacent_symbol(at + 3, '.'))
            }
            _ => return None,
        };
        (!self.adjacent_alphanumeric(next)).then_some((pm, next))
    }

    /// A zone after a time: a known name (`UTC`, `EST`, `Z`, ...), a numeric offset (`+0300`,
    /// `-07:00`, `+03`), or `GMT`/`UTC`/`UT` directly followed by a numeric offset (`GMT+0300`).
    /// Returns the offset in seconds east of UTC and the index after the zone.
    fn zone_at(&self, at: usize) -> Option<(i32, usize)> {
        match self.lexeme(at)? {
            // A name touching a number (`GMT2026`) is not a zone to Ruby.
            Lexeme::Word(_) if self.adjacent_number(at + 1).is_some() => None,
            Lexeme::Word(word) => match word.as_str() {
                "utc" | "gmt" | "ut" => {
                    if self.adjacent_symbol(at + 1, '+') || self.adjacent_symbol(at + 1, '-') {
                        self.numeric_offset_at(at + 1)
                    } else {
                        Some((0, at + 1))
                    }
                }
                name => Some((named_zone_offset(name)?, at + 1)),
            },
            Lexeme::Symbol('+' | '-') => self.numeric_offset_at(at),
            _ => None,
        }
    }

    /// `+H`, `+HH`, `+HMM`, `+HHMM` or `+HH:MM` (or with `-`) at `at`; hours up to 23.
    fn numeric_offset_at(&self, at: usize) -> Option<(i32, usize)> {
        let negative = match self.lexeme(at)? {
            Lexeme::Symbol('+') => false,
            Lexeme::Symbol('-') => true,
            _ => return None,
        };
        let digits = self.adjacent_number(at + 1)?;
        let (hours, minutes, next): (u32, u32, usize) = match digits.len() {
            1 | 2 => match self.two_digits_after(at + 2, ':') {
                Some(minutes) => (digits.parse().ok()?, minutes, at + 4),
                None => (digits.parse().ok()?, 0, at + 2),
            },
            3 => (
                digits.get(..1)?.parse().ok()?,
                digits.get(1..)?.parse().ok()?,
                at + 2,
            ),
            4 => (
                digits.get(..2)?.parse().ok()?,
                digits.get(2..)?.parse().ok()?,
                at + 2,
            ),
            _ => return None,
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        let seconds = i32::try_from(
            hours
                .checked_mul(60)?
                .checked_add(minutes)?
                .checked_mul(60)?,
        )
        .ok()?;
        Some((if negative { -seconds } else { seconds }, next))
    }

    /// An ISO 8601 basic date, `YYYYMMDD`, or an ordinal one, `YYYYDDD` (day of the year), at
    /// `at`. Returns the date and the index after it.
    fn basic_date_at(&self, at: usize) -> Option<(CompactDate, usize)> {
        let digits = self.number(at)?;
        let (year, rest) = (digits.get(..4)?, digits.get(4..)?);
        let date = match rest.len() {
            4 => CompactDate {
                year: Some(year.parse().ok()?),
                month: rest.get(..2)?.parse().ok()?,
                day: rest.get(2..)?.parse().ok()?,
            },
            3 => ordinal_date(year, rest)?,
            _ => return None,
        };
        Some((date, at + 1))
    }

    /// A date with separators between numbers: `YYYY-MM-DD`, `DD/MM/YYYY`, `DD.MM.YYYY`,
    /// `YYYY/MM/DD`, `MM/DD` (Ruby's month/day reading of a year-less pair), `DD-Mon-YYYY`, or
    /// the ISO 8601 ordinal `YYYY-DDD`. Returns the date and the index after it.
    fn compact_date_at(&self, at: usize) -> Option<(CompactDate, usize)> {
        let first = self.number(at)?;
        let separator = match self.adjacent(at + 1)? {
            Lexeme::Symbol(c @ ('-' | '/' | '.')) => *c,
            _ => return None,
        };
        if separator == '-'
            && let Some(found) = self.month_name_date_at(at)
        {
            return Some(found);
        }
        let second = self.adjacent_number(at + 2)?;
        let third = if self.adjacent_symbol(at + 3, separator) {
            Some(self.adjacent_number(at + 4)?)
        } else {
            None
        };
        let date = match third {
            Some(third) if first.len() == 4 && is_short(second) && is_short(third) => CompactDate {
                year: Some(first.parse().ok()?),
                month: second.parse().ok()?,
                day: third.parse().ok()?,
            },
            Some(third) if is_short(first) && is_short(second) && third.len() == 4 => CompactDate {
                year: Some(third.parse().ok()?),
                month: second.parse().ok()?,
                day: first.parse().ok()?,
            },
            // Not touching a word or a number, nor directly after a comma or a period (Ruby's
            // guard against reading a fraction as an ordinal date).
            None if separator == '-'
                && first.len() == 4
                && second.len() == 3
                && !self.adjacent_alphanumeric(at + 3)
                && !(at > 0
                    && self.adjacent(at).is_some()
                    && matches!(self.lexeme(at - 1), Some(Lexeme::Symbol(',' | '.')))) =>
            {
                ordinal_date(first, second)?
            }
            None if separator == '/' && is_short(first) && is_short(second) => CompactDate {
                year: None,
                month: first.parse().ok()?,
                day: second.parse().ok()?,
            },
            _ => return None,
        };
        let next = if third.is_some() { at + 5 } else { at + 3 };
        Some((date, next))
    }

    /// `DD-Mon-YYYY` or `YYYY-Mon-DD` (Ruby's VMS form) at `at`.
    fn month_name_date_at(&self, at: usize) -> Option<(CompactDate, usize)> {
        let first = self.number(at)?;
        if !self.adjacent_symbol(at + 1, '-') || !self.adjacent_symbol(at + 3, '-') {
            return None;
        }
        let month = month_number(self.adjacent_word(at + 2)?)?;
        let last = self.adjacent_number(at + 4)?;
        let (year, day) = if first.len() == 4 && is_short(last) {
            (first, last)
        } else if is_short(first) && last.len() == 4 {
            (last, first)
        } else {
            return None;
        };
        let date = CompactDate {
            year: Some(year.parse().ok()?),
            month,
            day: day.parse().ok()?,
        };
        Some((date, at + 5))
    }
}

/// The date of day `ordinal` (three digits, from `001`) of `year` (four digits).
fn ordinal_date(year: &str, ordinal: &str) -> Option<CompactDate> {
    let date = NaiveDate::from_yo_opt(year.parse().ok()?, ordinal.parse().ok()?)?;
    Some(CompactDate {
        year: Some(date.year()),
        month: date.month(),
        day: date.day(),
    })
}

/// One or two digits: a day or a month.
fn is_short(digits: &str) -> bool {
    (1..=2).contains(&digits.len())
}

/// Nanoseconds of a decimal fraction (`5` -> 500 ms); digits beyond the ninth are dropped.
fn fraction_to_nanos(digits: &str) -> Option<u32> {
    let mut nanos: u32 = 0;
    let mut scale: u32 = 100_000_000;
    for c in digits.chars().take(9) {
        nanos = nanos.checked_add(c.to_digit(10)?.checked_mul(scale)?)?;
        scale /= 10;
    }
    Some(nanos)
}

/// Whether `word` (lower case) names a weekday, in full or abbreviated.
fn is_weekday(word: &str) -> bool {
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
fn month_number(word: &str) -> Option<u32> {
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
fn is_zone_name(word: &str) -> bool {
    named_zone_offset(word).is_some()
}

/// Words that Ruby skips but that change what a date means in English (`tomorrow 10:00`,
/// `2026-05-06 noon`, `6 May 2026 BC`); an input containing one is refused.
fn is_meaningful_word(word: &str) -> bool {
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
fn starts_with_month(word: &str) -> bool {
    word.get(..3).and_then(month_number).is_some()
}

/// Words that join a date and a time (`on 2026-05-06 at 10:31`) or mark the common era: never
/// taken for a zone.
fn is_filler_word(word: &str) -> bool {
    matches!(word, "at" | "on" | "by" | "ad" | "ce")
}

/// Offset in seconds of the zone names Ruby's `Time.zone_offset` knows (military letters aside).
fn named_zone_offset(name: &str) -> Option<i32> {
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

#[cfg(test)]
mod tests {
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
}
