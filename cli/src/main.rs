//! The `interstice` binary.

use clap::Parser;
use interstice_cli::args::{Cli, Command, LogFormat, TokenCommand};
use interstice_cli::{commands, output, CliError};

/// jemalloc instead of the system allocator: the runtime allocates on one
/// thread and frees on another all the time (a call's message, a commit's
/// entry), which glibc's arenas serialise behind a lock
/// (docs/PERFORMANCE.md, "The allocator").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn init_tracing(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Build { path } => commands::build::run(&path),
        Command::Load {
            dir,
            dry_run: true,
            format,
            wasm,
            ..
        } => commands::load::dry_run(&dir, &wasm, format),
        Command::Load {
            dir, remote, wasm, ..
        } => commands::load::run(&dir, &remote, &wasm).await,
        Command::Unload {
            dir,
            drop_tables,
            remote,
            module,
        } => commands::unload::run(&dir, &remote, &module, drop_tables).await,
        Command::Call {
            dir,
            remote,
            module,
            reducer,
            args,
        } => commands::call::run(&dir, &remote, &module, &reducer, &args).await,
        Command::Run {
            dir,
            replay,
            snapshots,
            listen,
            trace,
            wasm,
        } => commands::run::run(&dir, &replay, &snapshots, &listen, &trace, &wasm).await,
        Command::Dev {
            dir,
            listen,
            listen_public,
            allow_origin,
            debounce_ms,
            no_stdin,
            crates,
        } => {
            commands::dev::run(&commands::dev::DevArgs {
                dir: &dir,
                server: interstice_cli::server::ServerOptions {
                    listen,
                    public: listen_public,
                    allowed_origins: allow_origin,
                },
                debounce: std::time::Duration::from_millis(debounce_ms),
                stdin: !no_stdin,
                crates: &crates,
            })
            .await
        }
        Command::Token {
            command: TokenCommand::Rotate { data_dir, which },
        } => interstice_cli::server::rotate(&data_dir, which),
        Command::Snapshot {
            dir,
            remote,
            keep_snapshots,
        } => commands::snapshot::run(&dir, &remote, keep_snapshots).await,
        Command::Backup { data_dir, dest } => commands::backup::run(&data_dir, &dest).await,
        Command::CheckLog { dir, repair } => commands::check_log::run(&dir.path(), repair),
        Command::LogDump { data_dir, format } => commands::log_dump::run(&data_dir, format),
        Command::Logs {
            data_dir,
            module,
            level,
            follow,
            format,
        } => commands::logs::run(&commands::logs::LogsArgs {
            dir: &data_dir,
            module: module.as_deref(),
            level: level.as_deref(),
            follow,
            format,
        }),
        Command::LogInspect {
            data_dir,
            filters,
            format,
            max_trigger_depth,
        } => commands::log_inspect::run(&data_dir, &filters, format, max_trigger_depth),
        Command::GraphTrace {
            data_dir,
            out,
            from_ts,
            to_ts,
            caused_by,
            max_nodes,
        } => commands::graph_trace::run(&commands::graph_trace::GraphArgs {
            data_dir,
            out,
            from_ts,
            to_ts,
            caused_by,
            max_nodes,
        }),
        Command::GraphSubs { data_dir, paths } => {
            commands::graph_subs::split_out(&paths).and_then(|(wasm, out)| {
                commands::graph_subs::run(&commands::graph_subs::SubsArgs {
                    data_dir,
                    wasm,
                    out,
                })
            })
        }
        Command::Tables {
            data_dir,
            module,
            table,
            at_ts,
            predicate,
            limit,
            format,
        } => commands::tables::run(&commands::tables::TablesArgs {
            dir: &data_dir,
            module: module.as_deref(),
            table: table.as_deref(),
            at_ts,
            predicate: predicate.as_deref(),
            limit,
            format,
        }),
        Command::SchemaDiff { old, new, format } => commands::schema_diff::run(&old, &new, format),
        Command::Validate {
            wasm,
            data_dir,
            memory_bytes,
            format,
        } => commands::validate::run(&commands::validate::ValidateArgs {
            wasm: &wasm,
            dir: data_dir.as_deref(),
            memory_bytes,
            format,
        }),
        Command::Schema {
            module,
            data_dir,
            format,
        } => commands::schema::run(&module, data_dir.as_deref(), format),
        Command::Generate {
            language,
            module,
            data_dir,
            out,
        } => commands::generate::run(language, &module, data_dir.as_deref(), out.as_deref()),
        Command::Init { name, deps, sdk } => commands::init::run(&name, &deps, sdk.as_deref()),
        Command::ReplayCheck {
            dir,
            format,
            fuel,
            memory_bytes,
        } => commands::replay_check::run(&commands::replay_check::ReplayCheckArgs {
            dir: &dir.path(),
            format,
            fuel,
            memory_bytes,
        }),
        Command::ReplayDebug {
            data_dir,
            format,
            load,
            checkpoint_every,
            max_checkpoints,
            fuel,
            memory_bytes,
        } => commands::replay_debug::run(&commands::replay_debug::ReplayDebugArgs {
            dir: &data_dir,
            format,
            load: load.as_deref(),
            checkpoint_every,
            max_checkpoints,
            fuel,
            memory_bytes,
        }),
        Command::Bench {
            quick,
            out,
            callers,
            rounds,
            only,
            in_flight,
            hog_threads,
            no_baselines,
            trace_dir,
        } => {
            commands::bench::run(&commands::bench::BenchOpts {
                quick,
                out,
                callers,
                rounds,
                only,
                baselines: !no_baselines,
                trace_dir,
                in_flight,
                hog_threads,
            })
            .await
        }
        Command::Demo {
            data_dir,
            modules_dir,
            app,
            players,
            seconds,
        } => {
            if app {
                let opts = commands::demo::AppOpts { players, seconds };
                commands::demo::run_app(&data_dir, modules_dir.as_deref(), &opts).await
            } else {
                commands::demo::run(&data_dir, modules_dir.as_deref()).await
            }
        }
        Command::AppLoad {
            data_dir,
            players,
            seconds,
            phase,
            acks,
            modules_dir,
            verify_only,
        } => {
            if verify_only {
                let acks = acks.as_deref().expect("clap requires --acks");
                return commands::app_load::verify_only(&data_dir, acks).await;
            }
            if !(seconds > 0.0 && seconds <= 86_400.0) {
                return Err(CliError::Usage("--seconds is in (0, 86400]".into()));
            }
            let opts = commands::app_load::LoadOpts {
                players,
                duration: std::time::Duration::from_secs_f64(seconds),
                phase,
            };
            commands::app_load::run(&data_dir, &opts, acks.as_deref(), modules_dir.as_deref()).await
        }
    }
}

fn main() {
    let cli = Cli::parse();
    init_tracing(&cli.log_level, cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error(format!("cannot start the async runtime: {e}"));
            std::process::exit(1);
        }
    };
    let result = rt.block_on(dispatch(cli));
    // `run` reads stdin on a blocking thread that cannot be cancelled; do not
    // wait for it after a signal (everything was flushed by now).
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    if let Err(e) = result {
        output::error(&e);
        std::process::exit(e.exit_code());
    }
    // A closed stdout is not an error (`output.rs`); any other failure to
    // write it is.
    if let Some(e) = output::finish() {
        output::error(e);
        std::process::exit(1);
    }
}
