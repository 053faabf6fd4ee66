//! Authentication cores: HS256 bot tokens ([`jwt`]) for the Talkdesk Voice Stream URL and the
//! conversation details API; SIP digest authentication of trunks ([`digest`]); the OAuth2
//! client-credentials grant ([`oauth`]) of the Digital Connect events API.

pub mod digest;
pub mod jwt;
pub mod oauth;
