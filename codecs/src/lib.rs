//! voxgate-codecs: the pure audio layer of voxgate (no I/O, no actix).
#![warn(unreachable_pub, missing_docs)]
