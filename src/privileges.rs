//! Dropping root once the capture is open, as `tcpdump -Z` does: opening an interface needs
//! CAP_NET_RAW, reading it afterwards does not, and a parser of hostile traffic should not
//! run as root.

use std::ffi::CString;
use std::io;

/// Why privileges could not be dropped; the capture does not start then.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// The user does not exist.
    #[error("no user named '{0}' (for -Z)")]
    NoSuchUser(String),
    /// A system call refused.
    #[error("cannot switch to user '{user}' ({step}): {source}")]
    Switch {
        /// The user.
        user: String,
        /// Which call failed.
        step: &'static str,
        /// The OS's reason.
        source: io::Error,
    },
    /// After switching, root could be regained: refuse to go on.
    #[error("switched to user '{0}' but could still regain root; refusing to continue")]
    Regained(String),
}

/// Switches the whole process (every thread) to `user`: its supplementary groups, its primary
/// group, then its uid. Returns the new uid and gid.
pub fn drop_to(user: &str) -> Result<(u32, u32), PrivilegeError> {
    let no_user = || PrivilegeError::NoSuchUser(user.to_string());
    let name = CString::new(user).map_err(|_| no_user())?;
    // SAFETY: `passwd` is plain data; all-zero is a valid value to be overwritten.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 1 << 14];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's size.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(no_user());
    }
    let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
    let check = |step: &'static str, rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(PrivilegeError::Switch {
                user: user.to_string(),
                step,
                source: io::Error::last_os_error(),
            })
        }
    };
    // SAFETY: plain system calls on valid arguments; glibc applies set*id to every thread.
    unsafe {
        check("initgroups", libc::initgroups(name.as_ptr(), gid))?;
        check("setgid", libc::setgid(gid))?;
        check("setuid", libc::setuid(uid))?;
    }
    // SAFETY: as above; succeeding here would mean the drop did not take.
    if uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(PrivilegeError::Regained(user.to_string()));
    }
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_user_is_named() {
        let err = drop_to("tlsight-no-such-user").expect_err("unknown user");
        assert!(matches!(err, PrivilegeError::NoSuchUser(_)));
        assert!(err.to_string().contains("tlsight-no-such-user"), "{err}");
        assert!(matches!(
            drop_to("bad\0name"),
            Err(PrivilegeError::NoSuchUser(_))
        ));
    }
}
