// Tiny C shim over FIX::Session for what the `quickfix` crate (0.2.2) does not
// expose: reading and forcing a session's sequence numbers.
//
// The session is looked up through QuickFIX's own static registry
// (Session::lookupSession), so the Rust side only passes the session id parts.
// Every function returns a negative value when the session is unknown or
// QuickFIX throws (e.g. an IOException from the FileStore).

#include <cstdint>
#include <exception>

#include "Session.h"
#include "SessionID.h"

namespace {
FIX::Session *find_session(const char *begin, const char *sender, const char *target) {
  if (!begin || !sender || !target) {
    return nullptr;
  }
  return FIX::Session::lookupSession(FIX::SessionID(begin, sender, target));
}
} // namespace

extern "C" {

int64_t qfpeer_next_sender_seq(const char *begin, const char *sender, const char *target) {
  try {
    FIX::Session *session = find_session(begin, sender, target);
    if (!session) {
      return -1;
    }
    return static_cast<int64_t>(session->getExpectedSenderNum());
  } catch (...) {
    return -2;
  }
}

int64_t qfpeer_next_target_seq(const char *begin, const char *sender, const char *target) {
  try {
    FIX::Session *session = find_session(begin, sender, target);
    if (!session) {
      return -1;
    }
    return static_cast<int64_t>(session->getExpectedTargetNum());
  } catch (...) {
    return -2;
  }
}

int32_t qfpeer_set_next_sender_seq(const char *begin, const char *sender, const char *target, uint64_t next) {
  try {
    FIX::Session *session = find_session(begin, sender, target);
    if (!session) {
      return -1;
    }
    session->setNextSenderMsgSeqNum(next);
    return 0;
  } catch (...) {
    return -2;
  }
}

int32_t qfpeer_set_next_target_seq(const char *begin, const char *sender, const char *target, uint64_t next) {
  try {
    FIX::Session *session = find_session(begin, sender, target);
    if (!session) {
      return -1;
    }
    session->setNextTargetMsgSeqNum(next);
    return 0;
  } catch (...) {
    return -2;
  }
}
}
