//! Legacy (format v1) index blob selection.
