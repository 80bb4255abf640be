//! `convo demo`: a few realistic conversations, and curl lines that use them.

use convo_api::auth::sign_dev_token;
use convo_domain::wire::parse_command;
use convo_store::CommandHandler;
use convo_store::upstream::execute;
use convo_trace::TraceContext;
use serde_json::json;

pub const BUSINESS: &str = "demobusiness0001";
pub const STAFF: &str = "demostaff0000001";
const CONVERSATIONS: [(&str, &str, &str, &str); 3] = [
    ("89m2pnabgozdvd9f", "Jane", "Smith", "contact_form"),
    ("4kq7wz2m9d1xv0ab", "Bob", "Levi", "profile_page"),
    ("t0c3nq8r5ys6hj2e", "Carol", "Danvers", "email_campaign"),
];

/// Seeds the conversations (a re-run replays the same command ids, so it changes nothing) and
/// prints what to try.
pub async fn run(handler: &CommandHandler, base_url: &str, secret: &str) -> anyhow::Result<()> {
    for (i, (uid, first, last, source_type)) in CONVERSATIONS.into_iter().enumerate() {
        let client = format!("democlient{i:06}");
        let commands = [
            json!({"type": "StartConversation", "command_id": format!("demo-start-{uid}"),
                "conversation_uid": uid, "business_uid": BUSINESS,
                "title": format!("{first} {last}"),
                "client": {"uid": client, "first_name": first, "last_name": last,
                           "email": format!("{}@example.com", first.to_lowercase()),
                           "full": {"address": "1 Main St", "tags": ["demo"]}},
                "staff": {"uid": STAFF, "display_name": "Ram Almog"},
                "source": {"source_type": source_type, "source": "https://example.com/contact"}}),
            json!({"type": "RecordMessage", "command_id": format!("demo-in-{uid}"),
                "conversation_uid": uid, "business_uid": BUSINESS, "message_id": format!("m-in-{uid}"),
                "direction": "incoming", "title": "Initial consultation",
                "text": "Hi, can we meet next week?", "at": "2026-05-04T16:12:00Z"}),
            json!({"type": "RecordMessage", "command_id": format!("demo-out-{uid}"),
                "conversation_uid": uid, "business_uid": BUSINESS, "message_id": format!("m-out-{uid}"),
                "direction": "outgoing", "title": "Re: Initial consultation",
                "text": "Sure, see you then.", "at": "2026-05-05T10:30:00Z", "staff_uid": STAFF}),
        ];
        for command in commands {
            let wire = parse_command(command.to_string().as_bytes())?;
            let outcome = execute(handler, &wire, &TraceContext::root()).await?;
            anyhow::ensure!(outcome.is_accepted(), "demo seed failed: {outcome:?}");
        }
    }
    let token = sign_dev_token(
        secret,
        STAFF,
        BUSINESS,
        "all",
        chrono::Duration::hours(8),
        chrono::Utc::now(),
    );
    let uid = CONVERSATIONS[0].0;
    println!(
        "# Seeded {} conversations in business {BUSINESS}.",
        CONVERSATIONS.len()
    );
    println!("export TOKEN={token}");
    println!("curl -s {base_url}/v2/conversations/{uid} -H \"Authorization: Bearer $TOKEN\"");
    println!(
        "curl -s -X PUT {base_url}/v2/conversations/{uid} -H \"Authorization: Bearer $TOKEN\" \
         -H 'Content-Type: application/json' \
         -d '{{\"follow_up\": true, \"follow_up_date\": \"Wed May 06 2099 13:31:21 GMT+0300 (Israel Daylight Time)\", \"follow_up_message\": \"just a test\"}}'"
    );
    println!(
        "curl -s -X PUT '{base_url}/v2/conversations/{uid}?full_client=true' -H \"Authorization: Bearer $TOKEN\" \
         -H 'Content-Type: application/json' -d '{{\"archived\": true, \"follow_up\": true, \"complete_follow_up\": true}}'"
    );
    Ok(())
}
