//! GraphiQL served from the service itself — page, scripts and styles — so it works on the closed
//! networks 1C customers often have. The assets are embedded in the binary (assets/graphiql, MIT).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>partnergraph · GraphiQL</title>
  <link rel="stylesheet" href="/assets/graphiql.min.css">
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="/assets/react.production.min.js"></script>
  <script src="/assets/react-dom.production.min.js"></script>
  <script src="/assets/graphiql.min.js"></script>
  <script>
    // Subscriptions go over graphql-transport-ws (the graphql-ws client is inside the GraphiQL bundle);
    // the Headers tab is sent as the connection_init payload, so the same {"Authorization": …} works.
    const subscriptionUrl = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/graphql/ws';
    const fetcher = GraphiQL.createFetcher({ url: '/graphql', subscriptionUrl });
    // No header yet: a placeholder token would be refused (401) and GraphiQL could not load the schema.
    const headers = '{}';
    const query = '# 1. Run this login (the demo vendor of `serve --demo`).\n' +
      '# 2. Put {"Authorization": "Bearer <token>"} in the Headers tab below.\n' +
      '# 3. Ask, for example: { me { role subscriber { name } } }\n' +
      '# Subscriptions run here too (as a partner owner): subscription { events { kind message } }\n' +
      'mutation { login(email: "vendor@partnergraph.local", password: "partnergraph-demo") { token expiresAt } }\n';
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, { fetcher, defaultQuery: query, defaultHeaders: headers, headerEditorEnabled: true }));
  </script>
</body>
</html>
"#;

pub fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// `/assets/{name}`: the embedded files, cacheable for a day.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match name.as_str() {
        "graphiql.min.js" => (include_bytes!("../assets/graphiql/graphiql.min.js"), "text/javascript; charset=utf-8"),
        "graphiql.min.css" => (include_bytes!("../assets/graphiql/graphiql.min.css"), "text/css; charset=utf-8"),
        "react.production.min.js" => {
            (include_bytes!("../assets/graphiql/react.production.min.js"), "text/javascript; charset=utf-8")
        }
        "react-dom.production.min.js" => {
            (include_bytes!("../assets/graphiql/react-dom.production.min.js"), "text/javascript; charset=utf-8")
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}
