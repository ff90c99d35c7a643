//! Reading a target's answers under a size cap (`max_answer_bytes`): the
//! body is read chunk by chunk and refused once it passes the cap, so a huge
//! or endless answer cannot fill the memory of the machine running the run.

use bytes::{Bytes, BytesMut};

/// Why an answer body could not be had.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The body is larger than the cap.
    #[error("the answer is larger than max_answer_bytes ({limit} bytes)")]
    TooLarge { limit: usize },
    /// Reading failed (connection, timeout, decoding).
    #[error("{0}")]
    Read(#[from] reqwest::Error),
}

/// The whole body, at most `limit` bytes.
pub async fn read_bytes(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, AnswerError> {
    let too_large = AnswerError::TooLarge { limit };
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
    {
        return Err(too_large);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The body as text (invalid UTF-8 replaced), at most `limit` bytes.
pub async fn read_text(response: reqwest::Response, limit: usize) -> Result<String, AnswerError> {
    let bytes = read_bytes(response, limit).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
