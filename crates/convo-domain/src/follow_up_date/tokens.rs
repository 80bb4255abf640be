//! Splitting the input into words, numbers and punctuation.

use std::iter::Peekable;
use std::str::Chars;

/// One lexical unit of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lexeme {
    /// A run of ASCII letters, lower-cased.
    Word(String),
    /// A run of ASCII digits, kept as text so that its width (`06` vs `6`, `2026`) is known.
    Number(String),
    /// One of the punctuation characters in [`SYMBOLS`].
    Symbol(char),
}

/// A lexeme and whether whitespace separates it from the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) lexeme: Lexeme,
    pub(super) spaced: bool,
}

/// Punctuation that can be part of a date.
const SYMBOLS: &[char] = &[':', '-', '+', '/', '.', ','];

/// Splits `text` into words, numbers and symbols. Any other character (outside Unicode whitespace)
/// makes the input unparseable.
pub(super) fn tokenize(text: &str) -> Option<Vec<Token>> {
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
