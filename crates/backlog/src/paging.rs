//! Multi-page reads built on the single-page calls: every issue of a query, and every activity
//! after a cursor.
//!
//! Must not: loop without bound (callers give a page limit), or rely on UNVERIFIED details —
//! `minId` may or may not include its bound, so ids ≤ the cursor are dropped here.

use crate::client::Client;
use crate::error::CallError;
use crate::models::{Activity, Issue};
use crate::params::{ActivityQuery, IssueQuery, Order, MAX_COUNT};

/// What a multi-page read returned, and whether it stopped at the page limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Pages<T> {
    pub items: Vec<T>,
    /// True when `max_pages` was reached with more possibly left.
    pub truncated: bool,
}

impl Client {
    /// Every issue matching `query` (its `offset` is the starting point), up to `max_pages`
    /// calls of `query.count` (default 100) each.
    pub async fn list_issues_paged(
        &self,
        query: &IssueQuery,
        max_pages: u32,
    ) -> Result<Pages<Issue>, CallError> {
        let per_page = query.count.unwrap_or(MAX_COUNT) as usize;
        let mut page_query = query.clone();
        let mut offset = query.offset.unwrap_or(0);
        let mut items = Vec::new();
        for _ in 0..max_pages {
            page_query.offset = Some(offset);
            let page = self.list_issues(&page_query).await?;
            let full = page.len() >= per_page;
            offset += page.len() as u32;
            items.extend(page);
            if !full {
                return Ok(Pages {
                    items,
                    truncated: false,
                });
            }
        }
        Ok(Pages {
            items,
            truncated: true,
        })
    }

    /// Activities of `type_ids` (empty = all) with an id greater than `after_id`, ascending, up
    /// to `max_pages` calls of 100. The closure sync's cursor loop: keep the highest id seen.
    pub async fn activities_after(
        &self,
        project: &str,
        type_ids: &[i64],
        after_id: Option<i64>,
        max_pages: u32,
    ) -> Result<Pages<Activity>, CallError> {
        let mut cursor = after_id;
        let mut items: Vec<Activity> = Vec::new();
        for _ in 0..max_pages {
            let query = ActivityQuery {
                type_ids: type_ids.to_vec(),
                min_id: cursor,
                max_id: None,
                count: Some(MAX_COUNT),
                order: Order::Asc,
            };
            let page = self.project_activities(project, &query).await?;
            let full = page.len() >= MAX_COUNT as usize;
            let fresh: Vec<Activity> = page
                .into_iter()
                .filter(|a| cursor.is_none_or(|c| a.id > c))
                .collect();
            let advanced = fresh.iter().map(|a| a.id).max();
            items.extend(fresh);
            match advanced {
                Some(id) if full => cursor = Some(id),
                _ => {
                    return Ok(Pages {
                        items,
                        truncated: false,
                    })
                }
            }
        }
        Ok(Pages {
            items,
            truncated: true,
        })
    }
}
