//! The actix system thread. actix actors must be started inside an actix
//! `System`, and each `Arbiter` is one OS thread; a tokio service therefore
//! reaches the actors through `Send` addresses. This module starts the
//! system on its own thread, starts the sequencer, log-writer and router
//! together on one "core" arbiter, and runs the supervisor that gives every
//! module actor its own arbiter.
//!
//! Why one core thread: the three are a pipeline that handles a whole batch
//! of commits at a time, so they gain little from running in parallel, and
//! messages between actors on one arbiter wake no other thread. On the
//! 2-core machines we measure on, fewer runnable threads also means fewer
//! context switches (see docs/PERFORMANCE.md, "Fewer wakeups per call").

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use actix::{Actor, Addr, Arbiter, Context, Handler, Message, System};

use crate::actors::log_writer::LogWriter;
use crate::actors::messages::Responder;
use crate::actors::module_actor::ModuleActor;
use crate::actors::router::Router;
use crate::actors::sequencer::Sequencer;
use crate::actors::shared::Shared;
use crate::config::Durability;
use crate::error::RuntimeError;
use crate::recovery::deliveries::{FanOut, Subscriptions};

/// Starts a module actor on a new arbiter.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SpawnModule {
    pub build: Box<dyn FnOnce() -> ModuleActor + Send>,
    pub reply: Responder<Addr<ModuleActor>>,
}

/// Owns the core arbiter and the arbiters of the live module actors.
pub(crate) struct Supervisor {
    core: Arbiter,
    modules: Vec<(Addr<ModuleActor>, Arbiter)>,
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.core.stop();
        for (_, a) in &self.modules {
            a.stop();
        }
    }
}

impl Handler<SpawnModule> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: SpawnModule, _ctx: &mut Self::Context) {
        // The arbiters of stopped module actors (unloaded, upgraded away)
        // are let go: a stopped module actor stops its arbiter
        // (`ModuleActor::stopped`), and dropping the handle detaches the
        // thread, so its stack is freed when it ends. A handle kept forever
        // kept every finished thread's stack (about 60 KiB of resident
        // memory per load and unload, `docs/TESTING.md`, "Load / upgrade /
        // unload cycles").
        self.modules.retain(|(addr, _)| addr.connected());
        let arbiter = Arbiter::new();
        let build = msg.build;
        let addr = ModuleActor::start_in_arbiter(&arbiter.handle(), move |_| build());
        self.modules.push((addr.clone(), arbiter));
        msg.reply.send(addr);
    }
}

/// Addresses of the runtime's fixed actors.
pub(crate) struct SystemHandles {
    pub system: System,
    pub thread: JoinHandle<()>,
    pub supervisor: Addr<Supervisor>,
    pub router: Addr<Router>,
    pub log: Addr<LogWriter>,
}

/// Starts the actix system thread and the fixed actors.
pub(crate) fn start(
    shared: Arc<Shared>,
    writer: Option<interstice_persist::LogWriter>,
    durability: Durability,
    (subs, fanout): (Subscriptions, FanOut),
    last_ts: u64,
    snapshots: Option<crate::actors::log_writer::SnapshotFeed>,
) -> Result<SystemHandles, RuntimeError> {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("interstice-system".into())
        .spawn(move || {
            let runner = System::new();
            let handles = runner.block_on(async move {
                let core = Arbiter::new();
                let sh = shared.clone();
                let router = Router::start_in_arbiter(&core.handle(), move |_| {
                    Router::new(sh, subs, fanout, last_ts)
                });
                let (sh, r) = (shared.clone(), router.clone());
                let log = LogWriter::start_in_arbiter(&core.handle(), move |_| {
                    LogWriter::new(writer, sh, durability, r, last_ts, snapshots)
                });
                let (sh, l, r) = (shared.clone(), log.clone(), router.clone());
                let sequencer =
                    Sequencer::start_in_arbiter(&core.handle(), move |_| Sequencer::new(sh, l, r));
                let _ = shared.sequencer.set(sequencer);
                let supervisor = Supervisor {
                    core,
                    modules: Vec::new(),
                }
                .start();
                (System::current(), supervisor, router, log)
            });
            let _ = tx.send(handles);
            if let Err(e) = runner.run() {
                crate::event_in!(ERROR, None, None, None; "actix system ended with an error: {e}");
            }
        })?;
    let (system, supervisor, router, log) = rx
        .recv()
        .map_err(|_| RuntimeError::Internal("the actor system failed to start".into()))?;
    Ok(SystemHandles {
        system,
        thread,
        supervisor,
        router,
        log,
    })
}
