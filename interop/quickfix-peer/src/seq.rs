//! Sequence-number access that the `quickfix` crate does not expose, through
//! the small C++ shim in `cpp/seqnum_shim.cpp` (compiled by `build.rs`).

use std::ffi::{c_char, CString};

extern "C" {
    fn qfpeer_next_sender_seq(
        begin: *const c_char,
        sender: *const c_char,
        target: *const c_char,
    ) -> i64;
    fn qfpeer_next_target_seq(
        begin: *const c_char,
        sender: *const c_char,
        target: *const c_char,
    ) -> i64;
    fn qfpeer_set_next_sender_seq(
        begin: *const c_char,
        sender: *const c_char,
        target: *const c_char,
        next: u64,
    ) -> i32;
    fn qfpeer_set_next_target_seq(
        begin: *const c_char,
        sender: *const c_char,
        target: *const c_char,
        next: u64,
    ) -> i32;
}

/// Names one QuickFIX session (looked up in QuickFIX's session registry).
pub struct SessionKey {
    begin: CString,
    sender: CString,
    target: CString,
}

fn describe(code: i64) -> String {
    match code {
        -1 => "session not found".to_string(),
        -2 => "QuickFIX raised an exception (store I/O?)".to_string(),
        c => format!("error code {c}"),
    }
}

impl SessionKey {
    pub fn new(begin: &str, sender: &str, target: &str) -> SessionKey {
        SessionKey {
            begin: CString::new(begin).expect("no NUL in BeginString"),
            sender: CString::new(sender).expect("no NUL in SenderCompID"),
            target: CString::new(target).expect("no NUL in TargetCompID"),
        }
    }

    /// Session::getExpectedSenderNum: the MsgSeqNum of the next message we send.
    pub fn next_sender(&self) -> Result<u64, String> {
        // SAFETY: three valid NUL-terminated strings; the shim only reads them.
        let v = unsafe {
            qfpeer_next_sender_seq(
                self.begin.as_ptr(),
                self.sender.as_ptr(),
                self.target.as_ptr(),
            )
        };
        u64::try_from(v).map_err(|_| describe(v))
    }

    /// Session::getExpectedTargetNum: the MsgSeqNum we expect next from the peer.
    pub fn next_target(&self) -> Result<u64, String> {
        // SAFETY: as above.
        let v = unsafe {
            qfpeer_next_target_seq(
                self.begin.as_ptr(),
                self.sender.as_ptr(),
                self.target.as_ptr(),
            )
        };
        u64::try_from(v).map_err(|_| describe(v))
    }

    /// Session::setNextSenderMsgSeqNum (persisted by the store).
    pub fn set_next_sender(&self, next: u64) -> Result<(), String> {
        // SAFETY: as above.
        let rc = unsafe {
            qfpeer_set_next_sender_seq(
                self.begin.as_ptr(),
                self.sender.as_ptr(),
                self.target.as_ptr(),
                next,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(describe(rc.into()))
        }
    }

    /// Session::setNextTargetMsgSeqNum (persisted by the store).
    pub fn set_next_target(&self, next: u64) -> Result<(), String> {
        // SAFETY: as above.
        let rc = unsafe {
            qfpeer_set_next_target_seq(
                self.begin.as_ptr(),
                self.sender.as_ptr(),
                self.target.as_ptr(),
                next,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(describe(rc.into()))
        }
    }
}
