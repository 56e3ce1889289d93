//! `cdp-auth segment set|list|delete`: the segments the secureApi profile resources report.

use clap::Subcommand;

use super::print_json;
use crate::app::Services;
use crate::domain::audit::Actor;
use crate::views::SegmentView;

#[derive(Debug, Subcommand)]
pub enum SegmentCommand {
    /// Create a segment or replace its rule.
    Set {
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// Segment name.
        #[arg(long)]
        name: String,
        /// The rule as JSON, e.g. '{"attribute":"tier","equals":"gold"}'.
        #[arg(long)]
        rule: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's segments.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a segment.
    Delete {
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// Segment name.
        #[arg(long)]
        name: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: SegmentCommand, services: &Services) -> Result<(), String> {
    let fail = |e: crate::domain::DomainError| e.to_string();
    match command {
        SegmentCommand::Set {
            tenant,
            name,
            rule,
            json,
        } => {
            let rule = crate::domain::json::value_from_str(&rule)
                .map_err(|e| format!("--rule is not JSON: {e}"))?;
            let tenant = services.admin.tenant(&tenant).await.map_err(fail)?;
            let segment = services
                .cdp
                .put_segment(tenant.id, &name, rule, &Actor::cli())
                .await
                .map_err(fail)?;
            if json {
                print_json(&SegmentView::of(&segment))
            } else {
                println!("segment {} set", segment.name);
                Ok(())
            }
        }
        SegmentCommand::List { tenant, json } => {
            let tenant = services.admin.tenant(&tenant).await.map_err(fail)?;
            let segments = services.cdp.segments(tenant.id).await.map_err(fail)?;
            if json {
                print_json(&segments.iter().map(SegmentView::of).collect::<Vec<_>>())
            } else {
                for segment in &segments {
                    println!("{:<24} {}", segment.name, segment.rule);
                }
                Ok(())
            }
        }
        SegmentCommand::Delete { tenant, name, json } => {
            let tenant = services.admin.tenant(&tenant).await.map_err(fail)?;
            services
                .cdp
                .delete_segment(tenant.id, &name, &Actor::cli())
                .await
                .map_err(fail)?;
            if json {
                print_json(&serde_json::json!({"tenant": tenant.id.to_string(), "deleted": name}))
            } else {
                println!("segment {name} deleted from tenant {}", tenant.name);
                Ok(())
            }
        }
    }
}
