//! Tag numbers of the FIX fields execd reads or writes, named as the FIX specification
//! names them (`MsgSeqNum` → [`MSG_SEQ_NUM`]). Only the fields the code uses; the
//! dictionaries (`super::dictionary`) know every other one.
//!
//! Each name is the field's FIX name in upper snake case, so the specification is its
//! documentation.

#![allow(missing_docs)]

// Standard header and trailer.
pub const BEGIN_STRING: u32 = 8;
pub const BODY_LENGTH: u32 = 9;
pub const MSG_TYPE: u32 = 35;
pub const MSG_SEQ_NUM: u32 = 34;
pub const POSS_DUP_FLAG: u32 = 43;
pub const SENDER_COMP_ID: u32 = 49;
pub const SENDER_SUB_ID: u32 = 50;
pub const SENDING_TIME: u32 = 52;
pub const TARGET_COMP_ID: u32 = 56;
pub const TARGET_SUB_ID: u32 = 57;
pub const SECURE_DATA_LEN: u32 = 90;
pub const SECURE_DATA: u32 = 91;
pub const POSS_RESEND: u32 = 97;
pub const ON_BEHALF_OF_COMP_ID: u32 = 115;
pub const ON_BEHALF_OF_SUB_ID: u32 = 116;
pub const ORIG_SENDING_TIME: u32 = 122;
pub const DELIVER_TO_COMP_ID: u32 = 128;
pub const DELIVER_TO_SUB_ID: u32 = 129;
pub const SENDER_LOCATION_ID: u32 = 142;
pub const TARGET_LOCATION_ID: u32 = 143;
pub const ON_BEHALF_OF_LOCATION_ID: u32 = 144;
pub const DELIVER_TO_LOCATION_ID: u32 = 145;
pub const XML_DATA_LEN: u32 = 212;
pub const XML_DATA: u32 = 213;
pub const MESSAGE_ENCODING: u32 = 347;
pub const LAST_MSG_SEQ_NUM_PROCESSED: u32 = 369;
pub const ON_BEHALF_OF_SENDING_TIME: u32 = 370;
pub const NO_HOPS: u32 = 627;
pub const HOP_COMP_ID: u32 = 628;
pub const HOP_SENDING_TIME: u32 = 629;
pub const HOP_REF_ID: u32 = 630;
pub const APPL_VER_ID: u32 = 1128;
pub const CSTM_APPL_VER_ID: u32 = 1129;
pub const APPL_EXT_ID: u32 = 1156;
pub const SIGNATURE: u32 = 89;
pub const SIGNATURE_LENGTH: u32 = 93;
pub const CHECK_SUM: u32 = 10;

// Session messages.
pub const BEGIN_SEQ_NO: u32 = 7;
pub const END_SEQ_NO: u32 = 16;
pub const NEW_SEQ_NO: u32 = 36;
pub const REF_SEQ_NUM: u32 = 45;
pub const TEXT: u32 = 58;
pub const ENCRYPT_METHOD: u32 = 98;
pub const HEART_BT_INT: u32 = 108;
pub const TEST_REQ_ID: u32 = 112;
pub const GAP_FILL_FLAG: u32 = 123;
pub const RESET_SEQ_NUM_FLAG: u32 = 141;
pub const REF_TAG_ID: u32 = 371;
pub const REF_MSG_TYPE: u32 = 372;
pub const SESSION_REJECT_REASON: u32 = 373;
pub const BUSINESS_REJECT_REASON: u32 = 380;
pub const USERNAME: u32 = 553;
pub const PASSWORD: u32 = 554;
pub const DEFAULT_APPL_VER_ID: u32 = 1137;
pub const RAW_DATA_LENGTH: u32 = 95;
pub const RAW_DATA: u32 = 96;

// Orders and executions.
pub const ACCOUNT: u32 = 1;
pub const AVG_PX: u32 = 6;
pub const CL_ORD_ID: u32 = 11;
pub const COMMISSION: u32 = 12;
pub const COMM_TYPE: u32 = 13;
pub const CUM_QTY: u32 = 14;
pub const EXEC_ID: u32 = 17;
pub const EXEC_TRANS_TYPE: u32 = 20;
pub const LAST_PX: u32 = 31;
pub const LAST_QTY: u32 = 32;
pub const ORDER_ID: u32 = 37;
pub const ORDER_QTY: u32 = 38;
pub const ORD_STATUS: u32 = 39;
pub const ORD_TYPE: u32 = 40;
pub const ORIG_CL_ORD_ID: u32 = 41;
pub const PRICE: u32 = 44;
pub const SIDE: u32 = 54;
pub const SYMBOL: u32 = 55;
pub const TRANSACT_TIME: u32 = 60;
pub const CXL_REJ_REASON: u32 = 102;
pub const ORD_REJ_REASON: u32 = 103;
pub const EXEC_TYPE: u32 = 150;
pub const LEAVES_QTY: u32 = 151;
pub const CXL_REJ_RESPONSE_TO: u32 = 434;
pub const MASS_STATUS_REQ_ID: u32 = 584;
pub const TOT_NUM_REPORTS: u32 = 911;
pub const LAST_RPT_REQUESTED: u32 = 912;

// Positions.
pub const ACCOUNT_TYPE: u32 = 581;
pub const NO_POSITIONS: u32 = 702;
pub const POS_TYPE: u32 = 703;
pub const LONG_QTY: u32 = 704;
pub const SHORT_QTY: u32 = 705;
pub const POS_REQ_ID: u32 = 710;
pub const CLEARING_BUSINESS_DATE: u32 = 715;
pub const POS_MAINT_RPT_ID: u32 = 721;
pub const TOTAL_NUM_POS_REPORTS: u32 = 727;
pub const POS_REQ_RESULT: u32 = 728;
pub const POS_REQ_STATUS: u32 = 729;
pub const SETTL_PRICE: u32 = 730;
pub const SETTL_PRICE_TYPE: u32 = 731;
pub const PRIOR_SETTL_PRICE: u32 = 734;

// Length-prefixed data fields, each with its length.
pub const ENCODED_ISSUER_LEN: u32 = 348;
pub const ENCODED_ISSUER: u32 = 349;
pub const ENCODED_SECURITY_DESC_LEN: u32 = 350;
pub const ENCODED_SECURITY_DESC: u32 = 351;
pub const ENCODED_LIST_EXEC_INST_LEN: u32 = 352;
pub const ENCODED_LIST_EXEC_INST: u32 = 353;
pub const ENCODED_TEXT_LEN: u32 = 354;
pub const ENCODED_TEXT: u32 = 355;
pub const ENCODED_SUBJECT_LEN: u32 = 356;
pub const ENCODED_SUBJECT: u32 = 357;
pub const ENCODED_HEADLINE_LEN: u32 = 358;
pub const ENCODED_HEADLINE: u32 = 359;
pub const ENCODED_ALLOC_TEXT_LEN: u32 = 360;
pub const ENCODED_ALLOC_TEXT: u32 = 361;
pub const ENCODED_UNDERLYING_ISSUER_LEN: u32 = 362;
pub const ENCODED_UNDERLYING_ISSUER: u32 = 363;
pub const ENCODED_UNDERLYING_SECURITY_DESC_LEN: u32 = 364;
pub const ENCODED_UNDERLYING_SECURITY_DESC: u32 = 365;
pub const ENCODED_LIST_STATUS_TEXT_LEN: u32 = 445;
pub const ENCODED_LIST_STATUS_TEXT: u32 = 446;
pub const ENCODED_LEG_ISSUER_LEN: u32 = 618;
pub const ENCODED_LEG_ISSUER: u32 = 619;
pub const ENCODED_LEG_SECURITY_DESC_LEN: u32 = 621;
pub const ENCODED_LEG_SECURITY_DESC: u32 = 622;
pub const SECURITY_XML_LEN: u32 = 1184;
pub const SECURITY_XML: u32 = 1185;
pub const DERIVATIVE_ENCODED_ISSUER_LEN: u32 = 1277;
pub const DERIVATIVE_ENCODED_ISSUER: u32 = 1278;
pub const DERIVATIVE_ENCODED_SECURITY_DESC_LEN: u32 = 1280;
pub const DERIVATIVE_ENCODED_SECURITY_DESC: u32 = 1281;
pub const DERIVATIVE_SECURITY_XML_LEN: u32 = 1282;
pub const DERIVATIVE_SECURITY_XML: u32 = 1283;
pub const ENCODED_MKT_SEGM_DESC_LEN: u32 = 1397;
pub const ENCODED_MKT_SEGM_DESC: u32 = 1398;
pub const ENCRYPTED_PASSWORD_LEN: u32 = 1401;
pub const ENCRYPTED_PASSWORD: u32 = 1402;
pub const ENCRYPTED_NEW_PASSWORD_LEN: u32 = 1403;
pub const ENCRYPTED_NEW_PASSWORD: u32 = 1404;
pub const ENCODED_SECURITY_LIST_DESC_LEN: u32 = 1468;
pub const ENCODED_SECURITY_LIST_DESC: u32 = 1469;

// Orders and order entry.
pub const HANDL_INST: u32 = 21;
pub const TIME_IN_FORCE: u32 = 59;
pub const STOP_PX: u32 = 99;
pub const EXPIRE_TIME: u32 = 126;
pub const BUSINESS_REJECT_REF_ID: u32 = 379;
pub const PARTY_ID_SOURCE: u32 = 447;
pub const PARTY_ID: u32 = 448;
pub const PARTY_ROLE: u32 = 452;
pub const NO_PARTY_IDS: u32 = 453;
pub const MASS_STATUS_REQ_TYPE: u32 = 585;
pub const POS_REQ_TYPE: u32 = 724;
pub const ORD_STATUS_REQ_ID: u32 = 790;

// Protective orders at the broker: reduce-only and one-cancels-other lists (R-OMS-5).
pub const EXEC_INST: u32 = 18;
pub const LIST_ID: u32 = 66;
pub const LIST_SEQ_NO: u32 = 67;
pub const TOT_NO_ORDERS: u32 = 68;
pub const NO_ORDERS: u32 = 73;
pub const NO_RPTS: u32 = 82;
pub const RPT_SEQ: u32 = 83;
pub const BID_TYPE: u32 = 394;
pub const LIST_STATUS_TYPE: u32 = 429;
pub const LIST_ORDER_STATUS: u32 = 431;
pub const CONTINGENCY_TYPE: u32 = 1385;
pub const LIST_REJECT_REASON: u32 = 1386;
pub const CXL_QTY: u32 = 84;
pub const LIST_STATUS_TEXT: u32 = 444;

// Market data (R-VEN-6): MarketDataRequest, its snapshot, incremental refresh and reject.
pub const NO_RELATED_SYM: u32 = 146;
pub const MD_REQ_ID: u32 = 262;
pub const SUBSCRIPTION_REQUEST_TYPE: u32 = 263;
pub const MARKET_DEPTH: u32 = 264;
pub const MD_UPDATE_TYPE: u32 = 265;
pub const NO_MD_ENTRY_TYPES: u32 = 267;
pub const NO_MD_ENTRIES: u32 = 268;
pub const MD_ENTRY_TYPE: u32 = 269;
pub const MD_ENTRY_PX: u32 = 270;
pub const MD_ENTRY_SIZE: u32 = 271;
pub const MD_UPDATE_ACTION: u32 = 279;
pub const MD_REQ_REJ_REASON: u32 = 281;
