//! `[[order_entry]]`: the FIX sessions upstream systems connect to, under QuickFIX's
//! acceptor setting names, and their checking.
//!
//! The session keys an acceptor shares with the broker-facing initiator (BeginString,
//! CompIDs, HeartBtInt, the Reset* flags, the schedule, dictionaries, timeouts) are
//! checked by the initiator's own [`FixSettings::check`], so both sides of execd accept
//! and refuse the same values under the same names. Only what an acceptor has and an
//! initiator has not is checked here: where it listens, who may log on, and what an
//! order that names no account or venue trades for.
//!
//! A leaf: it imports the FIX settings and session types and the model, nothing else,
//! so `config` can check it without importing the gateway.

use crate::model::ids::Name;
pub use crate::secret::Secret;
use crate::venue::fix::session::{Role, SessionConfig};
use crate::venue::fix::settings::{DictionaryFiles, FixSettings};
use serde::{Deserialize, Serialize};

/// Longest session name: with the `:` after it, the rest of a 32-byte request id is left
/// for the client's ClOrdID.
pub const MAX_NAME: usize = 12;

/// `[[order_entry]]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderEntryConfig {
    /// Names the session in logs and request ids (`<name>:<ClOrdID>`); its store lives
    /// in `<journal>/entry/<name>/`. 1 to 12 of `A-Z a-z 0-9 _ -`.
    pub name: String,
    /// Account (1) of orders that carry none.
    pub account: String,
    /// Venue (ExDestination, 100) of orders that carry none.
    pub venue: String,
    /// FIX has no tag for the upstream risk manager's approval: `true` means this
    /// session vouches for every order it carries; `false` leaves them to the gate's
    /// RISK_NOT_APPROVED check (every order refused).
    #[serde(default)]
    pub risk_approved: bool,
    /// Orders the gateway remembers for this session (working ones and the most recent
    /// finished ones, for ClOrdID look-ups and duplicate checks).
    #[serde(default = "default_max_orders")]
    pub max_orders: usize,
    /// Reports kept for a client that is not logged on; beyond, they are dropped and at
    /// its next Logon the core is asked about every order the client has not seen
    /// finish (one aggregated report each, nothing lost).
    #[serde(default = "default_max_queued_reports")]
    pub max_queued_reports: usize,
    /// The session, under QuickFIX's names.
    pub fix: AcceptorSettings,
}

fn default_max_orders() -> usize {
    65_536
}

fn default_max_queued_reports() -> usize {
    20_000
}

/// `[order_entry.fix]`: QuickFIX's acceptor settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AcceptorSettings {
    /// Address to listen on (default 127.0.0.1; QuickFIX/J's SocketAcceptAddress).
    #[serde(default = "localhost")]
    pub socket_accept_host: String,
    /// Port to listen on. Sessions may share one: a connection is bound to its session
    /// by the CompIDs of its Logon.
    pub socket_accept_port: u16,
    /// `FIX.4.2`, `FIX.4.4` or `FIXT.1.1` (FIX 5.0SP2 application messages).
    #[serde(default = "fix44")]
    pub begin_string: String,
    /// DefaultApplVerID for FIXT.1.1 sessions (`9` = FIX 5.0SP2).
    #[serde(default, rename = "DefaultApplVerID")]
    pub default_appl_ver_id: Option<String>,
    /// Our CompID: the TargetCompID (56) the client's messages carry.
    #[serde(rename = "SenderCompID")]
    pub sender_comp_id: String,
    /// The client's CompID: its SenderCompID (49).
    #[serde(rename = "TargetCompID")]
    pub target_comp_id: String,
    /// Heartbeat interval before a Logon says otherwise (the client's HeartBtInt wins).
    #[serde(default = "thirty")]
    pub heart_bt_int: u32,
    /// Both sequence numbers start at 1 at every Logon.
    #[serde(default)]
    pub reset_on_logon: bool,
    /// Start at 1 after a clean logout.
    #[serde(default)]
    pub reset_on_logout: bool,
    /// Start at 1 after any disconnect.
    #[serde(default)]
    pub reset_on_disconnect: bool,
    /// Session window start, `HH:MM:SS` UTC: connections outside it are refused.
    #[serde(default)]
    pub start_time: Option<String>,
    /// Session window end, `HH:MM:SS` UTC.
    #[serde(default)]
    pub end_time: Option<String>,
    /// Days the window opens: `Mon,Tue,Wed,Thu,Fri` (default every day).
    #[serde(default)]
    pub weekdays: Option<String>,
    /// Seconds a connection may take to complete its Logon.
    #[serde(default = "ten")]
    pub logon_timeout: u32,
    /// Seconds to wait for the answer to our Logout.
    #[serde(default = "two")]
    pub logout_timeout: u32,
    /// Inbound messages are validated against it: `FIX.4.2` or `FIX.4.4` built in, or a
    /// QuickFIX-format XML file. A message that fails gets a 35=3 and is not acted on.
    #[serde(default)]
    pub data_dictionary: Option<String>,
    /// FIXT.1.1: the transport dictionary (`FIXT.1.1` built in, or a file).
    #[serde(default)]
    pub transport_data_dictionary: Option<String>,
    /// FIXT.1.1: the application dictionary (`FIX.5.0SP2` built in, or a file).
    #[serde(default)]
    pub app_data_dictionary: Option<String>,
    /// Overlays applied over the dictionary, in order.
    #[serde(default)]
    pub dictionary_overlays: Vec<String>,
    /// SendingTime precision: 3 (milliseconds) or 6 (microseconds).
    #[serde(default = "three")]
    pub timestamp_precision: u8,
    /// The Username (553) a Logon must carry.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the Password (554) a Logon must carry. The
    /// password itself is never in a file: it would end up in the journal's copy of
    /// the configuration.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Refused with a pointer to PasswordEnv (present so the refusal can name it).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
}

fn localhost() -> String {
    "127.0.0.1".into()
}
fn fix44() -> String {
    "FIX.4.4".into()
}
fn thirty() -> u32 {
    30
}
fn ten() -> u32 {
    10
}
fn two() -> u32 {
    2
}
fn three() -> u8 {
    3
}

/// A checked order-entry session: everything the gateway needs except the password,
/// which is read from the environment when the gateway starts
/// ([`EntrySpec::password`]).
#[derive(Debug, Clone)]
pub struct EntrySpec {
    /// The session's name.
    pub name: Name,
    /// Account of orders without Account (1).
    pub account: Name,
    /// Venue of orders without ExDestination (100).
    pub venue: Name,
    /// Whether the session vouches for the upstream risk approval of its orders.
    pub risk_approved: bool,
    /// Orders remembered.
    pub max_orders: usize,
    /// Reports kept for a client that is not logged on.
    pub max_queued_reports: usize,
    /// Listening address.
    pub host: String,
    /// Listening port.
    pub port: u16,
    /// The session in the acceptor role (dictionary not yet loaded, no credentials).
    pub session: SessionConfig,
    /// Dictionary files, if any.
    pub dictionary: Option<DictionaryFiles>,
    /// Overlay files.
    pub overlays: Vec<String>,
    /// Username a Logon must carry.
    pub username: Option<String>,
    /// Environment variable of the password a Logon must carry.
    pub password_env: Option<String>,
}

impl EntrySpec {
    /// The password from the environment, if the session names a variable; the error
    /// names the key (relative to `[order_entry.fix]`) and the variable, never a value.
    pub fn password(&self) -> Result<Option<Secret>, (&'static str, String)> {
        let Some(var) = &self.password_env else {
            return Ok(None);
        };
        Secret::from_env(var)
            .map(Some)
            .map_err(|e| ("PasswordEnv", e))
    }
}

impl OrderEntryConfig {
    /// Checks the settings; the error names the offending key relative to
    /// `[[order_entry]]` (`fix.SocketAcceptPort`, `account` …). Whether the account and
    /// venue exist is for the caller, who has the registry.
    pub fn check(&self) -> Result<EntrySpec, (String, String)> {
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if self.name.is_empty() || self.name.len() > MAX_NAME || !self.name.chars().all(valid) {
            return Err((
                "name".into(),
                format!(
                    "{:?}: must be 1 to {MAX_NAME} of A-Z a-z 0-9 _ - (it prefixes request ids)",
                    self.name
                ),
            ));
        }
        let name = Name::new(&self.name).map_err(|e| ("name".into(), e.to_string()))?;
        let short =
            |k: &str, v: &str| Name::new(v).map_err(|e| (k.to_string(), format!("{v:?} is {e}")));
        let account = short("account", &self.account)?;
        let venue = short("venue", &self.venue)?;
        if self.max_orders < 16 || self.max_orders > 16 << 20 {
            return Err((
                "max_orders".into(),
                "must be between 16 and 16777216".into(),
            ));
        }
        if self.max_queued_reports == 0 || self.max_queued_reports > 1 << 20 {
            return Err((
                "max_queued_reports".into(),
                "must be between 1 and 1048576".into(),
            ));
        }
        let f = &self.fix;
        let key = |k: &str| format!("fix.{k}");
        if f.socket_accept_port == 0 {
            return Err((key("SocketAcceptPort"), "must be a port number".into()));
        }
        if f.socket_accept_host.parse::<std::net::IpAddr>().is_err() {
            return Err((
                key("SocketAcceptHost"),
                format!("{:?} is not an IP address", f.socket_accept_host),
            ));
        }
        if f.username.as_ref().is_some_and(|u| u.is_empty()) {
            return Err((key("Username"), "must not be empty".into()));
        }
        let spec = self
            .initiator_form()
            .check()
            .map_err(|(k, msg)| (key(k), msg))?;
        let session = SessionConfig {
            role: Role::Acceptor,
            // An acceptor sends neither; the gateway checks what the client sends.
            username: None,
            password: None,
            ..spec.session
        };
        Ok(EntrySpec {
            name,
            account,
            venue,
            risk_approved: self.risk_approved,
            max_orders: self.max_orders,
            max_queued_reports: self.max_queued_reports,
            host: f.socket_accept_host.clone(),
            port: f.socket_accept_port,
            session,
            dictionary: spec.dictionary,
            overlays: spec.overlays,
            username: f.username.clone(),
            password_env: f.password_env.clone(),
        })
    }

    /// The keys both roles share, as the initiator's settings, so they are checked by
    /// the same code under the same names.
    fn initiator_form(&self) -> FixSettings {
        let f = &self.fix;
        FixSettings {
            socket_connect_host: f.socket_accept_host.clone(),
            socket_connect_port: f.socket_accept_port,
            begin_string: f.begin_string.clone(),
            default_appl_ver_id: f.default_appl_ver_id.clone(),
            sender_comp_id: f.sender_comp_id.clone(),
            target_comp_id: f.target_comp_id.clone(),
            heart_bt_int: f.heart_bt_int,
            reset_on_logon: f.reset_on_logon,
            reset_on_logout: f.reset_on_logout,
            reset_on_disconnect: f.reset_on_disconnect,
            username: None,
            password: f.password.clone(),
            password_env: f.password_env.clone(),
            start_time: f.start_time.clone(),
            end_time: f.end_time.clone(),
            weekdays: f.weekdays.clone(),
            reconnect_interval: 1,
            logon_timeout: f.logon_timeout,
            logout_timeout: f.logout_timeout,
            data_dictionary: f.data_dictionary.clone(),
            transport_data_dictionary: f.transport_data_dictionary.clone(),
            app_data_dictionary: f.app_data_dictionary.clone(),
            dictionary_overlays: f.dictionary_overlays.clone(),
            timestamp_precision: f.timestamp_precision,
            mass_status_on_logon: false,
            positions_on_logon: false,
            resend_order_max_age: 0,
            reduce_only_exec_inst: None,
            oco_order_list: false,
            market_data: false,
            socket_use_ssl: false,
            ssl_ca_certificate: None,
            ssl_server_name: None,
            ssl_certificate: None,
            ssl_private_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> OrderEntryConfig {
        toml::from_str(
            r#"
name = "desk1"
account = "alpha"
venue = "sim"
risk_approved = true
[fix]
SocketAcceptPort = 9890
SenderCompID = "EXECD"
TargetCompID = "CLIENT"
"#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_and_the_acceptor_role() {
        let s = base().check().unwrap();
        assert_eq!(s.session.role, Role::Acceptor);
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 9890));
        assert_eq!(s.session.begin_string, "FIX.4.4");
        assert_eq!(s.session.sender_comp_id, "EXECD");
        assert_eq!(s.session.target_comp_id, "CLIENT");
        assert!(s.session.password.is_none() && s.password_env.is_none());
    }

    #[test]
    fn shared_keys_are_checked_as_the_initiator_checks_them() {
        let mut c = base();
        c.fix.heart_bt_int = 0;
        assert_eq!(c.check().unwrap_err().0, "fix.HeartBtInt");
        let mut c = base();
        c.fix.start_time = Some("25:00".into());
        c.fix.end_time = Some("10:00".into());
        assert_eq!(c.check().unwrap_err().0, "fix.StartTime");
        let mut c = base();
        c.fix.data_dictionary = Some("FIX.4.2".into());
        assert_eq!(c.check().unwrap_err().0, "fix.DataDictionary");
        let mut c = base();
        c.fix.socket_accept_port = 0;
        assert_eq!(c.check().unwrap_err().0, "fix.SocketAcceptPort");
    }

    #[test]
    fn names_hosts_and_secrets() {
        let mut c = base();
        c.name = "a:b".into();
        assert_eq!(c.check().unwrap_err().0, "name");
        c.name = "thirteen-char".into();
        assert_eq!(c.check().unwrap_err().0, "name");
        let mut c = base();
        c.fix.socket_accept_host = "localhost".into();
        assert_eq!(c.check().unwrap_err().0, "fix.SocketAcceptHost");
        let with_password: Result<OrderEntryConfig, _> = toml::from_str(
            "name = \"d\"\naccount = \"a\"\nvenue = \"v\"\n[fix]\nSocketAcceptPort = 1\nSenderCompID = \"A\"\nTargetCompID = \"B\"\nPassword = \"hunter2\"\n",
        );
        let e = with_password.unwrap().check().unwrap_err();
        assert_eq!(e.0, "fix.Password");
        assert!(!e.1.contains("hunter2"), "{}", e.1);
        let mut c = base();
        c.fix.password_env = Some("NOT-A-NAME".into());
        assert_eq!(c.check().unwrap_err().0, "fix.PasswordEnv");
        c.fix.password_env = Some("EXECD_TEST_SURELY_UNSET_VAR".into());
        let s = c.check().unwrap();
        let e = s.password().unwrap_err();
        assert_eq!(e.0, "PasswordEnv");
        assert!(e.1.contains("EXECD_TEST_SURELY_UNSET_VAR"), "{}", e.1);
    }
}
