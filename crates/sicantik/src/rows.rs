//! Validation of upstream rows. A list row without a usable registration id is skipped (with a
//! reason); any other missing or impossible field is kept empty and flagged, never guessed.

use companion_db::ExpiryOutcome;
use companion_db::types::PermitType;
use companion_domain::expiry::ExpiryStatus;
use companion_domain::permits::parse_upstream_date;
use companion_domain::text::non_blank;
use companion_domain::{DataFlags, IncomingPermit, PermitStatus};

use crate::wire::RawRow;

fn field<'a>(row: &'a RawRow, name: &str) -> Option<&'a str> {
    row.get(name).and_then(|v| v.as_deref())
}

/// The registration id if it is usable: digits only (leading zeros kept), at least 8 long.
pub fn usable_id(row: &RawRow) -> Result<String, String> {
    let Some(raw) = field(row, "pendaftaran_id") else {
        return Err("missing pendaftaran_id".into());
    };
    let id = raw.trim();
    if id.is_empty() {
        return Err("empty pendaftaran_id".into());
    }
    if id.len() < 8
        || id.len() > 32
        || !id.bytes().all(|b| b.is_ascii_digit())
        || id.bytes().all(|b| b == b'0')
    {
        return Err(format!("invalid pendaftaran_id {id:?}"));
    }
    Ok(id.to_string())
}

/// An applicant name, or `None` with a flag for empty values and the junk value `"0"` seen in
/// old SICANTIK data.
fn applicant_name(row: &RawRow, flags: &mut DataFlags) -> Option<String> {
    match non_blank(field(row, "n_pemohon")) {
        Some(name) if name == "0" || name == "-" => {
            flags.insert("applicant_name".into(), format!("junk:{name}"));
            None
        }
        Some(name) => Some(name),
        None => {
            flags.insert("applicant_name".into(), "missing".into());
            None
        }
    }
}

/// Validates a row of `listpermohonanterbit` / `listpermohonanproses`.
pub fn list_row(row: &RawRow, status: PermitStatus) -> Result<IncomingPermit, String> {
    let pendaftaran_id = usable_id(row)?;
    let mut flags = DataFlags::new();
    let applicant_name = applicant_name(row, &mut flags);
    let permit_type_name = non_blank(field(row, "n_perizinan"));
    if permit_type_name.is_none() {
        flags.insert("permit_type_name".into(), "missing".into());
    }
    let permit_number = non_blank(field(row, "no_surat"));
    if permit_number.is_none() && status == PermitStatus::Issued {
        flags.insert("permit_number".into(), "missing".into());
    }
    Ok(IncomingPermit {
        pendaftaran_id,
        status,
        applicant_name,
        permit_type_name,
        permit_number,
        flags,
    })
}

/// Validates a row of `jenisperizinanlist`. Rows without an id cannot be matched and are skipped.
pub fn type_row(row: &RawRow) -> Result<PermitType, String> {
    let id = non_blank(field(row, "id")).ok_or("permit type without id")?;
    let mut flags = DataFlags::new();
    let name = non_blank(field(row, "jenis_perizinan")).unwrap_or_else(|| {
        flags.insert("name".into(), "missing".into());
        String::new()
    });
    let service_days = match non_blank(field(row, "v_hari")) {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=3650).contains(&n) => Some(n),
            _ => {
                flags.insert("service_days".into(), format!("invalid:{v}"));
                None
            }
        },
    };
    Ok(PermitType {
        id,
        name,
        group_name: non_blank(field(row, "kelompok_izin")),
        service_days,
        flags: serde_json::to_string(&flags).unwrap_or_else(|_| "{}".into()),
    })
}

fn date_field(
    row: &RawRow,
    name: &str,
    flag: &str,
    flags: &mut DataFlags,
) -> Option<chrono::NaiveDate> {
    let raw = non_blank(field(row, name))?;
    let parsed = parse_upstream_date(&raw);
    if parsed.is_none() {
        flags.insert(flag.into(), format!("invalid:{raw}"));
    }
    parsed
}

/// Chooses the detail row for the permit among what `cekperizinan` returned (joins can duplicate
/// rows) and turns it into an outcome. Only a row that names this permit (its number, or its
/// registration id) is a hit; rows that name neither are not an answer about this permit, so the
/// look-up failed (and is retried soon) — never "no expiry".
pub fn detail_rows(rows: &[RawRow], permit_number: &str, pendaftaran_id: &str) -> ExpiryOutcome {
    let names_number = |r: &&RawRow| {
        non_blank(field(r, "no_surat")).is_some_and(|n| n.trim() == permit_number.trim())
    };
    let names_id =
        |r: &&RawRow| non_blank(field(r, "pendaftaran_id")).is_some_and(|n| n == pendaftaran_id);
    let Some(row) = rows
        .iter()
        .find(names_number)
        .or_else(|| rows.iter().find(names_id))
    else {
        return ExpiryOutcome::without_detail(ExpiryStatus::Error);
    };
    let mut flags = DataFlags::new();
    let expiry_date = date_field(row, "d_berlaku_izin", "expiry_date", &mut flags);
    let issue_date = date_field(row, "tgl_surat", "issue_date", &mut flags);
    let received_date = date_field(row, "d_terima_berkas", "received_date", &mut flags);
    ExpiryOutcome {
        status: if expiry_date.is_some() {
            ExpiryStatus::Found
        } else {
            ExpiryStatus::NoExpiry
        },
        expiry_date,
        issue_date,
        received_date,
        applicant_address: non_blank(field(row, "a_pemohon")),
        applicant_phone: non_blank(field(row, "telp_pemohon")),
        company_name: non_blank(field(row, "n_perusahaan")),
        detail_flags: flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Option<&str>)]) -> RawRow {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn rows_without_usable_id_are_skipped_with_reason() {
        assert_eq!(
            list_row(&row(&[("n_pemohon", Some("A"))]), PermitStatus::Issued).unwrap_err(),
            "missing pendaftaran_id"
        );
        assert_eq!(
            list_row(&row(&[("pendaftaran_id", None)]), PermitStatus::Issued).unwrap_err(),
            "missing pendaftaran_id"
        );
        assert_eq!(
            list_row(&row(&[("pendaftaran_id", Some(" "))]), PermitStatus::Issued).unwrap_err(),
            "empty pendaftaran_id"
        );
        assert!(
            list_row(
                &row(&[("pendaftaran_id", Some("12AB5678"))]),
                PermitStatus::Issued
            )
            .unwrap_err()
            .starts_with("invalid")
        );
        assert!(
            list_row(
                &row(&[("pendaftaran_id", Some("0000000000000000"))]),
                PermitStatus::Issued
            )
            .is_err()
        );
    }

    #[test]
    fn junk_and_missing_fields_are_kept_and_flagged() {
        let p = list_row(
            &row(&[
                ("pendaftaran_id", Some(" 0142307703072025 ")),
                ("n_pemohon", Some("0")),
                ("n_perizinan", Some("IZIN  HO ")),
                ("no_surat", Some("")),
            ]),
            PermitStatus::Issued,
        )
        .unwrap();
        assert_eq!(p.pendaftaran_id, "0142307703072025");
        assert_eq!(p.applicant_name, None);
        assert_eq!(p.permit_type_name.as_deref(), Some("IZIN HO"));
        assert_eq!(
            p.flags.get("applicant_name").map(String::as_str),
            Some("junk:0")
        );
        assert_eq!(
            p.flags.get("permit_number").map(String::as_str),
            Some("missing")
        );
    }

    #[test]
    fn in_process_rows_need_no_permit_number() {
        let p = list_row(
            &row(&[
                ("pendaftaran_id", Some("0150300102102025")),
                ("n_pemohon", Some("X")),
                ("n_perizinan", Some("T")),
            ]),
            PermitStatus::InProcess,
        )
        .unwrap();
        assert!(p.flags.is_empty());
    }

    #[test]
    fn detail_with_impossible_dates_is_flagged_not_guessed() {
        let o = detail_rows(
            &[row(&[
                ("no_surat", Some("N/1")),
                ("d_berlaku_izin", Some("0000-00-00")),
                ("tgl_surat", Some("2024-02-30")),
                ("telp_pemohon", Some("0812 3456")),
            ])],
            "N/1",
            "0098102001052024",
        );
        assert_eq!(o.status, ExpiryStatus::NoExpiry);
        assert_eq!(o.expiry_date, None);
        assert_eq!(
            o.detail_flags.get("expiry_date").map(String::as_str),
            Some("invalid:0000-00-00")
        );
        assert_eq!(
            o.detail_flags.get("issue_date").map(String::as_str),
            Some("invalid:2024-02-30")
        );
        assert_eq!(o.applicant_phone.as_deref(), Some("0812 3456"));
    }

    #[test]
    fn detail_picks_the_matching_row_among_duplicates() {
        let o = detail_rows(
            &[
                row(&[
                    ("no_surat", Some("OTHER")),
                    ("d_berlaku_izin", Some("2020-01-01")),
                ]),
                row(&[
                    ("no_surat", Some("N/1")),
                    ("d_berlaku_izin", Some("2029-05-06")),
                ]),
            ],
            "N/1",
            "0098102001052024",
        );
        assert_eq!(o.status, ExpiryStatus::Found);
        assert_eq!(o.expiry_date, chrono::NaiveDate::from_ymd_opt(2029, 5, 6));
    }

    #[test]
    fn a_row_about_no_permit_is_a_failed_look_up_not_no_expiry() {
        // What a PHP error block parsed as XML used to give: one row naming nothing.
        let junk = [row(&[("h4", Some("A PHP Error was encountered"))])];
        assert_eq!(
            detail_rows(&junk, "N/1", "0098102001052024").status,
            ExpiryStatus::Error
        );
        let other = [row(&[
            ("no_surat", Some("OTHER")),
            ("pendaftaran_id", Some("1111111111111111")),
        ])];
        assert_eq!(
            detail_rows(&other, "N/1", "0098102001052024").status,
            ExpiryStatus::Error
        );
        // Matched by registration id when the number is written differently.
        let by_id = [row(&[
            ("no_surat", Some("N/1 ")),
            ("pendaftaran_id", Some("0098102001052024")),
            ("d_berlaku_izin", Some("2029-05-06")),
        ])];
        assert_eq!(
            detail_rows(&by_id, "N/1", "0098102001052024").status,
            ExpiryStatus::Found
        );
    }

    #[test]
    fn type_rows_parse_string_numbers() {
        let t = type_row(&row(&[
            ("id", Some("30")),
            ("jenis_perizinan", Some("IZIN  PRAKTEK")),
            ("v_hari", Some("3")),
            ("kelompok_izin", Some("Kesehatan")),
        ]))
        .unwrap();
        assert_eq!(
            (t.id.as_str(), t.name.as_str(), t.service_days),
            ("30", "IZIN PRAKTEK", Some(3))
        );
        let bad = type_row(&row(&[
            ("id", Some("31")),
            ("jenis_perizinan", Some("X")),
            ("v_hari", Some("tiga")),
        ]))
        .unwrap();
        assert_eq!(bad.service_days, None);
        assert!(bad.flags.contains("service_days"));
    }
}
