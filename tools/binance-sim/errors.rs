//! Binance's error body `{"code":-1022,"msg":"…"}` with its HTTP status.

use serde_json::json;

#[derive(Debug, Clone)]
pub(crate) struct ApiErr {
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) msg: String,
    /// cancelReplace's failures carry both halves' outcomes here.
    pub(crate) data: Option<serde_json::Value>,
}

impl ApiErr {
    pub(crate) fn new(status: u16, code: i64, msg: impl Into<String>) -> ApiErr {
        ApiErr {
            status,
            code,
            msg: msg.into(),
            data: None,
        }
    }

    /// HTTP 400: the request's fault.
    pub(crate) fn bad(code: i64, msg: impl Into<String>) -> ApiErr {
        ApiErr::new(400, code, msg)
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        match &self.data {
            None => json!({"code": self.code, "msg": self.msg}),
            Some(d) => json!({"code": self.code, "msg": self.msg, "data": d}),
        }
    }

    pub(crate) fn mandatory(name: &str) -> ApiErr {
        ApiErr::bad(
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }

    pub(crate) fn bad_param(name: &str) -> ApiErr {
        ApiErr::bad(
            -1130,
            format!("Data sent for parameter '{name}' is not valid."),
        )
    }
}
