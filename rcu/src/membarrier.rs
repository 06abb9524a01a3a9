//! `membarrier(2)` with a full-fence fallback.

use std::sync::atomic::{fence, Ordering};
use std::sync::OnceLock;

const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Registers the process for private expedited membarrier once; false when the kernel lacks it.
pub(crate) fn available() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: membarrier takes integer arguments only and touches no memory of ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                0,
                0,
            )
        };
        r == 0
    })
}

/// Issues a full memory barrier on every CPU running a thread of this process.
///
/// Only called when `available()` returned true; a failure then would break the reader
/// protocol, so it is fatal rather than silently weakened.
pub(crate) fn heavy() {
    // SAFETY: as above, integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
    if r != 0 {
        panic!(
            "membarrier(PRIVATE_EXPEDITED) failed after registration: {}",
            std::io::Error::last_os_error()
        );
    }
    fence(Ordering::SeqCst);
}
