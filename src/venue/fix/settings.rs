//! `[venues.fix]`: a FIX session's settings under the names FIX people know from
//! QuickFIX (SenderCompID, TargetCompID, HeartBtInt, StartTime …), and their checking.

use super::session::{Role, Schedule, SessionConfig};
use crate::secret;
use serde::{Deserialize, Serialize};

/// `[venues.fix]` as written in the configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct FixSettings {
    /// Broker host (QuickFIX SocketConnectHost).
    #[serde(default = "localhost")]
    pub socket_connect_host: String,
    /// Broker port (QuickFIX SocketConnectPort).
    pub socket_connect_port: u16,
    /// `FIX.4.2`, `FIX.4.4` or `FIXT.1.1`.
    #[serde(default = "fix44")]
    pub begin_string: String,
    /// DefaultApplVerID for FIXT.1.1 sessions (`9` = FIX 5.0SP2).
    #[serde(default, rename = "DefaultApplVerID")]
    pub default_appl_ver_id: Option<String>,
    /// Our CompID.
    #[serde(rename = "SenderCompID")]
    pub sender_comp_id: String,
    /// The broker's CompID.
    #[serde(rename = "TargetCompID")]
    pub target_comp_id: String,
    /// Heartbeat interval, seconds.
    #[serde(default = "thirty")]
    pub heart_bt_int: u32,
    /// Reset both sequence numbers to 1 at every logon (throws the store away: off by
    /// default, sequence numbers are persisted in the journal instead).
    #[serde(default)]
    pub reset_on_logon: bool,
    /// Reset after a clean logout.
    #[serde(default)]
    pub reset_on_logout: bool,
    /// Reset after any disconnect.
    #[serde(default)]
    pub reset_on_disconnect: bool,
    /// Username (553) on Logon.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the Password (554) sent on Logon, read when the
    /// venue starts. The password itself is never in a file: it would end up in the
    /// journal's copy of the configuration.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Refused with a pointer to PasswordEnv (present so the refusal can name it).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Session window start, `HH:MM:SS` UTC.
    #[serde(default)]
    pub start_time: Option<String>,
    /// Session window end, `HH:MM:SS` UTC.
    #[serde(default)]
    pub end_time: Option<String>,
    /// Days the window opens: `Mon,Tue,Wed,Thu,Fri` (default every day).
    #[serde(default)]
    pub weekdays: Option<String>,
    /// Longest wait between reconnection attempts, seconds (attempts back off from 1 s).
    #[serde(default = "thirty")]
    pub reconnect_interval: u32,
    /// Seconds to wait for the Logon answer.
    #[serde(default = "ten")]
    pub logon_timeout: u32,
    /// Seconds to wait for the Logout answer.
    #[serde(default = "two")]
    pub logout_timeout: u32,
    /// The dictionary inbound messages are validated against: `FIX.4.2` or `FIX.4.4`
    /// for the complete built-in one, else the path of a QuickFIX-format XML file.
    #[serde(default)]
    pub data_dictionary: Option<String>,
    /// FIXT.1.1 sessions: the transport dictionary (session messages, header, trailer):
    /// `FIXT.1.1` built in, or a file.
    #[serde(default)]
    pub transport_data_dictionary: Option<String>,
    /// FIXT.1.1 sessions: the application dictionary: `FIX.5.0SP2` built in, or a file.
    #[serde(default)]
    pub app_data_dictionary: Option<String>,
    /// Venue overlays applied over the dictionary, in order.
    #[serde(default)]
    pub dictionary_overlays: Vec<String>,
    /// SendingTime precision: 3 (milliseconds) or 6 (microseconds).
    #[serde(default = "three")]
    pub timestamp_precision: u8,
    /// Reconciliations (after each logon, at start, after hard timeouts, on a schedule
    /// and on demand) ask for the state of every open order (OrderMassStatusRequest,
    /// FIX 4.4 and later), so what changed while disconnected is learned at once and open
    /// orders are compared. Off by default: not every broker offers it; without it a
    /// reconciliation cannot compare orders and says so.
    #[serde(default)]
    pub mass_status_on_logon: bool,
    /// Reconciliations ask for positions too (RequestForPositions per account, FIX 4.4
    /// and later); without it they cannot compare positions and say so.
    #[serde(default)]
    pub positions_on_logon: bool,
    /// Seconds within which an order, cancel or replace the broker asks for again (a
    /// ResendRequest) may be sent again with PossDup. 0, the default: never — it is
    /// gap-filled and the order's outcome asked for with a status request, because a
    /// broker that does not check PossDup would execute it twice (R-RES-1).
    #[serde(default)]
    pub resend_order_max_age: u32,
    /// The ExecInst (18) value this broker reads as "reduce-only" (R-OMS-5): sent on
    /// protective orders so the broker itself never lets them open or flip a position.
    /// FIX's own values near it, `E` (do not increase) and `F` (do not reduce), are about
    /// adjusting a resting order for corporate actions; brokers that offer reduce-only
    /// over FIX give it one of them or their own value (add it to the dictionary with an
    /// overlay). Not sent unless set; the value must be one the session's dictionary
    /// allows for ExecInst.
    #[serde(default, rename = "ReduceOnlyExecInst")]
    pub reduce_only_exec_inst: Option<String>,
    /// Send a position's stop-loss and take-profit as one NewOrderList (35=E) with
    /// ContingencyType (1385) = 1, one-cancels-other, so the broker cancels the other
    /// leg when one fills (FIX 4.4 and later: FIX 4.2 has no ContingencyType). Off: the
    /// core emulates it, a filled leg cancelling its sibling.
    #[serde(default, rename = "OcoOrderList")]
    pub oco_order_list: bool,
    /// Subscribe to top of book (MarketDataRequest 35=V, snapshot plus incremental
    /// updates, depth 1) for every instrument configured on this venue after each logon
    /// (R-VEN-6): the gate then sees the broker's quotes. Off by default: not every
    /// broker sells market data over the order session; without it quotes come from
    /// upstream (`POST /v1/quotes`).
    #[serde(default)]
    pub market_data: bool,
    /// TLS to the broker (QuickFIX/J's SocketUseSSL; the SSL* keys below follow
    /// QuickFIX/n). Off by default.
    #[serde(default, rename = "SocketUseSSL")]
    pub socket_use_ssl: bool,
    /// PEM file of the CA certificate(s) the broker's certificate must chain to.
    /// Required with SocketUseSSL: there are no built-in roots.
    #[serde(default, rename = "SSLCACertificate")]
    pub ssl_ca_certificate: Option<String>,
    /// Name the broker's certificate must carry, also sent as SNI (default:
    /// SocketConnectHost; a DNS name or an IP address).
    #[serde(default, rename = "SSLServerName")]
    pub ssl_server_name: Option<String>,
    /// PEM file of our client certificate chain, for brokers that require mutual TLS
    /// (with SSLPrivateKey).
    #[serde(default, rename = "SSLCertificate")]
    pub ssl_certificate: Option<String>,
    /// PEM file of the private key of SSLCertificate (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, rename = "SSLPrivateKey")]
    pub ssl_private_key: Option<String>,
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

/// Checked settings: everything the FIX venue needs besides the dictionary, which is
/// loaded when the venue starts.
#[derive(Debug, Clone)]
pub struct FixSpec {
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Longest reconnect backoff, ns.
    pub reconnect_max_ns: u64,
    /// The session settings (dictionary not yet loaded).
    pub session: SessionConfig,
    /// Dictionary files, if any.
    pub dictionary: Option<DictionaryFiles>,
    /// Overlay files.
    pub overlays: Vec<String>,
    /// Reconciliations send an OrderMassStatusRequest.
    pub mass_status_on_logon: bool,
    /// Reconciliations send a RequestForPositions per account.
    pub positions_on_logon: bool,
    /// Orders, cancels and replaces younger than this (ns) are re-sent on a
    /// ResendRequest; older ones, and all when 0, are gap-filled and queried.
    pub resend_order_max_age_ns: u64,
    /// TLS, if the session asks for it (files loaded when the venue starts).
    pub tls: Option<TlsSpec>,
    /// Environment variable of the Password (554) to send, read when the venue starts.
    pub password_env: Option<String>,
    /// ExecInst (18) value sent on reduce-only orders, if the broker offers one.
    pub reduce_only_exec_inst: Option<u8>,
    /// Protective pairs go out as one OCO NewOrderList.
    pub oco_order_list: bool,
    /// Subscribe to top of book after each logon.
    pub market_data: bool,
}

/// Which dictionary files a session validates against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DictionaryFiles {
    /// FIX 4.x: one file.
    Single(String),
    /// FIXT.1.1: transport and application files.
    Fixt {
        /// Session level.
        transport: String,
        /// Application level.
        app: String,
    },
}

/// Checked TLS settings of an initiator: which files to load, which name to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// SSLCACertificate.
    pub ca: String,
    /// SSLServerName, or the host.
    pub server_name: String,
    /// SSLCertificate.
    pub cert: Option<String>,
    /// SSLPrivateKey.
    pub key: Option<String>,
}

/// Parses `HH:MM:SS` (or `HH:MM`) into seconds after midnight.
fn time_of_day(s: &str) -> Option<u32> {
    let mut parts = s.split(':');
    let h: u32 = parts.next()?.trim().parse().ok()?;
    let m: u32 = parts.next()?.trim().parse().ok()?;
    let sec: u32 = match parts.next() {
        Some(p) => p.trim().parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// Parses `Mon,Tue,…` into a bit set (bit 0 = Sunday).
fn weekdays(s: &str) -> Option<u8> {
    let mut bits = 0u8;
    for d in s.split(',') {
        let i = match d.trim().to_ascii_lowercase().get(..3)? {
            "sun" => 0,
            "mon" => 1,
            "tue" => 2,
            "wed" => 3,
            "thu" => 4,
            "fri" => 5,
            "sat" => 6,
            _ => return None,
        };
        bits |= 1 << i;
    }
    (bits != 0).then_some(bits)
}

impl FixSettings {
    /// Checks the settings; the error names the offending key (relative to `[venues.fix]`)
    /// and says what is wrong.
    pub fn check(&self) -> Result<FixSpec, (&'static str, String)> {
        if !matches!(
            self.begin_string.as_str(),
            "FIX.4.2" | "FIX.4.4" | "FIXT.1.1"
        ) {
            return Err((
                "BeginString",
                format!(
                    "{:?} is not supported (FIX.4.2, FIX.4.4, FIXT.1.1)",
                    self.begin_string
                ),
            ));
        }
        let appl = match (&self.default_appl_ver_id, self.begin_string.as_str()) {
            (None, "FIXT.1.1") => Some("9".to_string()),
            (Some(_), b) if b != "FIXT.1.1" => {
                return Err((
                    "DefaultApplVerID",
                    "only FIXT.1.1 sessions carry one".into(),
                ))
            }
            (v, _) => v.clone(),
        };
        let compid = |k: &'static str, v: &str| -> Result<(), (&'static str, String)> {
            if v.is_empty() || v.len() > 64 || v.bytes().any(|c| !(0x21..0x7f).contains(&c)) {
                return Err((k, "must be 1 to 64 printable characters".into()));
            }
            Ok(())
        };
        compid("SenderCompID", &self.sender_comp_id)?;
        compid("TargetCompID", &self.target_comp_id)?;
        if self.socket_connect_port == 0 {
            return Err(("SocketConnectPort", "must be a port number".into()));
        }
        if self.heart_bt_int == 0 || self.heart_bt_int > 3600 {
            return Err(("HeartBtInt", "must be between 1 and 3600 seconds".into()));
        }
        if self.reconnect_interval == 0 {
            return Err(("ReconnectInterval", "must be at least 1 second".into()));
        }
        if self.logon_timeout == 0 || self.logout_timeout == 0 {
            return Err((
                "LogonTimeout",
                "LogonTimeout and LogoutTimeout must be at least 1 second".into(),
            ));
        }
        if !matches!(self.timestamp_precision, 3 | 6) {
            return Err(("TimestampPrecision", "must be 3 or 6".into()));
        }
        let schedule = match (&self.start_time, &self.end_time) {
            (None, None) => {
                if self.weekdays.is_some() {
                    return Err(("Weekdays", "needs StartTime and EndTime".into()));
                }
                None
            }
            (Some(s), Some(e)) => Some(Schedule {
                start_secs: time_of_day(s)
                    .ok_or(("StartTime", format!("{s:?} is not HH:MM:SS")))?,
                end_secs: time_of_day(e).ok_or(("EndTime", format!("{e:?} is not HH:MM:SS")))?,
                days: match &self.weekdays {
                    None => 0x7f,
                    Some(w) => weekdays(w).ok_or((
                        "Weekdays",
                        format!("{w:?} is not a list like Mon,Tue,Wed,Thu,Fri"),
                    ))?,
                },
            }),
            _ => return Err(("StartTime", "StartTime and EndTime go together".into())),
        };
        let fixt = self.begin_string == "FIXT.1.1";
        let dictionary = match (
            &self.data_dictionary,
            &self.transport_data_dictionary,
            &self.app_data_dictionary,
        ) {
            (None, None, None) => None,
            (Some(d), None, None) if !fixt => Some(DictionaryFiles::Single(d.clone())),
            (None, Some(t), Some(a)) if fixt => Some(DictionaryFiles::Fixt {
                transport: t.clone(),
                app: a.clone(),
            }),
            _ if fixt => {
                return Err((
                    "TransportDataDictionary",
                    "a FIXT.1.1 session names TransportDataDictionary and AppDataDictionary (not DataDictionary)".into(),
                ))
            }
            _ => {
                return Err((
                    "DataDictionary",
                    "a FIX.4.x session names one DataDictionary (Transport/AppDataDictionary are for FIXT.1.1)".into(),
                ))
            }
        };
        // A built-in dictionary of another version would refuse every message.
        let builtin_for = |key: &'static str, name: &str, want: &str| {
            if super::dictionary::is_builtin(name) && name != want {
                return Err((
                    key,
                    format!("{name:?} is the built-in dictionary of another version (this session needs {want:?} or a file)"),
                ));
            }
            Ok(())
        };
        match &dictionary {
            Some(DictionaryFiles::Single(d)) => {
                builtin_for("DataDictionary", d, &self.begin_string)?
            }
            Some(DictionaryFiles::Fixt { transport, app }) => {
                builtin_for("TransportDataDictionary", transport, "FIXT.1.1")?;
                builtin_for("AppDataDictionary", app, "FIX.5.0SP2")?;
            }
            None => {}
        }
        if dictionary.is_none() && !self.dictionary_overlays.is_empty() {
            return Err((
                "DictionaryOverlays",
                "overlays need a dictionary to apply to".into(),
            ));
        }
        if self.password.is_some() {
            return Err(("Password", secret::IN_A_FILE.into()));
        }
        if let Some(v) = &self.password_env {
            secret::check_env_name(v).map_err(|e| ("PasswordEnv", e))?;
        }
        let tls = self.tls()?;
        let reduce_only_exec_inst = match self.reduce_only_exec_inst.as_deref() {
            None => None,
            Some(v) if v.len() == 1 && v.as_bytes()[0].is_ascii_graphic() => Some(v.as_bytes()[0]),
            Some(v) => {
                return Err((
                    "ReduceOnlyExecInst",
                    format!("{v:?} is not one ExecInst (18) character"),
                ))
            }
        };
        if self.oco_order_list && self.begin_string == "FIX.4.2" {
            return Err((
                "OcoOrderList",
                "FIX 4.2 has no ContingencyType (1385): leave it off, the core emulates one-cancels-other".into(),
            ));
        }
        Ok(FixSpec {
            reduce_only_exec_inst,
            oco_order_list: self.oco_order_list,
            market_data: self.market_data,
            tls,
            password_env: self.password_env.clone(),
            host: self.socket_connect_host.clone(),
            port: self.socket_connect_port,
            reconnect_max_ns: self.reconnect_interval as u64 * 1_000_000_000,
            dictionary,
            overlays: self.dictionary_overlays.clone(),
            mass_status_on_logon: self.mass_status_on_logon && self.begin_string != "FIX.4.2",
            positions_on_logon: self.positions_on_logon && self.begin_string != "FIX.4.2",
            resend_order_max_age_ns: self.resend_order_max_age as u64 * 1_000_000_000,
            session: SessionConfig {
                begin_string: self.begin_string.clone(),
                default_appl_ver_id: appl,
                sender_comp_id: self.sender_comp_id.clone(),
                target_comp_id: self.target_comp_id.clone(),
                role: Role::Initiator,
                heartbeat_secs: self.heart_bt_int,
                reset_on_logon: self.reset_on_logon,
                reset_on_logout: self.reset_on_logout,
                reset_on_disconnect: self.reset_on_disconnect,
                username: self.username.clone(),
                password: None,
                logon_timeout_secs: self.logon_timeout,
                logout_timeout_secs: self.logout_timeout,
                schedule,
                dictionary: None,
                micros: self.timestamp_precision == 6,
            },
        })
    }
}

impl FixSettings {
    fn tls(&self) -> Result<Option<TlsSpec>, (&'static str, String)> {
        let given = [
            ("SSLCACertificate", &self.ssl_ca_certificate),
            ("SSLServerName", &self.ssl_server_name),
            ("SSLCertificate", &self.ssl_certificate),
            ("SSLPrivateKey", &self.ssl_private_key),
        ];
        if !self.socket_use_ssl {
            if let Some((k, _)) = given.iter().find(|(_, v)| v.is_some()) {
                return Err((
                    "SocketUseSSL",
                    format!("{k} is set but SocketUseSSL is not true: the session would run in plain TCP"),
                ));
            }
            return Ok(None);
        }
        for (k, v) in given {
            if v.as_ref().is_some_and(|v| v.trim().is_empty()) {
                return Err((k, "must not be empty".into()));
            }
        }
        let ca = self.ssl_ca_certificate.clone().ok_or((
            "SSLCACertificate",
            "SocketUseSSL needs the PEM file of the CA certificate(s) that sign the broker's certificate".into(),
        ))?;
        match (&self.ssl_certificate, &self.ssl_private_key) {
            (Some(_), None) => {
                return Err((
                    "SSLPrivateKey",
                    "SSLCertificate needs its private key".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "SSLCertificate",
                    "SSLPrivateKey needs its certificate".into(),
                ))
            }
            _ => {}
        }
        let (key, server_name) = match &self.ssl_server_name {
            Some(n) => ("SSLServerName", n.clone()),
            None => ("SocketConnectHost", self.socket_connect_host.clone()),
        };
        if rustls::pki_types::ServerName::try_from(server_name.as_str()).is_err() {
            return Err((
                key,
                format!("{server_name:?} is not a DNS name or IP address a certificate can carry"),
            ));
        }
        Ok(Some(TlsSpec {
            ca,
            server_name,
            cert: self.ssl_certificate.clone(),
            key: self.ssl_private_key.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FixSettings {
        toml::from_str(
            r#"
SocketConnectPort = 9876
SenderCompID = "EXECD"
TargetCompID = "SIM"
"#,
        )
        .unwrap()
    }

    #[test]
    fn quickfix_names_and_defaults() {
        let s = base().check().unwrap();
        assert!(
            !s.market_data,
            "existing broker configurations subscribe to nothing"
        );
        assert_eq!(s.session.begin_string, "FIX.4.4");
        assert_eq!(s.session.heartbeat_secs, 30);
        assert_eq!(s.host, "127.0.0.1");
        assert!(!s.session.reset_on_logon);
        assert!(s.session.schedule.is_none());
    }

    #[test]
    fn schedule_and_days() {
        let mut f = base();
        f.start_time = Some("13:30:00".into());
        f.end_time = Some("20:00".into());
        f.weekdays = Some("Mon,Tue,Wed,Thu,Fri".into());
        let s = f.check().unwrap().session.schedule.unwrap();
        assert_eq!(
            (s.start_secs, s.end_secs, s.days),
            (48600, 72000, 0b0111110)
        );
        f.weekdays = Some("Mon,Funday".into());
        assert_eq!(f.check().unwrap_err().0, "Weekdays");
        f.weekdays = None;
        f.end_time = None;
        assert_eq!(f.check().unwrap_err().0, "StartTime");
    }

    #[test]
    fn fixt_sessions_name_transport_and_app_dictionaries() {
        let mut f = base();
        f.begin_string = "FIXT.1.1".into();
        f.transport_data_dictionary = Some("FIXT.1.1".into());
        f.app_data_dictionary = Some("FIX.5.0SP2".into());
        assert!(matches!(
            f.check().unwrap().dictionary,
            Some(DictionaryFiles::Fixt { .. })
        ));
        f.app_data_dictionary = Some("FIX.4.4".into());
        assert_eq!(f.check().unwrap_err().0, "AppDataDictionary");
        f.app_data_dictionary = Some("brokers/FIX50SP2-acme.xml".into());
        assert!(f.check().is_ok(), "a file is any version");
        f.data_dictionary = Some("FIX.4.4".into());
        assert_eq!(f.check().unwrap_err().0, "TransportDataDictionary");
        let mut f = base();
        f.app_data_dictionary = Some("x".into());
        assert_eq!(f.check().unwrap_err().0, "DataDictionary");
        let mut f = base();
        f.data_dictionary = Some("FIX.4.2".into());
        assert_eq!(f.check().unwrap_err().0, "DataDictionary");
        f.data_dictionary = Some("FIX.4.4".into());
        assert!(f.check().is_ok());
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut f = base();
        f.begin_string = "FIX.4.3".into();
        assert_eq!(f.check().unwrap_err().0, "BeginString");
        let mut f = base();
        f.heart_bt_int = 0;
        assert_eq!(f.check().unwrap_err().0, "HeartBtInt");
        let mut f = base();
        f.sender_comp_id = "A B".into();
        assert_eq!(f.check().unwrap_err().0, "SenderCompID");
        let mut f = base();
        f.begin_string = "FIXT.1.1".into();
        assert_eq!(
            f.check().unwrap().session.default_appl_ver_id.as_deref(),
            Some("9")
        );
        let unknown: Result<FixSettings, _> = toml::from_str(
            "SocketConnectPort = 1\nSenderCompID = \"A\"\nTargetCompID = \"B\"\nHeartbeat = 3\n",
        );
        assert!(unknown.unwrap_err().to_string().contains("Heartbeat"));
    }

    #[test]
    fn tls_keys() {
        assert_eq!(base().check().unwrap().tls, None);
        let f: FixSettings = toml::from_str(
            r#"
SocketConnectHost = "broker.example"
SocketConnectPort = 9876
SenderCompID = "EXECD"
TargetCompID = "SIM"
SocketUseSSL = true
SSLCACertificate = "ca.pem"
"#,
        )
        .unwrap();
        let t = f.check().unwrap().tls.unwrap();
        assert_eq!(
            (t.ca.as_str(), t.server_name.as_str()),
            ("ca.pem", "broker.example")
        );
        assert_eq!((t.cert, t.key), (None, None));
        let mut g = f.clone();
        g.ssl_server_name = Some("127.0.0.1".into());
        g.ssl_certificate = Some("me.pem".into());
        g.ssl_private_key = Some("me.key".into());
        let t = g.check().unwrap().tls.unwrap();
        assert_eq!(t.server_name, "127.0.0.1");
        assert_eq!(t.key.as_deref(), Some("me.key"));
        g.ssl_private_key = None;
        assert_eq!(g.check().unwrap_err().0, "SSLPrivateKey");
        let mut g = f.clone();
        g.ssl_ca_certificate = None;
        assert_eq!(g.check().unwrap_err().0, "SSLCACertificate");
        let mut g = f.clone();
        g.ssl_server_name = Some("not a name".into());
        assert_eq!(g.check().unwrap_err().0, "SSLServerName");
        let mut g = f.clone();
        g.socket_use_ssl = false;
        let e = g.check().unwrap_err();
        assert_eq!(e.0, "SocketUseSSL");
        assert!(e.1.contains("SSLCACertificate"), "{}", e.1);
    }
}
