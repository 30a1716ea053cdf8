//! Serving: a listener with a deep accept backlog, graceful drain on SIGTERM, config reload on
//! SIGHUP.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpSocket};

use crate::state::{AppState, Runtime};

/// A burst of 1,000 new connections must not overflow the accept queue (DESIGN.md §6).
const BACKLOG: u32 = 8192;

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves until `shutdown` resolves, then drains in-flight requests for at most `grace`.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let app = crate::app(state);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (signalled_tx, signalled_rx) = tokio::sync::watch::channel(false);
    // The make-service resolves the router's state once; serving the `Router` itself would
    // rebuild its route tables for every connection (about 37 KB each with our ~80 routes,
    // most of the memory a thousand open streams cost). The peer address is recorded for
    // the dashboard's sign-in throttle.
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, make).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = signalled_tx.send(true);
    });
    let mut rx = signalled_rx;
    let deadline = async move {
        let _ = rx.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "drain deadline passed; closing remaining connections");
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

/// Reloads the config file on SIGHUP; a bad file is rejected and the running config kept.
pub async fn reload_on_hangup(state: AppState, path: PathBuf) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            reload(&state, &path);
        }
    }
    #[cfg(not(unix))]
    let _ = (state, path);
}

/// Loads and validates `path`, then swaps it in atomically. Returns whether it was applied.
pub fn reload(state: &AppState, path: &std::path::Path) -> bool {
    match turnout_config::load_file(path) {
        Err(errors) => {
            tracing::error!(file = %path.display(), %errors, "config reload rejected; keeping the running config");
            false
        }
        Ok(config) => match Runtime::build(&config) {
            Ok(runtime) => {
                state.swap(runtime);
                tracing::info!(file = %path.display(), "config reloaded");
                true
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "config reload rejected; keeping the running config");
                false
            }
        },
    }
}
