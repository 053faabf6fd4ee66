//! Authentication cores: HS256 bot tokens ([`jwt`]) for the Talkdesk Voice Stream URL and the
//! conversation details API; SIP digest authentication of trunks ([`digest`]).

pub mod digest;
pub mod jwt;
