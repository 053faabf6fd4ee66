//! Authentication cores shared by the HTTP endpoints: HS256 bot tokens ([`jwt`]) for the
//! Talkdesk Voice Stream URL and the conversation details API, and the OAuth2
//! client-credentials grant ([`oauth`]) of the Digital Connect events API.

pub mod jwt;
pub mod oauth;
