//! `NextToken` paging, written once for every list call of this crate.

use std::future::Future;

/// Every item of a `NextToken`-paged list: `page(token)` fetches one page and returns its
/// items and the next token.
pub(crate) async fn all_pages<T, E, F, Fut>(mut page: F) -> Result<Vec<T>, E>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), E>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let (batch, next) = page(token.take()).await?;
        items.extend(batch);
        match next {
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
}
