//! PLACEHOLDER (issue 3).
