//! The book's line server (chapter 1): greet, prompt, read one line, count it, close.
//! `lab serve` runs it; its report drives it with real clients.

pub mod count;
pub mod event;
pub mod hostile;
pub mod server;
