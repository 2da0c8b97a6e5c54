//! How readers word a refusal to read something too long for the memory limit.

/// What a reader says of `what` (a line, a form, an operation) longer than `max_bytes`
/// because reading it could take more than `memory_limit` bytes.
pub fn too_long_message(what: &str, max_bytes: usize, memory_limit: usize) -> String {
    format!(
        "{what} longer than {}: reading it could take more than the memory limit of {} MB; raise --memory-limit to read it",
        mb(max_bytes),
        memory_limit >> 20
    )
}

/// `bytes` in MB for a message, or in bytes below one MB.
fn mb(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}
