//! `lab`: the book's Gopher client and line server rebuilt on raw sockets, and one
//! live experiment per question a beginner asked about them.

pub mod app;
pub mod cli;
pub mod docs;
pub mod gopher;
pub mod labs;
pub mod line;
pub mod render;
pub mod report;
pub mod sandbox;
pub mod sys;
