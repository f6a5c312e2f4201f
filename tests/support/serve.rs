//! Serving an axum router for a fake on `127.0.0.1:<random port>`, on a thread of its own with its own
//! Tokio runtime, so fakes work from plain `#[test]` functions and from `#[tokio::test]` alike. Dropping the
//! [`Served`] stops the server and cancels connections in flight (e.g. ones sleeping in a fake's delay).

use std::future::IntoFuture;
use std::net::TcpListener;
use std::thread::JoinHandle;

use axum::Router;
use tokio::sync::oneshot;

pub struct Served {
    pub port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Binds 127.0.0.1:0, then serves `app(port)` until dropped; returns once the socket is listening.
pub fn serve(name: &str, app: impl FnOnce(u16) -> Router) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{name}: bind 127.0.0.1:0: {e}"));
    listener.set_nonblocking(true).expect("set_nonblocking");
    let port = listener.local_addr().expect("local_addr").port();
    let app = app(port);
    let (shutdown, stop) = oneshot::channel::<()>();
    let label = name.to_string();
    let thread = std::thread::Builder::new()
        .name(format!("{name}-{port}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    result = axum::serve(listener, app).into_future() => {
                        if let Err(e) = result { eprintln!("{label} stopped: {e}"); }
                    }
                    _ = stop => {}
                }
            });
        })
        .expect("spawn the server thread");
    Served { port, shutdown: Some(shutdown), thread: Some(thread) }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
