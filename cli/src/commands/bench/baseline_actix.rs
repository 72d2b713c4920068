//! Baseline: a bare actix echo actor with the runtime's call pattern —
//! tokio tasks send a message with a tokio oneshot and await the reply; the
//! actor runs on its own arbiter (thread) inside an actix `System` on a
//! dedicated thread, as the module actors do.

use std::time::{Duration, Instant};

use actix::{Actor, Addr, Arbiter, Context, Handler, Message, System};
use tokio::sync::oneshot;

use crate::error::CliError;

/// Echoes `value` back.
struct Ping {
    value: u64,
    reply: oneshot::Sender<u64>,
}

impl Message for Ping {
    type Result = ();
}

/// The echo actor.
struct Echo;

impl Actor for Echo {
    type Context = Context<Self>;
}

impl Handler<Ping> for Echo {
    type Result = ();

    fn handle(&mut self, msg: Ping, _ctx: &mut Self::Context) {
        let _ = msg.reply.send(msg.value);
    }
}

/// A running actix system with one echo actor.
pub(super) struct EchoSystem {
    addr: Addr<Echo>,
    system: System,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoSystem {
    /// Starts the system thread and the actor on an arbiter of its own.
    pub(super) fn start() -> Result<Self, CliError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bench-echo-system".into())
            .spawn(move || {
                let runner = System::new();
                let (arbiter, addr) = runner.block_on(async {
                    let arbiter = Arbiter::new();
                    let addr = Echo::start_in_arbiter(&arbiter.handle(), |_| Echo);
                    (arbiter, addr)
                });
                let _ = tx.send((System::current(), addr));
                let _ = runner.run();
                arbiter.stop();
            })?;
        let (system, addr) = rx
            .recv()
            .map_err(|_| CliError::Bench("the echo actor system did not start".into()))?;
        Ok(EchoSystem {
            addr,
            system,
            thread: Some(thread),
        })
    }

    /// One round: `callers` tasks × `per_caller` sequential round trips.
    /// Returns the round's wall time and every round trip's latency.
    pub(super) async fn round(
        &self,
        callers: usize,
        per_caller: usize,
    ) -> Result<(Duration, Vec<Duration>), CliError> {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(callers);
        for c in 0..callers {
            let addr = self.addr.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_caller);
                for i in 0..per_caller {
                    let t = Instant::now();
                    let (tx, rx) = oneshot::channel();
                    let value = (c * per_caller + i) as u64;
                    addr.do_send(Ping { value, reply: tx });
                    let got = rx.await.map_err(|_| "echo actor dropped a reply")?;
                    if got != value {
                        return Err("echo actor replied with the wrong value");
                    }
                    lat.push(t.elapsed());
                }
                Ok(lat)
            }));
        }
        let mut latencies = Vec::with_capacity(callers * per_caller);
        for t in tasks {
            let lat = t
                .await
                .map_err(|e| CliError::Bench(e.to_string()))?
                .map_err(|e| CliError::Bench(e.into()))?;
            latencies.extend(lat);
        }
        Ok((start.elapsed(), latencies))
    }
}

impl Drop for EchoSystem {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
