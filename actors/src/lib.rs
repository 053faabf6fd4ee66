//! voxgate-actors: the actix shells that own sockets and timers and drive the engine cores.
#![warn(unreachable_pub, missing_docs)]
