//! TEMPORARY link to the schedule module while it is written; removed when it lands.
#[derive(Debug)]
pub struct Pending;
impl Pending {
    pub fn field(&self) -> &'static str {
        "schedule"
    }
}
impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("pending")
    }
}
pub fn parse(_: &str, _: &str) -> Result<(), Pending> {
    Ok(())
}
