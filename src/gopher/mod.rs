//! The Gopher protocol code (RFC 1436, RFC 4266): URL/argv parsing, menus, client, server.

pub mod bytes;
pub mod client;
pub mod fetch;
pub mod front;
pub mod menu;
pub mod responder;
pub mod server;
pub mod url;
