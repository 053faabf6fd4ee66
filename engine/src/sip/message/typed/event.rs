//! Event notification (RFC 6665): Event and Subscription-State.

use std::fmt;

use super::super::header::HeaderName;
use super::header_trait::TypedHeader;
use super::session_timer::parse_delta;
use super::{
    find_param, is_token_char, malformed, value_and_params, write_params, Param, TypedError,
};

/// `Event: refer;id=93809824` (compact `o`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event package with its template suffixes (`presence.winfo`), as received.
    pub package: String,
    /// The `id` parameter.
    pub id: Option<String>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl Event {
    /// Parses the value.
    pub fn parse(raw: &str) -> Result<Event, TypedError> {
        const H: &str = "Event";
        let (package, mut params) = value_and_params(H, raw)?;
        if package.is_empty() || !package.chars().all(is_token_char) {
            return Err(malformed(H, "event type is not a token"));
        }
        let id = find_param(&params, "id").and_then(|p| p.value.clone());
        params.retain(|p| !p.name.eq_ignore_ascii_case("id"));
        Ok(Event {
            package: package.to_owned(),
            id,
            params,
        })
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.package)?;
        if let Some(id) = &self.id {
            write!(f, ";id={id}")?;
        }
        write_params(f, &self.params)
    }
}

impl TypedHeader for Event {
    fn name() -> HeaderName {
        HeaderName::Event
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        Event::parse(raw)
    }
}

/// The state of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubState {
    /// `active`
    Active,
    /// `pending`
    Pending,
    /// `terminated`
    Terminated,
    /// Any other token, as received (treated as unknown by RFC 6665 §4.1.3).
    Other(String),
}

/// `Subscription-State: terminated;reason=noresource` or `active;expires=3600`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The state.
    pub state: SubState,
    /// The `expires` parameter in seconds.
    pub expires: Option<u32>,
    /// The `reason` parameter (`deactivated`, `noresource`, `timeout`…).
    pub reason: Option<String>,
    /// The `retry-after` parameter in seconds.
    pub retry_after: Option<u32>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl SubscriptionState {
    /// Parses the value.
    pub fn parse(raw: &str) -> Result<SubscriptionState, TypedError> {
        const H: &str = "Subscription-State";
        let (state, mut params) = value_and_params(H, raw)?;
        let state = match state.to_ascii_lowercase().as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            "terminated" => SubState::Terminated,
            _ if !state.is_empty() && state.chars().all(is_token_char) => {
                SubState::Other(state.to_owned())
            }
            _ => return Err(malformed(H, "state is not a token")),
        };
        let mut number = |name: &str| -> Result<Option<u32>, TypedError> {
            let v = find_param(&params, name).map(|p| p.value.clone());
            params.retain(|p| !p.name.eq_ignore_ascii_case(name));
            match v {
                None => Ok(None),
                Some(Some(v)) => parse_delta(H, &v).map(Some),
                Some(None) => Err(malformed(H, "parameter needs a value")),
            }
        };
        let expires = number("expires")?;
        let retry_after = number("retry-after")?;
        let reason = find_param(&params, "reason").and_then(|p| p.value.clone());
        params.retain(|p| !p.name.eq_ignore_ascii_case("reason"));
        Ok(SubscriptionState {
            state,
            expires,
            reason,
            retry_after,
            params,
        })
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &self.state {
            SubState::Active => "active",
            SubState::Pending => "pending",
            SubState::Terminated => "terminated",
            SubState::Other(s) => s,
        })?;
        if let Some(reason) = &self.reason {
            write!(f, ";reason={reason}")?;
        }
        if let Some(expires) = self.expires {
            write!(f, ";expires={expires}")?;
        }
        if let Some(retry) = self.retry_after {
            write!(f, ";retry-after={retry}")?;
        }
        write_params(f, &self.params)
    }
}

impl TypedHeader for SubscriptionState {
    fn name() -> HeaderName {
        HeaderName::SubscriptionState
    }
    fn parse(raw: &str) -> Result<Self, TypedError> {
        SubscriptionState::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event() {
        let e = Event::parse("refer;id=93809824").unwrap();
        assert_eq!(
            (e.package.as_str(), e.id.as_deref()),
            ("refer", Some("93809824"))
        );
        assert_eq!(e.to_string(), "refer;id=93809824");
        assert_eq!(Event::parse("presence.winfo").unwrap().id, None);
        assert!(Event::parse("re fer").is_err());
        assert!(Event::parse("").is_err());
    }

    #[test]
    fn subscription_state() {
        let s = SubscriptionState::parse("terminated;reason=noresource").unwrap();
        assert_eq!(s.state, SubState::Terminated);
        assert_eq!(s.reason.as_deref(), Some("noresource"));
        assert_eq!(s.to_string(), "terminated;reason=noresource");
        let s = SubscriptionState::parse("Active ; expires=60").unwrap();
        assert_eq!((s.state.clone(), s.expires), (SubState::Active, Some(60)));
        assert_eq!(SubscriptionState::parse(&s.to_string()).unwrap(), s);
        assert!(SubscriptionState::parse("active;expires=soon").is_err());
        assert_eq!(
            SubscriptionState::parse("waiting").unwrap().state,
            SubState::Other("waiting".into())
        );
    }
}
