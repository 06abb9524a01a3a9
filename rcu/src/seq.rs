//! Grace-period sequence arithmetic, as the kernel's `rcu_seq_*` with a one-bit state field.
//!
//! `gp_seq` is even while idle and odd while a grace period runs. It is 64 bits wide and only
//! grows, so comparisons never wrap.

/// The value `gp_seq` must reach before a full grace period has elapsed after `s` was read.
#[inline]
pub fn seq_snap(s: u64) -> u64 {
    // Idle (even): the next grace period ends at s + 2. In progress (odd): the running one may
    // have started before the caller's update, so wait for the one after it.
    (s + 3) & !1
}

/// Whether the grace period named by `cookie` has completed when `gp_seq` reads `cur`.
#[inline]
pub fn seq_done(cur: u64, cookie: u64) -> bool {
    cur >= cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_from_idle_waits_for_next_gp() {
        assert_eq!(seq_snap(0), 2);
        assert_eq!(seq_snap(4), 6);
        assert!(!seq_done(4, seq_snap(4)));
        assert!(!seq_done(5, seq_snap(4)));
        assert!(seq_done(6, seq_snap(4)));
    }

    #[test]
    fn snap_during_gp_skips_the_running_one() {
        // A GP is running (5): it may have scanned readers before our update.
        assert_eq!(seq_snap(5), 8);
        assert!(!seq_done(6, seq_snap(5)));
        assert!(seq_done(8, seq_snap(5)));
    }
}
