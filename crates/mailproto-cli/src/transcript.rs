//! `C:` / `S:` session transcripts with credentials masked.
