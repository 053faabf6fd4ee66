//! `voxgate credentials add NAME | revoke ID | list`: the OAuth2 client credentials that
//! Talkdesk's Digital Connect integration authenticates with (docs/digital-connect.md).
//!
//! The commands open the store the configuration names (the node may be running: SQLite and
//! Redis both take concurrent writers). A new secret is printed once and only its argon2 hash is
//! kept; revoking a credential also revokes every access token issued for it.

use std::fmt::Write as _;

use clap::Subcommand;
use voxgate_engine::session_details::iso_time::format_ms;
use voxgate_engine::store::Store;

/// The `credentials` subcommands.
#[derive(Subcommand)]
pub enum CredentialsCommand {
    /// Create a client credential; prints its id and secret (the secret only this once).
    Add {
        /// A name for the client (e.g. "talkdesk-prod").
        name: String,
    },
    /// Revoke a credential and the access tokens issued for it.
    Revoke {
        /// The client id.
        id: String,
    },
    /// List the credentials (never their secrets).
    List,
}

/// Runs `command` on `store`; `Ok` carries the text to print, `Err` the reason to fail.
pub fn run(command: &CredentialsCommand, store: &dyn Store) -> anyhow::Result<String> {
    match command {
        CredentialsCommand::Add { name } => {
            let new = store.add_credential(name)?;
            Ok(format!(
                "client_id: {}\nclient_secret: {}\n\
                 The secret is shown only now and cannot be recovered; store it safely.\n",
                new.id, new.secret
            ))
        }
        CredentialsCommand::Revoke { id } => {
            if store.revoke_credential(id)? {
                Ok(format!("revoked {id} and its access tokens\n"))
            } else {
                anyhow::bail!("no credential with id `{id}`")
            }
        }
        CredentialsCommand::List => {
            let list = store.list_credentials()?;
            let mut out = String::from("ID\tNAME\tCREATED\tREVOKED\n");
            for c in list {
                let revoked = c.revoked_ms.map(format_ms).unwrap_or_else(|| "-".into());
                // Writing to a String cannot fail.
                let _ = writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    c.id,
                    c.name,
                    format_ms(c.created_ms),
                    revoked
                );
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxgate_engine::store::SqliteStore;

    #[test]
    fn add_list_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("v.db")).unwrap();
        let out = run(&CredentialsCommand::Add { name: "td".into() }, &store).unwrap();
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("client_id: "))
            .unwrap()
            .to_owned();
        let list = run(&CredentialsCommand::List, &store).unwrap();
        assert!(list.contains(&format!("{id}\ttd\t")), "{list}");
        assert!(list.trim_end().ends_with("\t-"), "{list}");
        run(&CredentialsCommand::Revoke { id: id.clone() }, &store).unwrap();
        assert!(!run(&CredentialsCommand::List, &store)
            .unwrap()
            .trim_end()
            .ends_with("\t-"));
        assert!(run(&CredentialsCommand::Revoke { id: "nope".into() }, &store).is_err());
    }
}
