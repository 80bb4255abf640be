//! The parser: places each token into a component of the date, the way Ruby's patterns read them.

use chrono::{Datelike, NaiveDate};

use super::tokens::{Lexeme, Token};
use super::words::{
    is_filler_word, is_meaningful_word, is_weekday, is_zone_name, month_number, named_zone_offset,
    starts_with_month,
};
use super::{Clock, CompactDate, Fields, Part};

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
pub(super) struct Parser<'a> {
    tokens: &'a [Token],
    fields: Fields,
}

impl<'a> Parser<'a> {
    pub(super) fn new(tokens: &'a [Token]) -> Self {
        Self {
            tokens,
            fields: Fields::default(),
        }
    }

    /// Consumes all tokens, or returns None at the first one that cannot be placed. A comma
    /// directly after a token (`May 6, 2026`) is skipped; Ruby's patterns do not read a date across
    /// a comma after a space or a second comma. A sign after a space after a date starts its zone
    /// (`6 May 2026 +0300`).
    pub(super) fn run(mut self) -> Option<Fields> {
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

    /// The lexeme before `at` when no whitespace separates it from the token at `at`.
    fn touching_previous(&self, at: usize) -> Option<&'a Lexeme> {
        self.adjacent(at)?;
        self.lexeme(at.checked_sub(1)?)
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
        let touches_number = matches!(self.touching_previous(at), Some(Lexeme::Number(_)))
            || self.adjacent_number(at + 1).is_some();
        if is_meaningful_word(word) || starts_with_month(word) || touches_number {
            return None;
        }
        if after == After::Date && !is_filler_word(word) {
            self.fields.word_after_date = true;
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
                if let Some((fraction, after)) = self.fraction_at(next) {
                    nano = fraction;
                    next = after;
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
            && let Some((fraction, after)) = self.fraction_at(next)
        {
            clock.nano = fraction;
            next = after;
        }
        if clock.hour > 23 || clock.minute > 59 || clock.second > 59 {
            return None;
        }
        Some((clock, next))
    }

    /// A fraction of a second directly at `at`, `.fff` or `,fff`: its nanoseconds and the index
    /// after it.
    fn fraction_at(&self, at: usize) -> Option<(u32, usize)> {
        if !self.adjacent_symbol(at, '.') && !self.adjacent_symbol(at, ',') {
            return None;
        }
        let digits = self.adjacent_number(at + 1)?;
        Some((fraction_to_nanos(digits)?, at + 2))
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
                && !matches!(self.touching_previous(at), Some(Lexeme::Symbol(',' | '.'))) =>
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
