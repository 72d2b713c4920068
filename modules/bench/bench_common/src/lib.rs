//! Code shared by the benchmark modules (`modules/bench/b_*`), used by
//! `interstice bench` (`cli/src/commands/bench/`).
//!
//! A table must be declared in the crate of the module that owns it
//! (`interstice_module!` implements the SDK's `TableId` for it), so the
//! shared tables and reducers are `macro_rules!` that each module crate
//! expands at its root. A module crate depends on `interstice-sdk` and on
//! this crate; e.g. a whole shard module is
//!
//! ```ignore
//! bench_common::shard!("b_shard_3");
//! ```

pub use interstice_sdk;

/// Initial balance of every seeded account: large enough that no benchmark
/// transfer of 1 ever fails for lack of funds.
pub const INITIAL_BALANCE: u64 = 1_000_000_000;

/// The `accounts` table and the `seed`, `transfer`, `balance` and `total`
/// reducers. `accounts!(indexed)` gives the table two secondary indexes on
/// `balance` (a B-tree and a hash index), which every transfer moves: the
/// replay workload's indexed variant.
/// Expand at the crate root, after `use interstice_sdk::prelude::*;`.
#[macro_export]
macro_rules! accounts {
    () => {
        $crate::accounts!(@with #[table(name = "accounts")]);
    };
    (indexed) => {
        $crate::accounts!(@with #[table(
            name = "accounts",
            index(name = "by_balance", columns = [balance]),
            index(name = "balance_hash", columns = [balance], kind = "hash")
        )]);
    };
    (@with #[$table:meta]) => {
        /// One account; ids are given by `seed`.
        #[$table]
        #[derive(Clone, Debug)]
        pub struct Account {
            #[primary_key]
            pub id: u64,
            pub balance: u64,
        }

        /// Creates accounts `first .. first + count`, each holding
        /// `balance`, in one transaction; returns the number of accounts.
        #[reducer]
        fn seed(ctx: &mut WriteContext, first: u64, count: u32, balance: u64) -> u64 {
            let accounts = ctx.tables.accounts();
            for id in first..first + u64::from(count) {
                accounts.insert(Account { id, balance });
            }
            accounts.count()
        }

        /// Moves `amount` from `from` to `to`: reads both balances, debits
        /// one, credits the other (two reads, two writes; `from == to` is a
        /// debit and a credit of the same row).
        #[reducer]
        fn transfer(ctx: &mut WriteContext, from: u64, to: u64, amount: u64) -> Result<(), String> {
            let accounts = ctx.tables.accounts();
            let mut src = accounts
                .get(&from)
                .ok_or_else(|| format!("no account {from}"))?;
            let dst = accounts
                .get(&to)
                .ok_or_else(|| format!("no account {to}"))?;
            if src.balance < amount {
                return Err(format!("insufficient funds in account {from}"));
            }
            src.balance -= amount;
            accounts.update(&src);
            let mut dst = if from == to { src } else { dst };
            dst.balance = dst
                .balance
                .checked_add(amount)
                .ok_or_else(|| format!("account {to} would overflow"))?;
            accounts.update(&dst);
            Ok(())
        }

        /// The balance of account `id`.
        #[reducer(mode = "read")]
        fn balance(ctx: &ReadContext, id: u64) -> Result<u64, String> {
            ctx.tables
                .accounts()
                .get(&id)
                .map(|a| a.balance)
                .ok_or_else(|| format!("no account {id}"))
        }

        /// The sum of all balances (transfers keep it constant).
        #[reducer(mode = "read")]
        fn total(ctx: &ReadContext) -> u64 {
            ctx.tables
                .accounts()
                .iter()
                .fold(0u64, |sum, a| sum.saturating_add(a.balance))
        }
    };
}

/// A whole shard module named `$name`: `accounts!()` and nothing else. The
/// scale workload runs one independent transfer workload per shard.
#[macro_export]
macro_rules! shard {
    ($name:literal) => {
        use $crate::interstice_sdk::prelude::*;

        $crate::accounts!();

        interstice_module! {
            name: $name,
            tables: [Account],
            reducers: [seed, transfer, balance, total],
        }
    };
}

/// A whole subscriber module named `$name`: every insert into
/// `b_source.events` runs its trigger `on_event`, one transaction that bumps
/// a counter row. The fanout workload loads K of them.
#[macro_export]
macro_rules! subscriber {
    ($name:literal) => {
        use $crate::interstice_sdk::prelude::*;

        /// The subscriber's copy of a `b_source.events` row.
        #[derive(IntersticeType, Clone, Debug)]
        pub struct Event {
            pub id: u64,
            pub value: u64,
        }

        /// How many events this module has seen (one row, id 0).
        #[table(name = "hits")]
        #[derive(Clone, Debug)]
        pub struct Hits {
            #[primary_key]
            pub id: u64,
            pub count: u64,
            pub last_value: u64,
        }

        /// Counts the event.
        #[reducer(on = "b_source.events.insert")]
        fn on_event(ctx: &mut WriteContext, event: Event) {
            let hits = ctx.tables.hits();
            match hits.get(&0) {
                Some(mut h) => {
                    h.count += 1;
                    h.last_value = event.value;
                    hits.update(&h);
                }
                None => {
                    hits.insert(Hits {
                        id: 0,
                        count: 1,
                        last_value: event.value,
                    });
                }
            }
        }

        /// The number of events seen.
        #[reducer(mode = "read")]
        fn seen(ctx: &ReadContext) -> u64 {
            ctx.tables.hits().get(&0).map_or(0, |h| h.count)
        }

        interstice_module! {
            name: $name,
            tables: [Hits],
            reducers: [on_event, seen],
        }
    };
}
