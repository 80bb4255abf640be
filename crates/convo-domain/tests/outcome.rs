//! The typed outcome reads and writes exactly the records of `schemas/outcome.v1.json`'s examples.

use convo_domain::Outcome;

#[test]
fn every_outcome_example_round_trips_through_the_type() {
    let folder = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/examples/outcomes"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(folder).expect("the examples folder") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        let record: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let outcome: Outcome = serde_json::from_value(record.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            serde_json::to_value(&outcome).unwrap(),
            record,
            "{}",
            path.display()
        );
        assert_eq!(
            outcome.is_accepted(),
            record["status"] == "accepted",
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 2, "accepted and rejected examples");
}
