//! The Gopher protocol code (RFC 1436, RFC 4266): URL/argv parsing, menus, client, server.

pub mod server;
