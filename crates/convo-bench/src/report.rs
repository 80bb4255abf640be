//! Figures: what each benchmark measured in one run, and the summary over runs (median and
//! spread) printed as a table and as one JSON line per figure.

use std::collections::BTreeMap;

use serde_json::json;

/// One value measured in one run.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The figure's key in the JSON lines; samples of the same key over runs are summarised.
    pub key: String,
    /// The id in `performance.md` (W1, R1, ...).
    pub id: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// The load or data the value was measured under, and for a ratio, its baseline.
    pub load: String,
    /// The goal of `performance.md` this value is compared with, if it has one.
    pub goal: Option<&'static str>,
}

impl Sample {
    pub fn new(
        id: &'static str,
        key: impl Into<String>,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        Self {
            key: key.into(),
            id,
            name: name.into(),
            value,
            unit,
            load: String::new(),
            goal: None,
        }
    }

    pub fn load(mut self, load: impl Into<String>) -> Self {
        self.load = load.into();
        self
    }

    pub fn goal(mut self, goal: &'static str) -> Self {
        self.goal = Some(goal);
        self
    }
}

/// The samples of one figure over every run, in the order figures were first measured.
#[derive(Debug, Default)]
pub struct Report {
    order: Vec<String>,
    figures: BTreeMap<String, (Sample, Vec<f64>)>,
    /// Benchmarks that could not be measured, with why.
    pub failures: Vec<String>,
}

impl Report {
    pub fn add(&mut self, samples: Vec<Sample>) {
        for sample in samples {
            match self.figures.get_mut(&sample.key) {
                Some((_, values)) => values.push(sample.value),
                None => {
                    self.order.push(sample.key.clone());
                    let value = sample.value;
                    self.figures
                        .insert(sample.key.clone(), (sample, vec![value]));
                }
            }
        }
    }

    /// The table (stdout), the load of each figure, then one JSON line per figure.
    pub fn print(&self) {
        println!(
            "{:<3} {:<72} {:>12} {:>22} {:<10} goal",
            "id", "figure", "median", "spread (min-max, runs)", "unit"
        );
        for key in &self.order {
            let (s, values) = &self.figures[key];
            let (median, min, max) = summary(values);
            println!(
                "{:<3} {:<72} {:>12} {:>22} {:<10} {}",
                s.id,
                s.name,
                number(median),
                format!("{}-{}, {}", number(min), number(max), values.len()),
                s.unit,
                s.goal.unwrap_or("")
            );
        }
        println!();
        for key in &self.order {
            let (s, _) = &self.figures[key];
            if !s.load.is_empty() {
                println!("{:<3} {}: {}", s.id, s.name, s.load);
            }
        }
        println!();
        for key in &self.order {
            let (s, values) = &self.figures[key];
            let (median, min, max) = summary(values);
            let line = json!({
                "id": s.id, "key": key, "figure": s.name, "unit": s.unit,
                "median": median, "min": min, "max": max, "runs": values,
                "load": s.load, "goal": s.goal,
            });
            println!("{line}");
        }
        for failure in &self.failures {
            println!("{}", json!({ "failed": failure }));
        }
    }
}

/// Median, min and max of a non-empty list.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    (median, sorted[0], sorted[n - 1])
}

/// A value as the table shows it: thousands separated, two decimals below 100.
fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        let digits = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 { format!("-{out}") } else { out }
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(summary(&[4.0, 1.0, 3.0, 2.0]), (2.5, 1.0, 4.0));
        assert_eq!(summary(&[5.0, 1.0, 3.0]), (3.0, 1.0, 5.0));
    }

    #[test]
    fn large_values_are_grouped_by_thousands() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(100.0), "100");
        assert_eq!(number(0.456), "0.46");
    }
}
