//! SessionRejectReason (373): every value the FIX specification defines, with the one
//! text each goes out with in Text (58). Validation and the session both answer with
//! these, so a counterparty sees the same words whichever layer refused its message.

use std::fmt;

/// Why a message was rejected at the session level (tag 373).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionRejectReason {
    /// 0
    InvalidTagNumber,
    /// 1
    RequiredTagMissing,
    /// 2
    TagNotDefinedForMessageType,
    /// 3
    UndefinedTag,
    /// 4
    TagSpecifiedWithoutValue,
    /// 5
    ValueIsIncorrect,
    /// 6
    IncorrectDataFormat,
    /// 7
    DecryptionProblem,
    /// 8
    SignatureProblem,
    /// 9
    CompIdProblem,
    /// 10
    SendingTimeAccuracyProblem,
    /// 11
    InvalidMsgType,
    /// 12
    XmlValidationError,
    /// 13
    TagAppearsMoreThanOnce,
    /// 14
    TagSpecifiedOutOfRequiredOrder,
    /// 15
    RepeatingGroupFieldsOutOfOrder,
    /// 16
    IncorrectNumInGroupCount,
    /// 17
    NonDataValueIncludesFieldDelimiter,
    /// 18 (FIX 5.0 and later)
    InvalidApplVersion,
    /// 99
    Other,
}

use SessionRejectReason as R;

/// Every value, in code order.
pub const ALL: [SessionRejectReason; 20] = [
    R::InvalidTagNumber,
    R::RequiredTagMissing,
    R::TagNotDefinedForMessageType,
    R::UndefinedTag,
    R::TagSpecifiedWithoutValue,
    R::ValueIsIncorrect,
    R::IncorrectDataFormat,
    R::DecryptionProblem,
    R::SignatureProblem,
    R::CompIdProblem,
    R::SendingTimeAccuracyProblem,
    R::InvalidMsgType,
    R::XmlValidationError,
    R::TagAppearsMoreThanOnce,
    R::TagSpecifiedOutOfRequiredOrder,
    R::RepeatingGroupFieldsOutOfOrder,
    R::IncorrectNumInGroupCount,
    R::NonDataValueIncludesFieldDelimiter,
    R::InvalidApplVersion,
    R::Other,
];

impl SessionRejectReason {
    /// The value of tag 373.
    pub const fn code(self) -> u32 {
        match self {
            R::InvalidTagNumber => 0,
            R::RequiredTagMissing => 1,
            R::TagNotDefinedForMessageType => 2,
            R::UndefinedTag => 3,
            R::TagSpecifiedWithoutValue => 4,
            R::ValueIsIncorrect => 5,
            R::IncorrectDataFormat => 6,
            R::DecryptionProblem => 7,
            R::SignatureProblem => 8,
            R::CompIdProblem => 9,
            R::SendingTimeAccuracyProblem => 10,
            R::InvalidMsgType => 11,
            R::XmlValidationError => 12,
            R::TagAppearsMoreThanOnce => 13,
            R::TagSpecifiedOutOfRequiredOrder => 14,
            R::RepeatingGroupFieldsOutOfOrder => 15,
            R::IncorrectNumInGroupCount => 16,
            R::NonDataValueIncludesFieldDelimiter => 17,
            R::InvalidApplVersion => 18,
            R::Other => 99,
        }
    }

    /// The value for a code of tag 373, if the specification defines it.
    pub fn from_code(code: u32) -> Option<SessionRejectReason> {
        ALL.iter().copied().find(|r| r.code() == code)
    }

    /// The text of the value as the FIX specification names it (and QuickFIX sends it).
    pub const fn text(self) -> &'static str {
        match self {
            R::InvalidTagNumber => "Invalid tag number",
            R::RequiredTagMissing => "Required tag missing",
            R::TagNotDefinedForMessageType => "Tag not defined for this message type",
            R::UndefinedTag => "Undefined Tag",
            R::TagSpecifiedWithoutValue => "Tag specified without a value",
            R::ValueIsIncorrect => "Value is incorrect (out of range) for this tag",
            R::IncorrectDataFormat => "Incorrect data format for value",
            R::DecryptionProblem => "Decryption problem",
            R::SignatureProblem => "Signature problem",
            R::CompIdProblem => "CompID problem",
            R::SendingTimeAccuracyProblem => "SendingTime accuracy problem",
            R::InvalidMsgType => "Invalid MsgType",
            R::XmlValidationError => "XML Validation error",
            R::TagAppearsMoreThanOnce => "Tag appears more than once",
            R::TagSpecifiedOutOfRequiredOrder => "Tag specified out of required order",
            R::RepeatingGroupFieldsOutOfOrder => "Repeating group fields out of order",
            R::IncorrectNumInGroupCount => "Incorrect NumInGroup count for repeating group",
            R::NonDataValueIncludesFieldDelimiter => {
                "Non \"data\" value includes field delimiter (SOH character)"
            }
            R::InvalidApplVersion => "Invalid/Unsupported Application Version",
            R::Other => "Other",
        }
    }

    /// Whether a FIX 4.2 session may send this value: 4.2 defines 0–11 only, so a 4.2
    /// reject for anything else goes out without 373 (its Text still says why).
    pub const fn in_fix42(self) -> bool {
        self.code() <= 11
    }
}

/// BusinessRejectReason (380) 3, "Unsupported Message Type": the answer to an
/// application message the receiver has no use for.
pub const UNSUPPORTED_MESSAGE_TYPE: u32 = 3;

impl fmt::Display for SessionRejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for r in ALL {
            assert_eq!(SessionRejectReason::from_code(r.code()), Some(r));
            assert!(!r.text().is_empty());
        }
        assert_eq!(SessionRejectReason::from_code(19), None);
        assert_eq!(R::IncorrectNumInGroupCount.code(), 16);
        assert!(R::InvalidMsgType.in_fix42() && !R::TagAppearsMoreThanOnce.in_fix42());
    }
}
