//! Order entry (R-VEN-2 "both roles", R-IN-4): upstream systems send orders to execd
//! over FIX. This step: its configuration.

pub mod settings;
