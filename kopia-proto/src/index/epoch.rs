//! Epoch manager blob names and index-set selection (filled in below).
