//! Moving the customer data of a deployment (`cdp-auth copy`): every row of the CDP tables,
//! every column as stored, read in key order in batches and written back with multi-row
//! inserts. One column list per table serves both backends, so a row read from SQLite is a
//! row PostgreSQL accepts and the reverse.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::model::InstanceId;

/// Bound parameters per insert statement, well inside both databases' limits.
pub const MAX_PARAMS: usize = 9_000;

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INTEGER / BIGINT.
    Integer,
    /// TEXT.
    Text,
    /// BLOB / BYTEA.
    Blob,
}

/// One value of a copied row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// An integer column.
    Integer(Option<i64>),
    /// A text column.
    Text(Option<String>),
    /// A binary column.
    Blob(Option<Vec<u8>>),
}

/// A row, in the order of its table's `columns`.
pub type CdpRow = Vec<Cell>;

/// A table to copy.
#[derive(Debug)]
pub struct CdpTable {
    /// Table name.
    pub name: &'static str,
    /// Every column, the key columns first.
    pub columns: &'static [(&'static str, Kind)],
    /// How many leading columns make the primary key (the keyset order of the export).
    pub key: usize,
}

impl CdpTable {
    /// The values of the key columns of `row`: where the next batch starts.
    pub fn key_of(&self, row: &[Cell]) -> CdpRow {
        row[..self.key].to_vec()
    }
}

use Kind::{Blob, Integer, Text};

/// Every CDP table, in an order that inserts each row after the rows it references
/// (customers before their records and events; webtag keys need their tokens copied first).
pub const CDP_TABLES: &[CdpTable] = &[
    CdpTable {
        name: "cdp_customers",
        key: 1,
        columns: &[
            ("id", Integer),
            ("tenant_id", Integer),
            ("gcr_id", Text),
            ("email", Text),
            ("first_name", Text),
            ("last_name", Text),
            ("phone", Text),
            ("attributes", Text),
            ("created_at", Integer),
            ("updated_us", Integer),
        ],
    },
    CdpTable {
        name: "cdp_records",
        key: 1,
        columns: &[
            ("id", Integer),
            ("tenant_id", Integer),
            ("customer_id", Integer),
            ("source_customer_number", Text),
            ("email", Text),
            ("first_name", Text),
            ("last_name", Text),
            ("phone", Text),
            ("attributes", Text),
            ("instance_id", Integer),
            ("received_at", Integer),
        ],
    },
    CdpTable {
        name: "cdp_events",
        key: 1,
        columns: &[
            ("id", Integer),
            ("tenant_id", Integer),
            ("customer_id", Integer),
            ("source_customer_number", Text),
            ("type", Text),
            ("subtype", Text),
            ("occurred_us", Integer),
            ("channel", Text),
            ("received_at", Integer),
        ],
    },
    CdpTable {
        name: "cdp_push_keys",
        key: 2,
        columns: &[
            ("instance_id", Integer),
            ("idem_key", Text),
            ("body_hash", Blob),
            ("accepted", Integer),
            ("created_at", Integer),
        ],
    },
    CdpTable {
        name: "cdp_segments",
        key: 1,
        columns: &[
            ("id", Integer),
            ("tenant_id", Integer),
            ("name", Text),
            ("rule", Text),
            ("created_at", Integer),
        ],
    },
    CdpTable {
        name: "gdpr_requests",
        key: 1,
        columns: &[
            ("id", Integer),
            ("request_id", Text),
            ("tenant_id", Integer),
            ("req_type", Text),
            ("req_param", Text),
            ("req_value", Text),
            ("req_source", Text),
            ("status", Text),
            ("subjects", Text),
            ("export", Text),
            ("created_at", Integer),
            ("due_at", Integer),
            ("processed_at", Integer),
        ],
    },
    CdpTable {
        name: "webtag_keys",
        key: 1,
        columns: &[("key_hash", Blob), ("token_id", Integer)],
    },
];

/// The customer-data half of moving a deployment between databases.
#[async_trait]
pub trait CdpTransfer: Send + Sync + 'static {
    /// Up to `limit` rows of `table` whose key comes after `after` (`None`: from the start),
    /// in key order.
    async fn export_cdp_rows(
        &self,
        table: &CdpTable,
        after: Option<&[Cell]>,
        limit: u32,
    ) -> Result<Vec<CdpRow>, StoreError>;
    /// Inserts rows of `table` as they were exported, in one transaction.
    async fn import_cdp_rows(&self, table: &CdpTable, rows: &[CdpRow]) -> Result<(), StoreError>;
    /// `instances.allowed_origins` of every instance that has it set.
    async fn export_allowed_origins(&self) -> Result<Vec<(InstanceId, String)>, StoreError>;
    /// Writes those values back onto the (already imported) instances, in one transaction.
    async fn import_allowed_origins(
        &self,
        origins: &[(InstanceId, String)],
    ) -> Result<(), StoreError>;
}

/// Implements `CdpTransfer` for `$store` (a struct with a `pool: sqlx::Pool<$db>` field).
macro_rules! impl_cdp_copy {
    ($store:ident, $db:ty, $row:ty) => {
        mod cdp_copy_impl {
            use async_trait::async_trait;
            use sqlx::query_builder::Separated;
            use sqlx::{QueryBuilder, Row, query};

            #[allow(unused_imports)]
            use super::*;
            use crate::domain::model::InstanceId;
            use crate::store::StoreError;
            use crate::store::cdp_copy::{CdpRow, CdpTable, CdpTransfer, Cell, Kind, MAX_PARAMS};

            fn cell_from(row: &$row, index: usize, kind: Kind) -> Result<Cell, StoreError> {
                Ok(match kind {
                    Kind::Integer => Cell::Integer(row.try_get(index)?),
                    Kind::Text => Cell::Text(row.try_get(index)?),
                    Kind::Blob => Cell::Blob(row.try_get(index)?),
                })
            }

            fn push_cell(values: &mut Separated<'_, $db, &'static str>, cell: &Cell) {
                match cell {
                    Cell::Integer(value) => values.push_bind(*value),
                    Cell::Text(value) => values.push_bind(value.clone()),
                    Cell::Blob(value) => values.push_bind(value.clone()),
                };
            }

            fn names(table: &CdpTable, columns: usize) -> String {
                table.columns[..columns]
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            }

            #[async_trait]
            impl CdpTransfer for $store {
                async fn export_cdp_rows(
                    &self,
                    table: &CdpTable,
                    after: Option<&[Cell]>,
                    limit: u32,
                ) -> Result<Vec<CdpRow>, StoreError> {
                    let all = names(table, table.columns.len());
                    let key = names(table, table.key);
                    let mut builder =
                        QueryBuilder::<$db>::new(format!("SELECT {all} FROM {} ", table.name));
                    if let Some(after) = after {
                        builder.push(format!("WHERE ({key}) > ("));
                        let mut values = builder.separated(", ");
                        for cell in after {
                            push_cell(&mut values, cell);
                        }
                        builder.push(") ");
                    }
                    builder.push(format!("ORDER BY {key} LIMIT "));
                    builder.push_bind(i64::from(limit));
                    builder
                        .build()
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(|row| {
                            table
                                .columns
                                .iter()
                                .enumerate()
                                .map(|(index, (_, kind))| cell_from(row, index, *kind))
                                .collect()
                        })
                        .collect()
                }

                async fn import_cdp_rows(
                    &self,
                    table: &CdpTable,
                    rows: &[CdpRow],
                ) -> Result<(), StoreError> {
                    let all = names(table, table.columns.len());
                    let mut tx = self.writer.begin().await?;
                    for chunk in rows.chunks(MAX_PARAMS / table.columns.len()) {
                        let mut builder = QueryBuilder::<$db>::new(format!(
                            "INSERT INTO {} ({all}) ",
                            table.name
                        ));
                        builder.push_values(chunk, |mut values, row| {
                            for cell in row {
                                push_cell(&mut values, cell);
                            }
                        });
                        builder.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn export_allowed_origins(
                    &self,
                ) -> Result<Vec<(InstanceId, String)>, StoreError> {
                    query::<$db>(
                        "SELECT id, allowed_origins FROM instances \
                         WHERE allowed_origins IS NOT NULL ORDER BY id",
                    )
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|row| Ok((row.try_get("id")?, row.try_get("allowed_origins")?)))
                    .collect()
                }

                async fn import_allowed_origins(
                    &self,
                    origins: &[(InstanceId, String)],
                ) -> Result<(), StoreError> {
                    let mut tx = self.writer.begin().await?;
                    for (instance, value) in origins {
                        query::<$db>("UPDATE instances SET allowed_origins = $1 WHERE id = $2")
                            .bind(value)
                            .bind(instance)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
            }
        }
    };
}
