//! Spec §3: bad input gets a clear error, all field errors together.

use convo_domain::validate::{MAX_BODY_BYTES, parse_update_body, validate_update};
use convo_domain::{FieldError, Rejection, UpdateChanges};
use serde_json::{Value, json};

fn invalid(body: Value) -> Vec<FieldError> {
    match validate_update(&body) {
        Err(Rejection::Invalid { errors }) => errors,
        other => panic!("expected 422 for {body}, got {other:?}"),
    }
}

#[test]
fn booleans_accept_json_strings_and_numbers() {
    for (raw, expected) in [
        (json!(true), true),
        (json!(false), false),
        (json!("true"), true),
        (json!("false"), false),
        (json!("1"), true),
        (json!("0"), false),
        (json!(1), true),
        (json!(0), false),
        (json!(1.0), true),
    ] {
        for field in [
            "follow_up",
            "complete_follow_up",
            "archived",
            "business_unread",
            "spam",
            "deleted",
            "mobile",
        ] {
            let changes = validate_update(&json!({ field: raw })).unwrap();
            let got = match field {
                "follow_up" => changes.follow_up,
                "complete_follow_up" => Some(changes.complete_follow_up),
                "archived" => changes.archived,
                "business_unread" => changes.business_unread,
                "spam" => changes.spam,
                "deleted" => changes.deleted,
                _ => changes.mobile,
            };
            assert_eq!(got, Some(expected), "{field}: {raw}");
        }
    }
}

#[test]
fn anything_else_is_not_a_boolean() {
    for raw in [
        json!(null),
        json!("yes"),
        json!("TRUE"),
        json!(""),
        json!(2),
        json!(-1),
        json!(0.5),
        json!([]),
        json!({}),
    ] {
        assert_eq!(
            invalid(json!({ "archived": raw })),
            vec![FieldError::invalid("archived", "must be a boolean")],
            "{raw}"
        );
    }
}

#[test]
fn strings_accept_string_or_null() {
    let changes = validate_update(
        &json!({"campaign": "spring", "source_type": null, "follow_up_message": null}),
    )
    .unwrap();
    assert_eq!(changes.campaign, Some(Some("spring".into())));
    assert_eq!(changes.source_type, Some(None));
    assert_eq!(changes.follow_up_message, Some(String::new()));
}

#[test]
fn strings_have_maximum_lengths_in_characters() {
    let ok = validate_update(&json!({
        "campaign": "é".repeat(255), "source_type": "x".repeat(255), "follow_up_message": "ü".repeat(5000)
    }));
    assert!(ok.is_ok());
    let errors = invalid(json!({
        "campaign": "x".repeat(256), "source_type": "x".repeat(256), "follow_up_message": "x".repeat(5001)
    }));
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["campaign", "source_type", "follow_up_message"]);
    assert_eq!(errors[0].message, "is too long (maximum is 255 characters)");
}

#[test]
fn strings_of_another_type_are_invalid() {
    assert_eq!(
        invalid(json!({"campaign": 5})),
        vec![FieldError::invalid("campaign", "must be a string")]
    );
    assert_eq!(
        invalid(json!({"follow_up_message": ["a"]}))[0].field,
        "follow_up_message"
    );
}

#[test]
fn all_field_errors_come_together() {
    let errors = invalid(json!({
        "archived": "nope", "spam": null, "campaign": {}, "mobile": 7, "business_unread": true
    }));
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["archived", "spam", "mobile", "campaign"]);
}

#[test]
fn follow_up_date_is_kept_raw_for_the_aggregate_to_judge() {
    let changes = validate_update(&json!({"follow_up_date": 12})).unwrap();
    assert_eq!(changes.follow_up_date, Some(json!(12)));
}

#[test]
fn unknown_keys_are_ignored_and_absent_keys_stay_absent() {
    let changes = validate_update(&json!({"whatever": [1, 2], "title": "x"})).unwrap();
    assert_eq!(changes, UpdateChanges::default());
}

#[test]
fn malformed_json_is_a_bad_request() {
    for body in [
        &b"{"[..],
        b"",
        b"{'a': 1}",
        b"nul",
        b"{\"a\":1}x",
        &[0xff, 0xfe],
    ] {
        assert!(
            matches!(parse_update_body(body), Err(Rejection::BadRequest { .. })),
            "{body:?}"
        );
    }
}

#[test]
fn a_body_that_is_not_an_object_is_a_bad_request() {
    for body in ["[]", "1", "\"archived\"", "null", "true"] {
        let err = parse_update_body(body.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            Rejection::BadRequest {
                message: "the body must be a JSON object".into()
            }
        );
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn a_body_over_64_kib_is_too_large() {
    let body = format!("{{\"campaign\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
    let err = parse_update_body(body.as_bytes()).unwrap_err();
    assert_eq!(err, Rejection::TooLarge);
    assert_eq!(err.http_status(), 413);
    assert_eq!(err.body()["errors"][0]["code"], "bad_request");
}

#[test]
fn error_bodies_have_vcitas_shape() {
    assert_eq!(
        Rejection::NotFound.body(),
        json!({"success": false, "errors": [{"code": "invalid", "field": "id", "message": "Invalid conversation_uid"}]})
    );
    assert_eq!(
        Rejection::invalid("follow_up_date", "Invalid date").body(),
        json!({"success": false, "errors": [{"field": "follow_up_date", "code": "invalid", "message": "Invalid date"}]})
    );
    assert_eq!(
        Rejection::conflict("x").body()["errors"][0]["code"],
        "conflict"
    );
}
