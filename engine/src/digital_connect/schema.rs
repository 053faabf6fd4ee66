//! Validation of event bodies against the Digital Connect action schemas.
//!
//! The schemas are the ones configured on the Talkdesk side for each action (shipped as
//! `config/schemas/<action>.json` and embedded here). They are draft-07 with
//! `additionalProperties: false` at every level, so a body with a field Talkdesk does not send is
//! refused as firmly as one missing a required field. Each failure is reported with the dotted
//! path of the field it concerns (`payload.author.name`), so that an operator reading the `400`
//! sees which mapping of the action is wrong.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;

use super::Action;

/// One reason a body does not match its action's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the field (`payload.contact_person.email`); empty for the body itself.
    pub field: String,
    /// The schema keyword that failed (`required`, `additionalProperties`, `type`, ...).
    pub problem: String,
    /// A sentence for humans.
    pub message: String,
}

/// The embedded JSON text of an action's schema.
pub fn schema_text(action: Action) -> &'static str {
    match action {
        Action::ConversationStarted => {
            include_str!("../../../config/schemas/conversation_started.json")
        }
        Action::ConversationAssigned => {
            include_str!("../../../config/schemas/conversation_assigned.json")
        }
        Action::ConversationEnded => {
            include_str!("../../../config/schemas/conversation_ended.json")
        }
        Action::ConversationTerminated => {
            include_str!("../../../config/schemas/conversation_terminated.json")
        }
        Action::MessageCreated => include_str!("../../../config/schemas/message_created.json"),
    }
}

/// The compiled validator of an action, built once per process.
fn validator(action: Action) -> &'static jsonschema::Validator {
    static VALIDATORS: [OnceLock<jsonschema::Validator>; Action::ALL.len()] =
        [const { OnceLock::new() }; Action::ALL.len()];
    VALIDATORS[action as usize].get_or_init(|| {
        // The schemas are files of this repository, checked by the unit tests below: one that
        // does not parse or compile is a build defect, not bad input.
        let schema: Value =
            serde_json::from_str(schema_text(action)).expect("embedded schema is JSON");
        jsonschema::draft7::new(&schema).expect("embedded schema compiles")
    })
}

/// Checks `body` against the schema of `action`; every failure is listed, sorted by field.
pub fn validate(action: Action, body: &Value) -> Result<(), Vec<FieldError>> {
    let mut errors: Vec<FieldError> = validator(action)
        .iter_errors(body)
        .flat_map(|e| field_errors(e.instance_path().as_str(), e.kind(), &e.to_string()))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field).then(a.problem.cmp(&b.problem)));
    errors.dedup();
    Err(errors)
}

/// The field errors of one schema error. `required` and `additionalProperties` are reported by
/// the validator at the parent object; the field they are about is the useful name.
fn field_errors(pointer: &str, kind: &ValidationErrorKind, message: &str) -> Vec<FieldError> {
    let parent = dotted(pointer);
    let child = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    match kind {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![FieldError {
                field: child(name),
                problem: "required".into(),
                message: format!("`{}` is required", child(name)),
            }]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| FieldError {
                field: child(name),
                problem: "additionalProperties".into(),
                message: format!("`{}` is not a property of this event", child(name)),
            })
            .collect(),
        other => vec![FieldError {
            field: parent.clone(),
            problem: other.keyword().to_owned(),
            message: if parent.is_empty() {
                message.to_owned()
            } else {
                format!("`{parent}`: {message}")
            },
        }],
    }
}

/// `/payload/author/name` → `payload.author.name` (JSON pointer escapes undone).
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_compiles_and_forbids_extra_fields() {
        for action in Action::ALL {
            let schema: Value = serde_json::from_str(schema_text(action)).unwrap();
            assert_eq!(schema["title"], action.name());
            assert_eq!(schema["additionalProperties"], false, "{action:?}");
            validator(action);
        }
    }

    #[test]
    fn missing_nested_field_is_named() {
        let body = json!({
            "event_type": "message_created", "conversation_id": "c", "timestamp": "t",
            "payload": {"id": "m", "content": "hi", "created_at": "t", "author": {"type": "agent"}}
        });
        let errors = validate(Action::MessageCreated, &body).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "payload.author.name");
        assert_eq!(errors[0].problem, "required");
    }

    #[test]
    fn extra_and_mistyped_fields_are_named() {
        let body = json!({
            "event_type": "conversation_ended", "conversation_id": 5, "timestamp": "t",
            "extra": 1
        });
        let errors = validate(Action::ConversationEnded, &body).unwrap_err();
        let fields: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.problem.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("conversation_id", "type"),
                ("extra", "additionalProperties")
            ]
        );
    }

    #[test]
    fn non_object_body_is_refused() {
        let errors = validate(Action::ConversationEnded, &json!([1])).unwrap_err();
        assert_eq!(errors[0].field, "");
        assert_eq!(errors[0].problem, "type");
    }

    #[test]
    fn pointer_to_dotted() {
        assert_eq!(dotted(""), "");
        assert_eq!(dotted("/a/b~1c/d~0e"), "a.b/c.d~e");
    }
}
