//! Passwords: read from the environment when a session starts, never from a file (a
//! configuration is copied into the journal), never shown.

use std::fmt;

/// A secret: compared in constant time, sent, never printed (`Debug` shows
/// `Secret(..)`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a configuration key naming an environment variable is refused, if it is: a
/// name of letters, digits and `_`.
pub fn check_env_name(var: &str) -> Result<(), String> {
    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "{var:?} is not an environment variable name (letters, digits, _)"
        ));
    }
    Ok(())
}

/// What a configuration that holds a password itself is told.
pub const IN_A_FILE: &str = "a password is never written in a file: name the environment variable that holds it with PasswordEnv";

impl Secret {
    /// A secret given by a program (tests); configurations use [`Secret::from_env`].
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value of environment variable `var`; the error names the variable, never a
    /// value.
    pub fn from_env(var: &str) -> Result<Secret, String> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            Ok(_) => Err(format!("environment variable {var} is empty")),
            Err(_) => Err(format!("environment variable {var} is not set")),
        }
    }

    /// Whether `given` is the secret, in time independent of where they differ.
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = self.0.as_bytes();
        let mut diff = (want.len() != given.len()) as u8;
        for (i, &w) in want.iter().enumerate() {
            diff |= w ^ given.get(i).copied().unwrap_or(!w);
        }
        diff == 0
    }

    /// The bytes to put on the wire (Password, 554).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole_and_never_print() {
        let s = Secret::new("s3cret");
        assert!(s.matches(b"s3cret"));
        assert!(!s.matches(b"s3cre"));
        assert!(!s.matches(b"s3cret!"));
        assert!(!s.matches(b""));
        assert_eq!(format!("{s:?}"), "Secret(..)");
    }

    #[test]
    fn from_the_environment_named_not_shown() {
        let e = Secret::from_env("EXECD_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(e.contains("EXECD_TEST_SURELY_UNSET_VAR") && e.contains("not set"));
        assert!(check_env_name("NOT-A-NAME").is_err() && check_env_name("A_1").is_ok());
    }
}
