#!/usr/bin/env python3
"""Writes execd's QuickFIX-format FIX dictionaries from the tables below.

These tables were authored for execd from the FIX specifications (FIX 4.2, FIX 4.4,
FIX 5.0 SP2 and FIXT 1.1); no third-party dictionary file was copied. They cover the
session layer and the order-flow messages execd and its peers use, not the whole
protocol. Run from the repository root:

    python3 fix-dictionaries/gen/author.py

and commit the regenerated XML together with any change to this script.
"""

import os
from xml.sax.saxutils import quoteattr

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# Versions: "42", "44", "50" (FIX 5.0 SP2 application) and "T" (FIXT 1.1 transport).


def enums(*pairs):
    return list(pairs)


def yn(desc_y="YES", desc_n="NO"):
    return [("Y", desc_y), ("N", desc_n)]


def fields_for(v):
    """(number, name, type, [(enum, description)]) for version v."""
    old = v == "42"
    new = v in ("44", "50", "T")
    seq = "INT" if old else "SEQNUM"
    length = "INT" if old else "LENGTH"
    num = "INT" if old else "NUMINGROUP"
    mvs = "MULTIPLECHARVALUE" if v == "50" else "MULTIPLEVALUESTRING"
    f = []

    def add(n, name, t, e=None, only=None):
        if only is None or v in only:
            f.append((n, name, t, e or []))

    session = v in ("42", "44", "T")  # carries header, trailer and session messages
    app = v in ("42", "44", "50")

    # --- standard header and trailer
    if session:
        add(8, "BeginString", "STRING")
        add(9, "BodyLength", length)
        add(10, "CheckSum", "STRING")
        add(34, "MsgSeqNum", seq)
        add(35, "MsgType", "STRING")  # enums filled in from the messages
        add(43, "PossDupFlag", "BOOLEAN", yn("POSSIBLE_DUPLICATE", "ORIGINAL_TRANSMISSION"))
        add(49, "SenderCompID", "STRING")
        add(50, "SenderSubID", "STRING")
        add(52, "SendingTime", "UTCTIMESTAMP")
        add(56, "TargetCompID", "STRING")
        add(57, "TargetSubID", "STRING")
        add(89, "Signature", "DATA")
        add(90, "SecureDataLen", length)
        add(91, "SecureData", "DATA")
        add(93, "SignatureLength", length)
        add(97, "PossResend", "BOOLEAN", yn("POSSIBLE_RESEND", "ORIGINAL_TRANSMISSION"))
        add(115, "OnBehalfOfCompID", "STRING")
        add(116, "OnBehalfOfSubID", "STRING")
        add(122, "OrigSendingTime", "UTCTIMESTAMP")
        add(128, "DeliverToCompID", "STRING")
        add(129, "DeliverToSubID", "STRING")
        add(142, "SenderLocationID", "STRING")
        add(143, "TargetLocationID", "STRING")
        add(144, "OnBehalfOfLocationID", "STRING")
        add(145, "DeliverToLocationID", "STRING")
        add(212, "XmlDataLen", length)
        add(213, "XmlData", "XMLDATA" if v == "T" else "DATA")
        add(347, "MessageEncoding", "STRING")
        add(369, "LastMsgSeqNumProcessed", seq)
        add(370, "OnBehalfOfSendingTime", "UTCTIMESTAMP", only=("42", "44"))
        add(627, "NoHops", num, only=("44", "T"))
        add(628, "HopCompID", "STRING", only=("44", "T"))
        add(629, "HopSendingTime", "UTCTIMESTAMP", only=("44", "T"))
        add(630, "HopRefID", seq, only=("44", "T"))
        add(1128, "ApplVerID", "STRING", enums(
            ("0", "FIX27"), ("1", "FIX30"), ("2", "FIX40"), ("3", "FIX41"), ("4", "FIX42"),
            ("5", "FIX43"), ("6", "FIX44"), ("7", "FIX50"), ("8", "FIX50SP1"), ("9", "FIX50SP2")),
            only=("T",))
        add(1129, "CstmApplVerID", "STRING", only=("T",))
        add(1156, "ApplExtID", "INT", only=("T",))

        # --- session messages
        add(7, "BeginSeqNo", seq)
        add(16, "EndSeqNo", seq)
        add(36, "NewSeqNo", seq)
        add(95, "RawDataLength", length)
        add(96, "RawData", "DATA")
        add(98, "EncryptMethod", "INT", enums(
            ("0", "NONE_OTHER"), ("1", "PKCS"), ("2", "DES"), ("3", "PKCS_DES"),
            ("4", "PGP_DES"), ("5", "PGP_DES_MD5"), ("6", "PEM_DES_MD5")))
        add(108, "HeartBtInt", "INT")
        add(112, "TestReqID", "STRING")
        add(123, "GapFillFlag", "BOOLEAN", yn("GAP_FILL_MESSAGE", "SEQUENCE_RESET_IGNORE_MSG_SEQ_NUM"))
        add(141, "ResetSeqNumFlag", "BOOLEAN", yn("YES_RESET_SEQUENCE_NUMBERS", "NO"))
        add(371, "RefTagID", "INT")
        reasons = [
            ("0", "INVALID_TAG_NUMBER"), ("1", "REQUIRED_TAG_MISSING"),
            ("2", "TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE"), ("3", "UNDEFINED_TAG"),
            ("4", "TAG_SPECIFIED_WITHOUT_A_VALUE"), ("5", "VALUE_IS_INCORRECT"),
            ("6", "INCORRECT_DATA_FORMAT_FOR_VALUE"), ("7", "DECRYPTION_PROBLEM"),
            ("8", "SIGNATURE_PROBLEM"), ("9", "COMPID_PROBLEM"),
            ("10", "SENDINGTIME_ACCURACY_PROBLEM"), ("11", "INVALID_MSGTYPE")]
        if new:
            reasons += [
                ("12", "XML_VALIDATION_ERROR"), ("13", "TAG_APPEARS_MORE_THAN_ONCE"),
                ("14", "TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER"),
                ("15", "REPEATING_GROUP_FIELDS_OUT_OF_ORDER"),
                ("16", "INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP"),
                ("17", "NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER")]
        if v == "T":
            reasons += [("18", "INVALID_UNSUPPORTED_APPLICATION_VERSION")]
        if new:
            reasons += [("99", "OTHER")]
        add(373, "SessionRejectReason", "INT", reasons)
        add(383, "MaxMessageSize", length)
        add(384, "NoMsgTypes", num)
        add(385, "MsgDirection", "CHAR", enums(("S", "SEND"), ("R", "RECEIVE")))
        add(464, "TestMessageIndicator", "BOOLEAN", yn(), only=("44", "T"))
        add(553, "Username", "STRING", only=("44", "T"))
        add(554, "Password", "STRING", only=("44", "T"))
        add(789, "NextExpectedMsgSeqNum", seq, only=("44", "T"))
        add(925, "NewPassword", "STRING", only=("44", "T"))
        add(1130, "RefApplVerID", "STRING", only=("T",))
        add(1131, "RefCstmApplVerID", "STRING", only=("T",))
        add(1137, "DefaultApplVerID", "STRING", only=("T",))
        add(1409, "SessionStatus", "INT", enums(
            ("0", "SESSION_ACTIVE"), ("1", "SESSION_PASSWORD_CHANGED"),
            ("2", "SESSION_PASSWORD_DUE_TO_EXPIRE"), ("3", "NEW_SESSION_PASSWORD_DOES_NOT_COMPLY_WITH_POLICY"),
            ("4", "SESSION_LOGOUT_COMPLETE"), ("5", "INVALID_USERNAME_OR_PASSWORD"),
            ("6", "ACCOUNT_LOCKED"), ("7", "LOGONS_ARE_NOT_ALLOWED_AT_THIS_TIME"),
            ("8", "PASSWORD_EXPIRED")), only=("T",))

    # fields shared by session (Reject, Logout) and application messages
    add(45, "RefSeqNum", seq)
    add(58, "Text", "STRING")
    add(354, "EncodedTextLen", length)
    add(355, "EncodedText", "DATA")
    add(372, "RefMsgType", "STRING")

    if not app:
        return f

    # --- application: orders and executions
    add(1, "Account", "STRING")
    add(6, "AvgPx", "PRICE")
    add(11, "ClOrdID", "STRING")
    add(12, "Commission", "AMT")
    comm = [("1", "PER_UNIT"), ("2", "PERCENT"), ("3", "ABSOLUTE")]
    if new:
        comm += [("4", "PERCENTAGE_WAIVED_CASH_DISCOUNT"), ("5", "PERCENTAGE_WAIVED_ENHANCED_UNITS"),
                 ("6", "POINTS_PER_BOND_OR_CONTRACT")]
    add(13, "CommType", "CHAR", comm)
    add(14, "CumQty", "QTY")
    add(15, "Currency", "CURRENCY")
    add(17, "ExecID", "STRING")
    add(18, "ExecInst", mvs)
    add(19, "ExecRefID", "STRING")
    add(20, "ExecTransType", "CHAR", enums(
        ("0", "NEW"), ("1", "CANCEL"), ("2", "CORRECT"), ("3", "STATUS")), only=("42",))
    add(21, "HandlInst", "CHAR", enums(
        ("1", "AUTOMATED_EXECUTION_ORDER_PRIVATE_NO_BROKER_INTERVENTION"),
        ("2", "AUTOMATED_EXECUTION_ORDER_PUBLIC_BROKER_INTERVENTION_OK"),
        ("3", "MANUAL_ORDER_BEST_EXECUTION")))
    add(22, "IDSource" if old else "SecurityIDSource", "STRING")
    add(30, "LastMkt", "EXCHANGE")
    add(31, "LastPx", "PRICE")
    add(32, "LastShares" if old else "LastQty", "QTY")
    add(37, "OrderID", "STRING")
    add(38, "OrderQty", "QTY")
    ordstatus = [
        ("0", "NEW"), ("1", "PARTIALLY_FILLED"), ("2", "FILLED"), ("3", "DONE_FOR_DAY"),
        ("4", "CANCELED"), ("5", "REPLACED"), ("6", "PENDING_CANCEL"), ("7", "STOPPED"),
        ("8", "REJECTED"), ("9", "SUSPENDED"), ("A", "PENDING_NEW"), ("B", "CALCULATED"),
        ("C", "EXPIRED"), ("D", "ACCEPTED_FOR_BIDDING"), ("E", "PENDING_REPLACE")]
    add(39, "OrdStatus", "CHAR", ordstatus)
    ordtype = [
        ("1", "MARKET"), ("2", "LIMIT"), ("3", "STOP"), ("4", "STOP_LIMIT"),
        ("5", "MARKET_ON_CLOSE"), ("6", "WITH_OR_WITHOUT"), ("7", "LIMIT_OR_BETTER"),
        ("8", "LIMIT_WITH_OR_WITHOUT"), ("9", "ON_BASIS"), ("A", "ON_CLOSE"),
        ("B", "LIMIT_ON_CLOSE"), ("C", "FOREX_MARKET"), ("D", "PREVIOUSLY_QUOTED"),
        ("E", "PREVIOUSLY_INDICATED"), ("F", "FOREX_LIMIT"), ("G", "FOREX_SWAP"),
        ("H", "FOREX_PREVIOUSLY_QUOTED"), ("I", "FUNARI")]
    if new:
        ordtype += [("J", "MARKET_IF_TOUCHED"), ("K", "MARKET_WITH_LEFTOVER_AS_LIMIT"),
                    ("L", "PREVIOUS_FUND_VALUATION_POINT"), ("M", "NEXT_FUND_VALUATION_POINT")]
    ordtype += [("P", "PEGGED")]
    if v == "50":
        ordtype += [("Q", "COUNTER_ORDER_SELECTION"), ("R", "STOP_ON_BID_OR_OFFER"),
                    ("S", "STOP_LIMIT_ON_BID_OR_OFFER")]
    add(40, "OrdType", "CHAR", ordtype)
    add(41, "OrigClOrdID", "STRING")
    add(44, "Price", "PRICE")
    add(47, "Rule80A", "CHAR", only=("42",))
    add(48, "SecurityID", "STRING")
    side = [("1", "BUY"), ("2", "SELL"), ("3", "BUY_MINUS"), ("4", "SELL_PLUS"),
            ("5", "SELL_SHORT"), ("6", "SELL_SHORT_EXEMPT"), ("7", "UNDISCLOSED"),
            ("8", "CROSS"), ("9", "CROSS_SHORT")]
    if new:
        side += [("A", "CROSS_SHORT_EXEMPT"), ("B", "AS_DEFINED"), ("C", "OPPOSITE"),
                 ("D", "SUBSCRIBE"), ("E", "REDEEM"), ("F", "LEND"), ("G", "BORROW")]
    if v == "50":
        side += [("H", "SELL_UNDISCLOSED")]
    add(54, "Side", "CHAR", side)
    add(55, "Symbol", "STRING")
    tif = [("0", "DAY"), ("1", "GOOD_TILL_CANCEL"), ("2", "AT_THE_OPENING"),
           ("3", "IMMEDIATE_OR_CANCEL"), ("4", "FILL_OR_KILL"), ("5", "GOOD_TILL_CROSSING"),
           ("6", "GOOD_TILL_DATE")]
    if new:
        tif += [("7", "AT_THE_CLOSE")]
    if v == "50":
        tif += [("8", "GOOD_THROUGH_CROSSING"), ("9", "AT_CROSSING")]
    add(59, "TimeInForce", "CHAR", tif)
    add(60, "TransactTime", "UTCTIMESTAMP")
    add(65, "SymbolSfx", "STRING")
    add(66, "ListID", "STRING")
    add(75, "TradeDate", "LOCALMKTDATE")
    add(76, "ExecBroker", "STRING", only=("42",))
    add(77, "OpenClose" if old else "PositionEffect", "CHAR",
        enums(("O", "OPEN"), ("C", "CLOSE")) if old else
        enums(("O", "OPEN"), ("C", "CLOSE"), ("R", "ROLLED"), ("F", "FIFO")))
    add(99, "StopPx", "PRICE")
    add(100, "ExDestination", "EXCHANGE")
    cxlrej = [("0", "TOO_LATE_TO_CANCEL"), ("1", "UNKNOWN_ORDER"), ("2", "BROKER_OPTION"),
              ("3", "ORDER_ALREADY_IN_PENDING_CANCEL_OR_PENDING_REPLACE_STATUS")]
    if new:
        cxlrej += [("4", "UNABLE_TO_PROCESS_ORDER_MASS_CANCEL_REQUEST"),
                   ("5", "ORIGORDMODTIME_DID_NOT_MATCH_LAST_TRANSACTTIME_OF_ORDER"),
                   ("6", "DUPLICATE_CLORDID_RECEIVED")]
    if v == "50":
        cxlrej += [("7", "PRICE_EXCEEDS_CURRENT_PRICE"), ("8", "PRICE_EXCEEDS_CURRENT_PRICE_BAND"),
                   ("18", "INVALID_PRICE_INCREMENT")]
    if new:
        cxlrej += [("99", "OTHER")]
    add(102, "CxlRejReason", "INT", cxlrej)
    ordrej = [("0", "BROKER_OPTION"), ("1", "UNKNOWN_SYMBOL"), ("2", "EXCHANGE_CLOSED"),
              ("3", "ORDER_EXCEEDS_LIMIT"), ("4", "TOO_LATE_TO_ENTER"), ("5", "UNKNOWN_ORDER"),
              ("6", "DUPLICATE_ORDER"), ("7", "DUPLICATE_OF_A_VERBALLY_COMMUNICATED_ORDER"),
              ("8", "STALE_ORDER")]
    if new:
        ordrej += [("9", "TRADE_ALONG_REQUIRED"), ("10", "INVALID_INVESTOR_ID"),
                   ("11", "UNSUPPORTED_ORDER_CHARACTERISTIC"), ("12", "SURVEILLENCE_OPTION"),
                   ("13", "INCORRECT_QUANTITY"), ("14", "INCORRECT_ALLOCATED_QUANTITY"),
                   ("15", "UNKNOWN_ACCOUNT")]
    if v == "50":
        ordrej += [("16", "PRICE_EXCEEDS_CURRENT_PRICE_BAND"), ("18", "INVALID_PRICE_INCREMENT")]
    if new:
        ordrej += [("99", "OTHER")]
    add(103, "OrdRejReason", "INT", ordrej)
    add(106, "Issuer", "STRING")
    add(107, "SecurityDesc", "STRING")
    add(109, "ClientID", "STRING", only=("42",))
    add(110, "MinQty", "QTY")
    add(111, "MaxFloor", "QTY")
    add(114, "LocateReqd", "BOOLEAN", yn())
    add(126, "ExpireTime", "UTCTIMESTAMP")
    add(136, "NoMiscFees", num)
    add(137, "MiscFeeAmt", "AMT")
    add(138, "MiscFeeCurr", "CURRENCY")
    fee = [("1", "REGULATORY"), ("2", "TAX"), ("3", "LOCAL_COMMISSION"), ("4", "EXCHANGE_FEES"),
           ("5", "STAMP"), ("6", "LEVY"), ("7", "OTHER"), ("8", "MARKUP"), ("9", "CONSUMPTION_TAX")]
    if v == "50":
        fee += [("10", "PER_TRANSACTION"), ("11", "CONVERSION"), ("12", "AGENT")]
    add(139, "MiscFeeType", "STRING" if v == "50" else "CHAR", fee)
    exectype = [("0", "NEW")]
    if old:
        exectype += [("1", "PARTIAL_FILL"), ("2", "FILL")]
    exectype += [("3", "DONE_FOR_DAY"), ("4", "CANCELED"), ("5", "REPLACED" if new else "REPLACE"),
                 ("6", "PENDING_CANCEL"), ("7", "STOPPED"), ("8", "REJECTED"), ("9", "SUSPENDED"),
                 ("A", "PENDING_NEW"), ("B", "CALCULATED"), ("C", "EXPIRED"), ("D", "RESTATED"),
                 ("E", "PENDING_REPLACE")]
    if new:
        exectype += [("F", "TRADE"), ("G", "TRADE_CORRECT"), ("H", "TRADE_CANCEL"),
                     ("I", "ORDER_STATUS")]
    if v == "50":
        exectype += [("J", "TRADE_IN_A_CLEARING_HOLD"), ("K", "TRADE_HAS_BEEN_RELEASED_TO_CLEARING"),
                     ("L", "TRIGGERED_OR_ACTIVATED_BY_SYSTEM")]
    add(150, "ExecType", "CHAR", exectype)
    add(151, "LeavesQty", "QTY")
    add(152, "CashOrderQty", "QTY")
    add(167, "SecurityType", "STRING")
    add(198, "SecondaryOrderID", "STRING")
    add(200, "MaturityMonthYear", "MONTHYEAR")
    add(201, "PutOrCall", "INT", enums(("0", "PUT"), ("1", "CALL")), only=("42", "50"))
    add(202, "StrikePrice", "PRICE")
    add(205, "MaturityDay", "DAYOFMONTH", only=("42",))
    add(207, "SecurityExchange", "EXCHANGE")
    add(231, "ContractMultiplier", "FLOAT")
    add(263, "SubscriptionRequestType", "CHAR", enums(
        ("0", "SNAPSHOT"), ("1", "SNAPSHOT_PLUS_UPDATES"),
        ("2", "DISABLE_PREVIOUS_SNAPSHOT_PLUS_UPDATE_REQUEST")), only=("44", "50"))
    add(378, "ExecRestatementReason", "INT",
        [("0", "GT_CORPORATE_ACTION"), ("1", "GT_RENEWAL_RESTATEMENT"), ("2", "VERBAL_CHANGE"),
         ("3", "REPRICING_OF_ORDER"), ("4", "BROKER_OPTION"), ("5", "PARTIAL_DECLINE_OF_ORDERQTY")]
        + ([("6", "CANCEL_ON_TRADING_HALT"), ("7", "CANCEL_ON_SYSTEM_FAILURE"),
            ("8", "MARKET_OPTION")] if new else [])
        + ([("9", "CANCELED_NOT_BEST"), ("10", "WAREHOUSE_RECAP")] if v == "50" else [])
        + ([("99", "OTHER")] if new else []))
    add(379, "BusinessRejectRefID", "STRING")
    bizrej = [("0", "OTHER"), ("1", "UNKNOWN_ID"), ("2", "UNKNOWN_SECURITY"),
              ("3", "UNSUPPORTED_MESSAGE_TYPE"), ("4", "APPLICATION_NOT_AVAILABLE"),
              ("5", "CONDITIONALLY_REQUIRED_FIELD_MISSING")]
    if new:
        bizrej += [("6", "NOT_AUTHORIZED"), ("7", "DELIVERTO_FIRM_NOT_AVAILABLE_AT_THIS_TIME")]
    if v == "50":
        bizrej += [("18", "INVALID_PRICE_INCREMENT")]
    add(380, "BusinessRejectReason", "INT", bizrej)
    add(434, "CxlRejResponseTo", "CHAR", enums(
        ("1", "ORDER_CANCEL_REQUEST"), ("2", "ORDER_CANCEL_REPLACE_REQUEST")))
    add(432, "ExpireDate", "LOCALMKTDATE")

    if new:
        add(447, "PartyIDSource", "CHAR")
        add(448, "PartyID", "STRING")
        add(452, "PartyRole", "INT")
        add(453, "NoPartyIDs", num)
        add(454, "NoSecurityAltID", num)
        add(455, "SecurityAltID", "STRING")
        add(456, "SecurityAltIDSource", "STRING")
        add(460, "Product", "INT")
        add(461, "CFICode", "STRING")
        add(523, "PartySubID", "STRING")
        add(524, "NestedPartyID", "STRING")
        add(525, "NestedPartyIDSource", "CHAR")
        add(526, "SecondaryClOrdID", "STRING")
        add(528, "OrderCapacity", "CHAR", enums(
            ("A", "AGENCY"), ("G", "PROPRIETARY"), ("I", "INDIVIDUAL"), ("P", "PRINCIPAL"),
            ("R", "RISKLESS_PRINCIPAL"), ("W", "AGENT_FOR_OTHER_MEMBER")))
        add(538, "NestedPartyRole", "INT")
        add(539, "NoNestedPartyIDs", num)
        add(541, "MaturityDate", "LOCALMKTDATE")
        add(573, "MatchStatus", "CHAR", enums(
            ("0", "COMPARED_MATCHED_OR_AFFIRMED"), ("1", "UNCOMPARED_UNMATCHED_OR_UNAFFIRMED"),
            ("2", "ADVISORY_OR_ALERT")))
        add(581, "AccountType", "INT", enums(
            ("1", "ACCOUNT_IS_CARRIED_ON_CUSTOMER_SIDE_OF_BOOKS"),
            ("2", "ACCOUNT_IS_CARRIED_ON_NON_CUSTOMER_SIDE_OF_BOOKS"),
            ("3", "HOUSE_TRADER"), ("4", "FLOOR_TRADER"),
            ("6", "ACCOUNT_IS_CARRIED_ON_NON_CUSTOMER_SIDE_OF_BOOKS_AND_IS_CROSS_MARGINED"),
            ("7", "ACCOUNT_IS_HOUSE_TRADER_AND_IS_CROSS_MARGINED"), ("8", "JOINT_BACK_OFFICE_ACCOUNT")))
        add(584, "MassStatusReqID", "STRING")
        msrt = [("1", "STATUS_FOR_ORDERS_FOR_A_SECURITY"),
                ("2", "STATUS_FOR_ORDERS_FOR_AN_UNDERLYING_SECURITY"),
                ("3", "STATUS_FOR_ORDERS_FOR_A_PRODUCT"), ("4", "STATUS_FOR_ORDERS_FOR_A_CFICODE"),
                ("5", "STATUS_FOR_ORDERS_FOR_A_SECURITYTYPE"),
                ("6", "STATUS_FOR_ORDERS_FOR_A_TRADING_SESSION"), ("7", "STATUS_FOR_ALL_ORDERS"),
                ("8", "STATUS_FOR_ORDERS_FOR_A_PARTYID")]
        if v == "50":
            msrt += [("9", "STATUS_FOR_SECURITY_ISSUER"),
                     ("10", "STATUS_FOR_ISSUER_OF_UNDERLYING_SECURITY")]
        add(585, "MassStatusReqType", "INT", msrt)
        add(660, "AcctIDSource", "INT")
        add(702, "NoPositions", num)
        add(703, "PosType", "STRING")
        add(704, "LongQty", "QTY")
        add(705, "ShortQty", "QTY")
        add(706, "PosQtyStatus", "INT", enums(("0", "SUBMITTED"), ("1", "ACCEPTED"), ("2", "REJECTED")))
        add(707, "PosAmtType", "STRING")
        add(708, "PosAmt", "AMT")
        add(710, "PosReqID", "STRING")
        add(715, "ClearingBusinessDate", "LOCALMKTDATE")
        add(716, "SettlSessID", "STRING")
        add(717, "SettlSessSubID", "STRING")
        add(721, "PosMaintRptID", "STRING")
        add(724, "PosReqType", "INT", enums(
            ("0", "POSITIONS"), ("1", "TRADES"), ("2", "EXERCISES"), ("3", "ASSIGNMENTS")))
        add(727, "TotalNumPosReports", "INT")
        add(728, "PosReqResult", "INT", enums(
            ("0", "VALID_REQUEST"), ("1", "INVALID_OR_UNSUPPORTED_REQUEST"),
            ("2", "NO_POSITIONS_FOUND_THAT_MATCH_CRITERIA"),
            ("3", "NOT_AUTHORIZED_TO_REQUEST_POSITIONS"),
            ("4", "REQUEST_FOR_POSITION_NOT_SUPPORTED"), ("99", "OTHER")))
        add(729, "PosReqStatus", "INT", enums(
            ("0", "COMPLETED"), ("1", "COMPLETED_WITH_WARNINGS"), ("2", "REJECTED")))
        add(730, "SettlPrice", "PRICE")
        add(731, "SettlPriceType", "INT", enums(("1", "FINAL"), ("2", "THEORETICAL")))
        add(734, "PriorSettlPrice", "PRICE")
        add(753, "NoPosAmt", num)
        add(762, "SecuritySubType", "STRING")
        add(790, "OrdStatusReqID", "STRING")
        add(802, "NoPartySubIDs", num)
        add(803, "PartySubIDType", "INT")
        add(325, "UnsolicitedIndicator", "BOOLEAN", yn())
        add(891, "MiscFeeBasis", "INT", enums(("0", "ABSOLUTE"), ("1", "PER_UNIT"), ("2", "PERCENTAGE")))
        add(911, "TotNumReports", "INT")
        add(912, "LastRptRequested", "BOOLEAN", yn())
        add(947, "StrikeCurrency", "CURRENCY")
    if v == "50":
        add(969, "MinPriceIncrement", "FLOAT")
    return sorted(f)


# Layout items: ("f", name, required) | ("g", name, required, [items]) | ("c", name, required)
def F(name, req="N"):
    return ("f", name, req)


def G(name, req, items):
    return ("g", name, req, items)


def C(name, req="N"):
    return ("c", name, req)


def header(v):
    h = [F("BeginString", "Y"), F("BodyLength", "Y"), F("MsgType", "Y"), F("SenderCompID", "Y"),
         F("TargetCompID", "Y")]
    if v == "T":
        h += [F("ApplVerID"), F("ApplExtID"), F("CstmApplVerID")]
    h += [F("OnBehalfOfCompID"), F("DeliverToCompID"), F("SecureDataLen"), F("SecureData"),
          F("MsgSeqNum", "Y"), F("SenderSubID"), F("SenderLocationID"), F("TargetSubID"),
          F("TargetLocationID"), F("OnBehalfOfSubID"), F("OnBehalfOfLocationID"),
          F("DeliverToSubID"), F("DeliverToLocationID"), F("PossDupFlag"), F("PossResend"),
          F("SendingTime", "Y"), F("OrigSendingTime"), F("XmlDataLen"), F("XmlData"),
          F("MessageEncoding"), F("LastMsgSeqNumProcessed")]
    if v in ("42", "44"):
        h += [F("OnBehalfOfSendingTime")]
    if v in ("44", "T"):
        h += [G("NoHops", "N", [F("HopCompID"), F("HopSendingTime"), F("HopRefID")])]
    return h


def trailer(v):
    return [F("SignatureLength"), F("Signature"), F("CheckSum", "Y")]


def session_messages(v):
    logon = [F("EncryptMethod", "Y"), F("HeartBtInt", "Y"), F("RawDataLength"), F("RawData"),
             F("ResetSeqNumFlag")]
    if v != "42":
        logon += [F("NextExpectedMsgSeqNum")]
    logon += [F("MaxMessageSize")]
    msgtypes = [F("RefMsgType"), F("MsgDirection")]
    if v == "T":
        msgtypes += [F("RefApplVerID"), F("RefCstmApplVerID")]
    logon += [G("NoMsgTypes", "N", msgtypes)]
    if v != "42":
        logon += [F("TestMessageIndicator"), F("Username"), F("Password"), F("NewPassword")]
    if v == "T":
        logon += [F("SessionStatus"), F("DefaultApplVerID", "Y")]
    logout = ([F("SessionStatus")] if v == "T" else []) + [F("Text"), F("EncodedTextLen"),
                                                            F("EncodedText")]
    return [
        ("Heartbeat", "0", [F("TestReqID")]),
        ("TestRequest", "1", [F("TestReqID", "Y")]),
        ("ResendRequest", "2", [F("BeginSeqNo", "Y"), F("EndSeqNo", "Y")]),
        ("Reject", "3", [F("RefSeqNum", "Y"), F("RefTagID"), F("RefMsgType"),
                         F("SessionRejectReason"), F("Text"), F("EncodedTextLen"),
                         F("EncodedText")]),
        ("SequenceReset", "4", [F("GapFillFlag"), F("NewSeqNo", "Y")]),
        ("Logout", "5", logout),
        ("Logon", "A", logon),
    ]


def components(v):
    if v in ("42", "T"):
        return []
    instr = [F("Symbol", "Y" if v == "44" else "N"), F("SymbolSfx"), F("SecurityID"),
             F("SecurityIDSource"),
             G("NoSecurityAltID", "N", [F("SecurityAltID"), F("SecurityAltIDSource")]),
             F("Product"), F("CFICode"), F("SecurityType"), F("SecuritySubType"),
             F("MaturityMonthYear"), F("MaturityDate")]
    if v == "50":
        instr += [F("PutOrCall")]
    instr += [F("StrikePrice"), F("StrikeCurrency"), F("ContractMultiplier")]
    if v == "50":
        instr += [F("MinPriceIncrement")]
    instr += [F("SecurityExchange"), F("Issuer"), F("SecurityDesc")]
    return [
        ("Instrument", instr),
        ("Parties", [G("NoPartyIDs", "N", [
            F("PartyID"), F("PartyIDSource"), F("PartyRole"),
            C("PtysSubGrp", "N")])]),
        ("PtysSubGrp", [G("NoPartySubIDs", "N", [F("PartySubID"), F("PartySubIDType")])]),
        ("NestedParties", [G("NoNestedPartyIDs", "N", [
            F("NestedPartyID"), F("NestedPartyIDSource"), F("NestedPartyRole")])]),
        ("OrderQtyData", [F("OrderQty"), F("CashOrderQty")]),
        ("CommissionData", [F("Commission"), F("CommType")]),
        ("MiscFeesGrp", [G("NoMiscFees", "N", [
            F("MiscFeeAmt"), F("MiscFeeCurr"), F("MiscFeeType"), F("MiscFeeBasis")])]),
        ("PositionQty", [G("NoPositions", "N", [
            F("PosType"), F("LongQty"), F("ShortQty"), F("PosQtyStatus"),
            C("NestedParties", "N")])]),
        ("PositionAmountData", [G("NoPosAmt", "N", [F("PosAmtType"), F("PosAmt")])]),
    ]


def app_messages(v):
    old = v == "42"
    sp2 = v == "50"
    text = [F("Text"), F("EncodedTextLen"), F("EncodedText")]
    if old:
        instr = [F("Symbol", "Y"), F("SymbolSfx"), F("SecurityID"), F("IDSource"),
                 F("SecurityType"), F("MaturityMonthYear"), F("MaturityDay"), F("PutOrCall"),
                 F("StrikePrice"), F("ContractMultiplier"), F("SecurityExchange"), F("Issuer"),
                 F("SecurityDesc")]
        qty = [F("OrderQty"), F("CashOrderQty")]
        parties = []
        fees = [G("NoMiscFees", "N", [F("MiscFeeAmt"), F("MiscFeeCurr"), F("MiscFeeType")])]
        comm = [F("Commission"), F("CommType")]
    else:
        instr = [C("Instrument", "Y")]
        qty = [C("OrderQtyData", "Y")]
        parties = [C("Parties")]
        fees = [C("MiscFeesGrp")]
        comm = [C("CommissionData")]
    instr_opt = [C("Instrument", "N")] if not old else instr

    nos = [F("ClOrdID", "Y")]
    nos += [F("SecondaryClOrdID")] if not old else [F("ClientID"), F("ExecBroker")]
    nos += parties + [F("Account"), F("HandlInst", "Y" if old else "N"), F("ExecInst"),
                      F("MinQty"), F("MaxFloor"), F("ExDestination")]
    nos += instr + [F("Side", "Y"), F("LocateReqd"), F("TransactTime", "Y")] + qty
    nos += [F("OrdType", "Y"), F("Price"), F("StopPx"), F("Currency"), F("TimeInForce"),
            F("ExpireDate"), F("ExpireTime")] + comm
    nos += [F("Rule80A"), F("OpenClose")] if old else [F("OrderCapacity"), F("PositionEffect")]
    nos += text

    cancel = [F("OrigClOrdID", "Y"), F("OrderID"), F("ClOrdID", "Y")]
    cancel += [F("SecondaryClOrdID")] if not old else [F("ClientID"), F("ExecBroker")]
    cancel += [F("ListID"), F("Account")] + parties + instr + [F("Side", "Y"),
                                                               F("TransactTime", "Y")]
    cancel += [F("OrderQty"), F("CashOrderQty")] if old else [C("OrderQtyData", "N")]
    cancel += text

    replace = [F("OrderID"), F("OrigClOrdID", "Y"), F("ClOrdID", "Y")]
    replace += [F("SecondaryClOrdID")] if not old else [F("ClientID"), F("ExecBroker")]
    replace += [F("ListID"), F("Account")] + parties
    replace += [F("HandlInst", "Y" if old else "N"), F("ExecInst"), F("MinQty"), F("MaxFloor"),
                F("ExDestination")]
    replace += instr + [F("Side", "Y"), F("TransactTime", "Y")] + qty
    replace += [F("OrdType", "Y"), F("Price"), F("StopPx"), F("Currency"), F("TimeInForce"),
                F("ExpireDate"), F("ExpireTime"), F("LocateReqd")] + comm
    replace += [F("Rule80A"), F("OpenClose")] if old else [F("OrderCapacity"), F("PositionEffect")]
    replace += text

    status = [F("OrderID"), F("ClOrdID", "Y")]
    status += [F("ClientID"), F("ExecBroker")] if old else [F("SecondaryClOrdID"),
                                                           F("OrdStatusReqID")]
    status += parties + [F("Account")] + instr + [F("Side", "Y")]

    er = [F("OrderID", "Y"), F("SecondaryOrderID"), F("ClOrdID"), F("OrigClOrdID")]
    er += [F("ClientID"), F("ExecBroker")] if old else [F("SecondaryClOrdID")] + parties
    er += [F("ListID")]
    if not old:
        er += [F("OrdStatusReqID"), F("MassStatusReqID"), F("TotNumReports"),
               F("LastRptRequested")]
    er += [F("ExecID", "Y")]
    if old:
        er += [F("ExecTransType", "Y")]
    er += [F("ExecRefID"), F("ExecType", "Y"), F("OrdStatus", "Y"), F("OrdRejReason"),
           F("ExecRestatementReason"), F("Account")]
    er += instr + [F("Side", "Y")]
    er += [F("OrderQty"), F("CashOrderQty")] if old else [C("OrderQtyData", "N")]
    er += [F("OrdType"), F("Price"), F("StopPx"), F("Currency"), F("TimeInForce"),
           F("ExpireDate"), F("ExpireTime"), F("ExecInst")]
    er += [F("Rule80A")] if old else [F("OrderCapacity")]
    er += [F("LastShares" if old else "LastQty"), F("LastPx"), F("LastMkt"),
           F("LeavesQty", "Y"), F("CumQty", "Y"), F("AvgPx", "Y"), F("TradeDate"),
           F("TransactTime")] + comm + fees + text

    ocr = [F("OrderID", "Y"), F("SecondaryOrderID"), F("ClOrdID", "Y"),
           F("OrigClOrdID", "N" if sp2 else "Y"), F("OrdStatus", "Y")]
    ocr += [F("ClientID"), F("ExecBroker")] if old else [F("SecondaryClOrdID")]
    ocr += [F("ListID"), F("Account"), F("TransactTime"), F("CxlRejResponseTo", "Y"),
            F("CxlRejReason")] + text

    bmr = [F("RefSeqNum"), F("RefMsgType", "Y"), F("BusinessRejectRefID"),
           F("BusinessRejectReason", "Y")] + text

    msgs = [
        ("ExecutionReport", "8", er),
        ("OrderCancelReject", "9", ocr),
        ("NewOrderSingle", "D", nos),
        ("OrderCancelRequest", "F", cancel),
        ("OrderCancelReplaceRequest", "G", replace),
        ("OrderStatusRequest", "H", status),
        ("BusinessMessageReject", "j", bmr),
    ]
    if not old:
        mass = [F("MassStatusReqID", "Y"), F("MassStatusReqType", "Y")] + parties
        mass += [F("Account")] + instr_opt + [F("Side")]
        rfp = [F("PosReqID", "Y"), F("PosReqType", "Y"), F("MatchStatus"),
               F("SubscriptionRequestType"), C("Parties", "N" if sp2 else "Y"),
               F("Account", "N" if sp2 else "Y"), F("AcctIDSource"),
               F("AccountType", "N" if sp2 else "Y")] + instr_opt
        rfp += [F("Currency"), F("ClearingBusinessDate", "Y"), F("SettlSessID"),
                F("SettlSessSubID"), F("TransactTime", "Y")] + text
        req44 = "N" if sp2 else "Y"
        pr = [F("PosMaintRptID", "Y"), F("PosReqID"), F("PosReqType"),
              F("SubscriptionRequestType"), F("TotalNumPosReports"), F("UnsolicitedIndicator"),
              F("PosReqResult", req44), F("ClearingBusinessDate", "Y"), F("SettlSessID"),
              F("SettlSessSubID"), C("Parties", req44), F("Account", req44), F("AcctIDSource"),
              F("AccountType", req44)] + instr_opt
        pr += [F("Currency"), F("SettlPrice", req44), F("SettlPriceType", req44),
               F("PriorSettlPrice", req44), C("PositionQty", "Y"),
               C("PositionAmountData", "N")] + text
        ack = [F("PosMaintRptID", "Y"), F("PosReqID"), F("TotalNumPosReports"),
               F("UnsolicitedIndicator"), F("PosReqResult", "Y"), F("PosReqStatus", "Y"),
               C("Parties", req44), F("Account", req44), F("AcctIDSource"),
               F("AccountType", req44)] + instr_opt + [F("Currency")] + text
        msgs += [
            ("OrderMassStatusRequest", "AF", mass),
            ("RequestForPositions", "AN", rfp),
            ("RequestForPositionsAck", "AO", ack),
            ("PositionReport", "AP", pr),
        ]
    return msgs


def item_xml(it, ind):
    pad = "  " * ind
    kind = it[0]
    if kind == "f":
        return f'{pad}<field name="{it[1]}" required="{it[2]}"/>\n'
    if kind == "c":
        return f'{pad}<component name="{it[1]}" required="{it[2]}"/>\n'
    s = f'{pad}<group name="{it[1]}" required="{it[2]}">\n'
    for sub in it[3]:
        s += item_xml(sub, ind + 1)
    return s + f"{pad}</group>\n"


def write(fname, ftype, major, minor, sp, v):
    session = v in ("42", "44", "T")
    app = v in ("42", "44", "50")
    msgs = []
    if session:
        msgs += [(n, t, "admin", items) for n, t, items in session_messages(v)]
    if app:
        msgs += [(n, t, "app", items) for n, t, items in app_messages(v)]
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           f"<!-- {os.path.basename(fname)}: written by fix-dictionaries/gen/author.py, authored for "
           "execd from the FIX specification; covers the session layer and order flow. -->\n",
           f'<fix type="{ftype}" major="{major}" minor="{minor}" servicepack="{sp}">\n']
    if session:
        out.append("  <header>\n")
        out += [item_xml(i, 2) for i in header(v)]
        out.append("  </header>\n  <trailer>\n")
        out += [item_xml(i, 2) for i in trailer(v)]
        out.append("  </trailer>\n")
    else:
        out.append("  <header/>\n  <trailer/>\n")
    out.append("  <messages>\n")
    for name, t, cat, items in msgs:
        out.append(f'    <message name="{name}" msgtype="{t}" msgcat="{cat}">\n')
        out += [item_xml(i, 3) for i in items]
        out.append("    </message>\n")
    out.append("  </messages>\n  <components>\n")
    for name, items in components(v):
        out.append(f'    <component name="{name}">\n')
        out += [item_xml(i, 3) for i in items]
        out.append("    </component>\n")
    out.append("  </components>\n  <fields>\n")
    msgtype_enums = [(t, snake(n)) for n, t, _, _ in msgs]
    for n, name, t, e in fields_for(v):
        if n == 35:
            e = msgtype_enums
        if e:
            out.append(f'    <field number="{n}" name="{name}" type="{t}">\n')
            for val, desc in e:
                out.append(f"      <value enum={quoteattr(val)} description={quoteattr(desc)}/>\n")
            out.append("    </field>\n")
        else:
            out.append(f'    <field number="{n}" name="{name}" type="{t}"/>\n')
    out.append("  </fields>\n</fix>\n")
    with open(os.path.join(OUT, fname), "w") as fh:
        fh.write("".join(out))


def snake(name):
    s = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and not name[i - 1].isupper():
            s += "_"
        s += ch.upper()
    return s


def check_refs(v):
    names = {name for _, name, _, _ in fields_for(v)}
    comps = {n for n, _ in components(v)}
    items = []
    if v in ("42", "44", "T"):
        items += header(v) + trailer(v)
        for _, _, its in session_messages(v):
            items += its
    if v in ("42", "44", "50"):
        for _, _, its in app_messages(v):
            items += its
    for _, its in components(v):
        items += its
    used = set()
    stack = list(items)
    while stack:
        it = stack.pop()
        if it[0] == "c":
            assert it[1] in comps, (v, it)
        else:
            assert it[1] in names, (v, it)
            used.add(it[1])
        if it[0] == "g":
            stack += it[3]
    unused = names - used
    if unused:
        print(f"note: {v}: fields defined but not used: {sorted(unused)}")


if __name__ == "__main__":
    for v in ("42", "44", "50", "T"):
        check_refs(v)
    write("FIX42.xml", "FIX", 4, 2, 0, "42")
    write("FIX44.xml", "FIX", 4, 4, 0, "44")
    write("FIX50SP2.xml", "FIX", 5, 0, 2, "50")
    write("FIXT11.xml", "FIXT", 1, 1, 0, "T")
