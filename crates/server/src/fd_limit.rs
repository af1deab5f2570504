//! The process's open-file limit: raised at start from the soft to the hard `RLIMIT_NOFILE`
//! (distributions start services with a soft limit of 1024 while allowing far more), and used to
//! keep `max_connections` below what the process can actually open.

/// File descriptors kept back for everything that is not a client connection: the listener,
/// database connections, the SQLite WAL and journal, log and key files, epoll, eventfds.
pub const RESERVED_FDS: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in force
/// (`None` when it cannot be read, or on platforms without it).
#[cfg(unix)]
pub fn raise_to_hard_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit up to the hard limit needs
        // no privilege. On failure the old limit stays in force.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "could not raise the open-file limit"
            );
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_to_hard_limit() -> Option<u64> {
    None
}

/// `wanted` connections, lowered to fit `fd_limit` (keeping [`RESERVED_FDS`] back), at least 1.
pub fn connection_limit(wanted: u32, fd_limit: Option<u64>) -> usize {
    let wanted = usize::try_from(wanted).unwrap_or(usize::MAX).max(1);
    match fd_limit {
        Some(fds) => {
            let room = usize::try_from(fds.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
            wanted.min(room).max(1)
        }
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item7_connection_limit_fits_the_fd_limit() {
        assert_eq!(connection_limit(1024, Some(1_048_576)), 1024);
        assert_eq!(connection_limit(1024, Some(256)), 192);
        assert_eq!(connection_limit(1024, Some(10)), 1);
        assert_eq!(connection_limit(0, None), 1);
    }
}
