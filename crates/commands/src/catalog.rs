//! The catalogue: every command family's declarations, assembled into the standard registry.
//! The registry's machinery imports no command module; the command modules import the
//! machinery; only this file imports them all, so the arrows point one way.

use crate::registry::Registry;

impl Registry {
    /// The full set of keyward's operator commands.
    pub fn standard() -> Self {
        let mut all = Vec::new();
        all.extend(crate::users::commands());
        all.extend(crate::user_edit::commands());
        all.extend(crate::runtime_config::commands());
        all.extend(crate::setup::commands());
        all.extend(crate::sessions::commands());
        all.extend(crate::api_keys::commands());
        all.extend(crate::audit::commands());
        all.extend(crate::audit_list::commands());
        all.extend(crate::tokens::commands());
        all.extend(crate::challenges::commands());
        all.extend(crate::quota::commands());
        all.extend(crate::backup::commands());
        all.extend(crate::paper_key::commands());
        all.extend(crate::dump::commands());
        all.extend(crate::delivery::commands());
        all.extend(crate::realms::commands());
        all.extend(crate::policies::commands());
        all.extend(crate::fileserver::commands());
        all.extend(crate::duo_check::commands());
        all.extend(crate::saml_check::commands());
        Registry::new(all)
    }
}
