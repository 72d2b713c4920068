//! Writing data records to stdout through the output layer.

use crate::error::CliError;
use crate::output;

/// Writes one CSV record to stdout (through the output layer).
pub fn emit_csv(fields: &[&str]) -> Result<(), CliError> {
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(256)
        .from_writer(Vec::new());
    let csv_err = |e: csv::Error| CliError::CheckFailed(format!("writing CSV: {e}"));
    w.write_record(fields).map_err(csv_err)?;
    let buf = w
        .into_inner()
        .map_err(|e| CliError::CheckFailed(format!("writing CSV: {}", e.error())))?;
    let line = String::from_utf8_lossy(&buf);
    output::result(line.trim_end_matches('\n'));
    Ok(())
}
