//! The JSON answers of the server functions, read as text.
//!
//! The same bytes on the wire as leptos's `Json` output (`application/json`,
//! `serde_json::to_vec`), but the browser reads them with
//! `serde_json::from_str`, the reader resources use when they hydrate from
//! the page. With leptos's `Json` (`from_slice`) every type a page loads was
//! decoded by two copies of serde_json's reader in the browser bundle (#18).

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Output encoding of a server function: `#[server(output = JsonText)]`.
pub type JsonText = Post<JsonTextEncoding>;

/// JSON in the body, decoded from UTF-8 text.
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = String;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|e| format!("answer is not UTF-8: {e}"))?;
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}
