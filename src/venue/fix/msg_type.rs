//! MsgType (35) values execd sends or acts on, named as the FIX specification names the
//! messages (`NewOrderSingle` → [`NEW_ORDER_SINGLE`]), and the session protocol's two
//! lists of them. Values are byte strings, as a decoded message gives its MsgType back,
//! so they compare and `match` against it directly.

#![allow(missing_docs)]

// The session protocol (administrative messages).
pub const HEARTBEAT: &[u8] = b"0";
pub const TEST_REQUEST: &[u8] = b"1";
pub const RESEND_REQUEST: &[u8] = b"2";
pub const REJECT: &[u8] = b"3";
pub const SEQUENCE_RESET: &[u8] = b"4";
pub const LOGOUT: &[u8] = b"5";
pub const LOGON: &[u8] = b"A";

// Orders, executions and positions.
pub const EXECUTION_REPORT: &[u8] = b"8";
pub const ORDER_CANCEL_REJECT: &[u8] = b"9";
pub const NEW_ORDER_SINGLE: &[u8] = b"D";
pub const ORDER_CANCEL_REQUEST: &[u8] = b"F";
pub const ORDER_CANCEL_REPLACE_REQUEST: &[u8] = b"G";
pub const ORDER_STATUS_REQUEST: &[u8] = b"H";
pub const NEW_ORDER_LIST: &[u8] = b"E";
pub const LIST_STATUS: &[u8] = b"N";
pub const ORDER_MASS_STATUS_REQUEST: &[u8] = b"AF";
pub const REQUEST_FOR_POSITIONS: &[u8] = b"AN";
pub const REQUEST_FOR_POSITIONS_ACK: &[u8] = b"AO";
pub const POSITION_REPORT: &[u8] = b"AP";
pub const BUSINESS_MESSAGE_REJECT: &[u8] = b"j";

// Market data (R-VEN-6).
pub const MARKET_DATA_REQUEST: &[u8] = b"V";
pub const MARKET_DATA_SNAPSHOT_FULL_REFRESH: &[u8] = b"W";
pub const MARKET_DATA_INCREMENTAL_REFRESH: &[u8] = b"X";
pub const MARKET_DATA_REQUEST_REJECT: &[u8] = b"Y";

// What QuickFIX's acceptance tests have an acceptor echo besides orders.
pub const EMAIL: &[u8] = b"C";
pub const SECURITY_DEFINITION: &[u8] = b"d";

/// Whether `msg_type` is a session-level (administrative) message: handled by the
/// session, never delivered to the application.
pub(crate) fn is_admin(msg_type: &[u8]) -> bool {
    matches!(
        msg_type,
        HEARTBEAT | TEST_REQUEST | RESEND_REQUEST | REJECT | SEQUENCE_RESET | LOGOUT | LOGON
    )
}

/// Whether a resend replaces `msg_type` with a SequenceReset-GapFill: the protocol's list
/// (Heartbeat, TestRequest, ResendRequest, SequenceReset, Logout, Logon). Reject is not
/// on it: it is resent like an application message.
pub(crate) fn is_gap_filled_on_resend(msg_type: &[u8]) -> bool {
    is_admin(msg_type) && msg_type != REJECT
}
