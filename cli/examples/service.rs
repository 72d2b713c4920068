//! A multi-threaded tokio service embedding Interstice.
//!
//! It builds and loads the `bank` example module, opens accounts, then runs
//! 64 concurrent client tasks doing deposits and transfers through cloned
//! `Runtime` handles, while another task consumes the committed-change
//! stream. At the end it checks that money was conserved and prints
//! throughput.
//!
//! `cargo run --release -p interstice-cli --example service [DATA_DIR]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use interstice_actors::{Runtime, RuntimeError, Value};

/// A service sets the allocator: the runtime frees on one thread what
/// another allocated, which glibc's malloc serialises (README, "Choose an
/// allocator").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const CLIENTS: u64 = 64;
const OPS_PER_CLIENT: u64 = 50;
const ACCOUNTS: u64 = 16;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("interstice-service-{}", std::process::id()))
        });
    let wasm = interstice_cli::guest_build::build_module(
        &interstice_cli::guest_build::modules_dir().join("bank"),
    )?;

    let rt = Runtime::builder().data_dir(&dir).open().await?;
    rt.load_module(std::fs::read(&wasm)?).await?;

    // A consumer of committed changes, on its own task.
    let mut changes = rt.subscribe("bank", "accounts")?;
    let seen = Arc::new(AtomicU64::new(0));
    let seen2 = seen.clone();
    let consumer = tokio::spawn(async move {
        while changes.next().await.is_some() {
            seen2.fetch_add(1, Ordering::Relaxed);
        }
    });

    let mut ids = Vec::new();
    for i in 0..ACCOUNTS {
        let out = rt
            .call(
                "bank",
                "open_account",
                vec![format!("user{i}").into(), 1_000u64.into()],
            )
            .await?;
        ids.push(out.value);
    }
    let ids = Arc::new(ids);

    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (rt, ids) = (rt.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let mut failed = 0u64;
            for op in 0..OPS_PER_CLIENT {
                let from = ids[((c + op) % ACCOUNTS) as usize].clone();
                let to = ids[((c * 7 + op + 1) % ACCOUNTS) as usize].clone();
                let res = rt
                    .call("bank", "transfer", vec![from, to, Value::U64(1 + op % 5)])
                    .await;
                match res {
                    Ok(_) => {}
                    Err(RuntimeError::Reducer { .. }) => failed += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok(failed)
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await??;
    }
    let elapsed = start.elapsed();
    let total = rt.read("bank", "total", vec![]).await?;
    let ops = CLIENTS * OPS_PER_CLIENT;
    println!(
        "{ops} transfers by {CLIENTS} concurrent clients in {:.2?} ({:.0}/s, durable), {failed} rolled back",
        elapsed,
        ops as f64 / elapsed.as_secs_f64()
    );
    println!(
        "total money = {} (expected {})",
        total.to_json(),
        ACCOUNTS * 1_000
    );
    assert_eq!(
        total.to_json(),
        serde_json::json!(ACCOUNTS * 1_000),
        "money must be conserved"
    );
    rt.shutdown().await?;
    consumer.await?;
    println!(
        "change stream delivered {} row changes; data in {}",
        seen.load(Ordering::Relaxed),
        dir.display()
    );
    Ok(())
}
