//! Unit tests of the server machine.
