//! reader (todo)
