//! The token fields a dump and the store row share by name and type, listed once for both
//! directions (dumpdata: row → dump; loaddata: dump → row). A field added to both structs is
//! added here once; a field only one side has is named at the call site.

/// Builds `$target { $($field: $value,)* ..the shared fields of $src }`.
macro_rules! with_shared_token_fields {
    ($src:expr, $target:ident { $($field:ident: $value:expr),* $(,)? }) => {{
        let src = $src;
        $target {
            $($field: $value,)*
            id: src.id.clone(),
            token_type: src.token_type.clone(),
            description: src.description.clone(),
            active: src.active,
            seed_sealed: src.seed_sealed.clone(),
            pin_hash: src.pin_hash.clone(),
            userpin_sealed: src.userpin_sealed.clone(),
            sopin_sealed: src.sopin_sealed.clone(),
            otplen: src.otplen,
            hashlib: src.hashlib.clone(),
            counter: src.counter,
            time_step: src.time_step,
            time_window: src.time_window,
            time_shift: src.time_shift,
            sync_window: src.sync_window,
            count_window: src.count_window,
            fail_count: src.fail_count,
            max_fail: src.max_fail,
            count_auth: src.count_auth,
            count_auth_max: src.count_auth_max,
            count_auth_success: src.count_auth_success,
            count_auth_success_max: src.count_auth_success_max,
            validity_start: src.validity_start,
            validity_end: src.validity_end,
            last_auth: src.last_auth,
            info: src.info.clone(),
            realms: src.realms.clone(),
            created_at: src.created_at,
            updated_at: src.updated_at,
        }
    }};
}

pub(super) use with_shared_token_fields;
