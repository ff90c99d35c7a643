//! Markup the server renders and the browser only shows, for the parts of a
//! page with nothing to click (the runs table, the audit log, a report's
//! head and evidence files): the browser bundle then carries neither their
//! view code nor a reader for the data behind them (#18). The server
//! function renders the part; the page places it, and hydration keeps the
//! DOM the server sent.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// HTML the server rendered from a view (its text escaped by the renderer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerHtml(String);

impl ServerHtml {
    /// Renders `view` to HTML.
    #[cfg(feature = "ssr")]
    pub fn render(view: impl IntoView) -> Self {
        Self(view.into_view().to_html())
    }

    /// The markup, as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Server-rendered markup in a `<div>`.
#[component]
pub fn ShowHtml(html: ServerHtml) -> impl IntoView {
    view! { <div inner_html=html.0></div> }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::ServerHtml;
    use leptos::prelude::*;

    #[test]
    fn text_is_escaped_and_markup_kept() {
        let detail = "<script>alert(1)</script> & more".to_owned();
        let html = ServerHtml::render(view! { <td class="detail">{detail}</td> });
        assert_eq!(
            html.as_str(),
            r#"<td class="detail">&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</td>"#
        );
    }
}
