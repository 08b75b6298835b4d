//! Permit types (SICANTIK's master data) and a small key/value store for upstream facts such as
//! `jumlahPerizinan`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::QueryBuilder;

use crate::{Database, Result, on_backend};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct PermitType {
    pub id: String,
    pub name: String,
    pub group_name: Option<String>,
    pub service_days: Option<i64>,
    pub flags: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeSyncCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TypeWithCount {
    pub id: Option<String>,
    pub name: String,
    pub group_name: Option<String>,
    pub service_days: Option<i64>,
    pub permits: i64,
}

impl Database {
    /// Inserts or updates permit types by id, reporting what changed.
    pub async fn upsert_types(&self, types: &[PermitType]) -> Result<TypeSyncCounts> {
        let now = crate::now();
        let existing: Vec<PermitType> = on_backend!(self, pool => {
            sqlx::query_as("SELECT id, name, group_name, service_days, flags FROM permit_types").fetch_all(pool).await?
        });
        let mut counts = TypeSyncCounts::default();
        let mut changed = Vec::new();
        for t in types {
            match existing.iter().find(|e| e.id == t.id) {
                None => {
                    counts.inserted += 1;
                    changed.push(t);
                }
                Some(e) if e != t => {
                    counts.updated += 1;
                    changed.push(t);
                }
                Some(_) => counts.unchanged += 1,
            }
        }
        if changed.is_empty() {
            return Ok(counts);
        }
        on_backend!(self, pool => {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO permit_types (id, name, group_name, service_days, flags, updated_at) ",
            );
            qb.push_values(&changed, |mut b, t| {
                b.push_bind(t.id.as_str())
                    .push_bind(t.name.as_str())
                    .push_bind(t.group_name.as_deref())
                    .push_bind(t.service_days)
                    .push_bind(t.flags.as_str())
                    .push_bind(now);
            });
            qb.push(
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name, group_name = excluded.group_name, \
                 service_days = excluded.service_days, flags = excluded.flags, updated_at = excluded.updated_at",
            );
            qb.build().execute(pool).await?;
        });
        Ok(counts)
    }

    pub async fn list_types(&self) -> Result<Vec<PermitType>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as("SELECT id, name, group_name, service_days, flags FROM permit_types ORDER BY name")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Every type known from SICANTIK's master list or seen on a permit, with its permit count.
    /// Permits link to types by their (whitespace-folded) name, as SICANTIK's rows carry no type id.
    pub async fn types_with_counts(&self) -> Result<Vec<TypeWithCount>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as(
                "SELECT t.id AS id, t.name AS name, t.group_name AS group_name, t.service_days AS service_days, \
                        (SELECT COUNT(*) FROM permits p WHERE p.permit_type_name = t.name) AS permits \
                 FROM permit_types t \
                 UNION ALL \
                 SELECT NULL AS id, p.permit_type_name AS name, NULL AS group_name, NULL AS service_days, COUNT(*) AS permits \
                 FROM permits p WHERE p.permit_type_name IS NOT NULL \
                   AND NOT EXISTS (SELECT 1 FROM permit_types t WHERE t.name = p.permit_type_name) \
                 GROUP BY p.permit_type_name \
                 ORDER BY permits DESC, name",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Every permit type name, for filter lists: the master list plus names seen on permits
    /// (read from the type index, without counting).
    pub async fn type_names(&self) -> Result<Vec<String>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_scalar(
                "SELECT name FROM permit_types UNION \
                 SELECT DISTINCT permit_type_name FROM permits WHERE permit_type_name IS NOT NULL \
                 ORDER BY 1",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn set_kv(&self, key: &str, value: &str) -> Result<()> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query(
                "INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn get_kv(&self, key: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        Ok(on_backend!(self, pool => {
            sqlx::query_as("SELECT value, updated_at FROM kv WHERE key = $1").bind(key).fetch_optional(pool).await?
        }))
    }

    /// The value under `key`, storing `initial` first if there is none. Concurrent callers (on
    /// several instances) all get the one value that won.
    pub async fn kv_get_or_init(&self, key: &str, initial: &str) -> Result<String> {
        let now = crate::now();
        on_backend!(self, pool => {
            sqlx::query("INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(initial)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(self
            .get_kv(key)
            .await?
            .map(|(v, _)| v)
            .unwrap_or_else(|| initial.to_string()))
    }
}
