//! `writes = [...]` and `recursive` on table triggers: recorded in the
//! schema (`writes: None` when undeclared).

use interstice_sdk::prelude::*;

interstice_module! {
    name: "ticker",
    tables: [Tick, Log],
    reducers: [on_tick, on_log, plain],
}

#[table(name = "ticks")]
#[derive(Clone, Debug)]
pub struct Tick {
    #[primary_key(auto_inc)]
    pub id: u64,
}

#[table(name = "log")]
#[derive(Clone, Debug)]
pub struct Log {
    #[primary_key(auto_inc)]
    pub id: u64,
}

#[reducer(on = "ticker.ticks.insert", writes = [ticks, log], recursive)]
fn on_tick(_ctx: &mut WriteContext, _row: Tick) {}

#[reducer(on = "ticker.log.insert", writes = [])]
fn on_log(_ctx: &mut WriteContext, _row: Log) {}

#[reducer(on = "ticker.log.delete")]
fn plain(_ctx: &mut WriteContext, _row: Log) {}

fn main() {
    let schema = __interstice_module_schema();
    schema.check().expect("schema checks");
    let s = &schema.reducers[0];
    assert_eq!(s.writes, Some(vec!["ticks".to_string(), "log".to_string()]));
    assert!(s.recursive);
    let s = &schema.reducers[1];
    assert_eq!(s.writes, Some(vec![]));
    assert!(!s.recursive);
    let s = &schema.reducers[2];
    assert_eq!(s.writes, None);
}
