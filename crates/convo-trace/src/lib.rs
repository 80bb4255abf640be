//! W3C Trace Context (`traceparent`, <https://www.w3.org/TR/trace-context/>): one trace from an
//! HTTP request or an upstream command, through the command and its stored events, to the Kafka
//! records (events, outcomes) and the projector's span for each event (ADR 0015).
//!
//! Spans carry the context as the fields `trace_id`, `span_id` and `parent_id` (lowercase hex),
//! so every log line inside them, text or JSON, names its trace.

use std::fmt;

/// The header (HTTP and Kafka) that carries a [`TraceContext`].
pub const HEADER: &str = "traceparent";

/// One span's place in a trace: what a `traceparent` header says.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    /// The `sampled` flag (bit 0 of `trace-flags`), passed on unchanged.
    sampled: bool,
}

impl TraceContext {
    /// The first span of a new trace (sampled).
    pub fn root() -> Self {
        Self {
            trace_id: nonzero(|| uuid::Uuid::new_v4().as_u128()),
            span_id: new_span_id(),
            sampled: true,
        }
    }

    /// A new span in the same trace, whose parent is this one.
    pub fn child(&self) -> Self {
        Self {
            span_id: new_span_id(),
            ..*self
        }
    }

    /// A child of `parent` when there is one, else the first span of a new trace.
    pub fn child_of(parent: Option<&Self>) -> Self {
        parent.map_or_else(Self::root, Self::child)
    }

    /// Reads a `traceparent` value. Version `00` must have exactly four fields; a later version
    /// may append fields (the spec's forward compatibility). `None` for anything invalid,
    /// including the all-zero ids and version `ff`: the caller then starts a new trace.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let version = parts.next().filter(|v| is_hex(v, 2) && *v != "ff")?;
        let trace = parts.next().filter(|t| is_hex(t, 32))?;
        let span = parts.next().filter(|s| is_hex(s, 16))?;
        let flags = parts.next().filter(|f| is_hex(f, 2))?;
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|t| *t != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|s| *s != 0)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// This span's id: 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The `traceparent` header value naming this span as the parent.
    pub fn traceparent(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({self})")
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn new_span_id() -> u64 {
    nonzero(|| uuid::Uuid::new_v4().as_u64_pair().0)
}

/// A random id that is not zero (the spec's "invalid" value).
fn nonzero<T: PartialEq + Default>(random: impl Fn() -> T) -> T {
    loop {
        let id = random();
        if id != T::default() {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_survives_parse_and_format() {
        let ctx = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(ctx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id(), "00f067aa0ba902b7");
        assert_eq!(ctx.traceparent(), EXAMPLE);
    }

    #[test]
    fn a_child_keeps_the_trace_and_the_flags_with_a_new_span() {
        let parent = TraceContext::parse(EXAMPLE).unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        assert!(child.traceparent().ends_with("-01"));
        let unsampled = TraceContext::parse(&EXAMPLE.replace("-01", "-00")).unwrap();
        assert!(unsampled.child().traceparent().ends_with("-00"));
    }

    #[test]
    fn roots_are_new_traces_in_w3c_form() {
        let (a, b) = (TraceContext::root(), TraceContext::root());
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(TraceContext::parse(&a.traceparent()), Some(a));
        assert_eq!(TraceContext::child_of(Some(&a)).trace_id(), a.trace_id());
    }

    #[test]
    fn invalid_values_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
        assert!(TraceContext::parse(&format!("01-{}-extra", &EXAMPLE[3..])).is_some());
    }
}
