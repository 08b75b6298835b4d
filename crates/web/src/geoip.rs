//! Coarse region of a client address for the verification log, from a MaxMind-format database
//! (GeoLite2/GeoIP2 City or Country, DB-IP Lite…) when `GEOIP_DATABASE` names one. Only the
//! province (or the country when the database has no provinces) is kept, never the city.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Place<'a>>>,
}

#[derive(Deserialize)]
struct Place<'a> {
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<BTreeMap<&'a str, &'a str>>,
}

impl Place<'_> {
    fn name(&self) -> Option<&str> {
        let names = self.names.as_ref()?;
        names.get("id").or_else(|| names.get("en")).copied()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("GeoIP database {path}: {source}")]
pub struct GeoIpError {
    path: String,
    source: maxminddb::MaxMindDbError,
}

impl GeoIp {
    pub fn open(path: &Path) -> Result<Self, GeoIpError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| GeoIpError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(GeoIp { reader })
    }

    /// "North Sumatra, ID", "Singapore", or `None` for private, unknown or unparsable addresses.
    pub fn region(&self, address: &str) -> Option<String> {
        let ip: IpAddr = address.trim().parse().ok()?;
        let record: Record = self.reader.lookup(ip).ok().flatten()?;
        let country = record.country.as_ref();
        let province = record.subdivisions.as_ref().and_then(|s| s.first());
        match (province.and_then(Place::name), country) {
            (Some(p), Some(c)) => Some(match c.iso_code {
                Some(iso) => format!("{p}, {iso}"),
                None => p.to_string(),
            }),
            (Some(p), None) => Some(p.to_string()),
            (None, Some(c)) => c.name().or(c.iso_code).map(str::to_string),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> GeoIp {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip-test.mmdb");
        GeoIp::open(&path).expect("fixture opens")
    }

    #[test]
    fn province_and_country_from_the_database() {
        let g = fixture();
        assert_eq!(g.region("192.0.2.17").as_deref(), Some("North Sumatra, ID"));
        assert_eq!(g.region("2001:db8::1").as_deref(), Some("Jakarta, ID"));
        assert_eq!(g.region("198.51.100.5").as_deref(), Some("Singapore"));
    }

    #[test]
    fn unknown_and_garbage_addresses_have_no_region() {
        let g = fixture();
        assert_eq!(g.region("203.0.113.9"), None);
        assert_eq!(g.region("127.0.0.1"), None);
        assert_eq!(g.region("not an address"), None);
        assert_eq!(g.region(""), None);
    }

    #[test]
    fn a_broken_file_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("geoip-broken-{}", std::process::id()));
        std::fs::write(&dir, b"this is not a maxmind database").expect("write");
        let err = GeoIp::open(&dir).err().expect("refused");
        assert!(err.to_string().contains("GeoIP database"), "{err}");
        let _ = std::fs::remove_file(&dir);
    }
}
