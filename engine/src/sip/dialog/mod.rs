//! RFC 3261 §12 dialogs, sans-IO.
//!
//! - [`Dialog`]: one dialog (UAS or UAC side): route set, remote target, CSeq numbers; builds
//!   in-dialog requests ([`Dialog::request`], [`Dialog::ack`]) and checks received ones.
//! - [`DialogLayer`]: the dialogs of an endpoint by [`DialogId`], request/response matching
//!   (481 for unknown dialogs) and the UAS 2xx retransmission ([`Uas2xx`], RFC 3261
//!   §13.3.1.4) with its `AckTimeout`.

use crate::sip::message::{Request, Response, TypedError};

#[allow(clippy::module_inception)]
mod dialog;
mod id;
mod layer;
mod uas_2xx;

pub use dialog::{Dialog, DialogRole, DialogState, LocalEndpoint};
pub use id::{new_tag, DialogId};
pub use layer::{DialogEvent, DialogLayer};
pub use uas_2xx::{Uas2xx, Uas2xxAction};

/// Errors of the dialog layer: messages that cannot create or refresh a dialog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog depends on is missing or malformed.
    #[error(transparent)]
    Header(#[from] TypedError),
    /// Only 101–299 responses create dialogs.
    #[error("a {0} response does not create a dialog")]
    NotDialogCreating(u16),
    /// The response has no To tag.
    #[error("the response has no To tag")]
    NoToTag,
    /// The INVITE or 2xx has no usable Contact (RFC 3261 §12.1: required).
    #[error("no Contact to use as remote target")]
    MissingContact,
    /// No dialog with that id.
    #[error("no dialog {0}")]
    NoDialog(DialogId),
}

/// Why an in-dialog request is refused; [`Rejection::response`] builds the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No such dialog: 481 Call/Transaction Does Not Exist (RFC 3261 §12.2.2).
    DoesNotExist,
    /// CSeq lower than the last one seen: 500 Server Internal Error (§12.2.2).
    OutOfOrder {
        /// The last remote CSeq.
        last: u32,
        /// The request's CSeq.
        got: u32,
    },
    /// The request's dialog headers (To, From, Call-ID, CSeq) do not parse: 400.
    BadRequest,
}

impl Rejection {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::DoesNotExist => 481,
            Rejection::OutOfOrder { .. } => 500,
            Rejection::BadRequest => 400,
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::DoesNotExist => "Call/Transaction Does Not Exist",
            Rejection::OutOfOrder { .. } => "Server Internal Error",
            Rejection::BadRequest => "Bad Request",
        }
    }

    /// The response to `req` (its To tag is kept: it is an in-dialog request).
    pub fn response(&self, req: &Request) -> Response {
        req.response(self.status(), self.reason(), None)
    }
}
