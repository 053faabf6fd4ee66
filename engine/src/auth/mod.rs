//! Authentication cores shared by the HTTP endpoints: HS256 bot tokens ([`jwt`]) for the
//! Talkdesk Voice Stream URL and the conversation details API.

pub mod jwt;
