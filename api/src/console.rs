//! The web console (`api/assets/console`, ARCHITECTURE.md): standard ES modules and a small
//! vendored UI library (Preact, its hooks and htm), embedded in the binary at compile time and
//! served as they are — no bundler, no Node.js in the build, no CDN. The console is a client
//! of the public GraphQL API like any other: it holds no privilege of its own.
//!
//! Every page of the console is a URL (`/`, `/orders/<reference>`, `/measures/<id>`,
//! `/reports`, `/reports/<id>`, `/owners`, `/search`, `/signin`) answered by the same
//! `index.html`, under a strict Content-Security-Policy: scripts, styles and connections from
//! this origin only, no inline script or style, Trusted Types required for every DOM sink
//! that parses HTML (the console renders data as text only).
//!
//! `GET /console/demo-tokens` lists the tokens `serve --demo` printed (a demo with a
//! generated secret only, and to a client on the loopback interface only, not relayed by a
//! proxy); anywhere else it answers 404, and the sign-in page offers only "paste a token". A
//! demo server is for one machine: never expose it.
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::Embed;

use crate::state::AppState;

#[derive(Embed)]
#[folder = "assets/console/"]
#[exclude = "*.d.ts"]
#[exclude = "tsconfig.json"]
struct Assets;

/// The console's policy: nothing from another origin, nothing inline, no HTML parsing sinks.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// The console's routes; every page path answers the same document.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/signin", web::get().to(page))
        .route("/search", web::get().to(page))
        .route("/owners", web::get().to(page))
        .route("/reports", web::get().to(page))
        .route("/reports/{id}", web::get().to(page))
        .route("/orders/{reference}", web::get().to(page))
        .route("/measures/{id}", web::get().to(page))
        .route("/console/demo-tokens", web::get().to(demo_tokens))
        .route("/console/{path:.*}", web::get().to(asset));
}

fn guarded(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"));
    res
}

async fn page() -> HttpResponse {
    match Assets::get("index.html") {
        Some(file) => guarded(HttpResponse::Ok())
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(file.data.into_owned()),
        None => HttpResponse::NotFound().finish(),
    }
}

fn media_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

async fn asset(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().get("path").unwrap_or_default();
    // The embedded names are the only names: nothing is read from disk, so `..` finds nothing.
    let (Some(file), Some(mime)) = (Assets::get(path), media_type(path)) else {
        return HttpResponse::NotFound().finish();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return guarded(HttpResponse::NotModified())
            .insert_header((header::ETAG, etag))
            .finish();
    }
    let mut res = guarded(HttpResponse::Ok());
    res.content_type(mime)
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if mime.starts_with("text/html") {
        res.insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    }
    res.body(file.data.into_owned())
}

async fn demo_tokens(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // A client on this machine, not one relayed by a proxy here.
    let relayed = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let local = !relayed && req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    match (&state.demo_tokens, local) {
        (Some(tokens), true) => guarded(HttpResponse::Ok())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "tokens": tokens })),
        _ => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_embedded_with_its_entry_points() {
        for name in [
            "index.html",
            "app.js",
            "app.css",
            "queries.js",
            "vendor/preact.js",
        ] {
            assert!(Assets::get(name).is_some(), "{name} is not embedded");
            assert!(media_type(name).is_some(), "{name} has no media type");
        }
        assert!(Assets::get("tsconfig.json").is_none());
        assert!(
            Assets::iter().all(|n| media_type(&n).is_some()),
            "an asset without a type"
        );
    }
}
