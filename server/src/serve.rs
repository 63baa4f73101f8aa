//! The HTTP/1.1 accept loop, written out (instead of `axum::serve`) for two things tests need:
//!
//! * Truly dropping a connection. A handler can only return responses, so a handler that wants the client
//!   to see a network error returns [`drop_connection()`]; the service wrapper here turns that marker into
//!   a service error, and hyper reacts to a service error by closing the socket without writing anything.
//! * A bounded graceful shutdown: stop accepting, let idle and finishing connections close, but give up on
//!   the rest (hung requests, huge uploads) after [`SHUTDOWN_GRACE`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long shutdown waits for open connections before exiting anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Marker (a response extension) and error: "close this connection now, answer nothing".
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// A response that makes the server close the TCP connection instead of sending it.
pub fn drop_connection() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(DropConnection);
    response
}

/// Runs the router for hyper, turning [`DropConnection`] responses into errors (hence closed sockets).
#[derive(Clone)]
struct Dropping(Router);

impl hyper::service::Service<Request<Incoming>> for Dropping {
    type Response = Response;
    type Error = DropConnection;
    type Future = Pin<Box<dyn Future<Output = Result<Response, DropConnection>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let router = self.0.clone();
        Box::pin(async move {
            let response = router
                .oneshot(req)
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            if response.extensions().get::<DropConnection>().is_some() {
                Err(DropConnection)
            } else {
                Ok(response)
            }
        })
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains connections for at most
/// [`SHUTDOWN_GRACE`].
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(_) => {
                    // Usually "too many open files": back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = Dropping(app.clone());
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = closing.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}
