//! Unit tests of `runtime`.

/// The embedding contract: a tokio service can share and move the handle
/// and its futures across threads.
#[test]
fn runtime_is_send_sync_clone_and_its_futures_are_send() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn send<T: Send>(_: &T) {}
    send_sync_clone::<super::Runtime>();
    let rt: Option<super::Runtime> = None;
    if let Some(rt) = rt {
        send(&rt.call("m", "r", Vec::new()));
        send(&rt.read("m", "r", Vec::new()));
        send(&rt.load_module(Vec::new()));
        send(&rt.shutdown());
    }
}
