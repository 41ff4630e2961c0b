//! The `accounts` and `security_hub` sections: which accounts and regions, how to reach them.
//!
//! Must not: discover organization accounts (that is IO, in the AWS crate).

use super::load::{keys, opt, or_default};
use super::walk::{integer, Fields, Node, Walker};
use super::*;
use crate::regions::is_known_region;

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A list of 12-digit account ids, without duplicates.
pub(super) fn account_ids(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<Vec<String>> {
    let items = w.list(node, path)?;
    let mut ids: Vec<String> = Vec::new();
    let mut ok = true;
    for (item_path, item) in items {
        match account_id(w, item, &item_path) {
            Some(id) if ids.contains(&id) => {
                w.error(item, &item_path, Some(id), "duplicate account id");
                ok = false;
            }
            Some(id) => ids.push(id),
            None => ok = false,
        }
    }
    ok.then_some(ids)
}

fn account_id(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    if let Some(number) = integer(node) {
        // YAML reads 012345678901 as a number and drops the zero: ask for quotes.
        let message =
            "write account ids in quotes (\"012345678901\"), as a YAML number loses leading zeros";
        w.error(node, path, Some(number.to_string()), message);
        return None;
    }
    let id = w.string(node, path)?;
    if !is_account_id(&id) {
        w.error(
            node,
            path,
            Some(id),
            "an account id is 12 digits, written in quotes",
        );
        return None;
    }
    Some(id)
}

fn region(w: &mut Walker, node: &Node<'_>, path: &str) -> Option<String> {
    let region = w.string(node, path)?;
    if !is_known_region(&region) {
        w.error(node, path, Some(region), "unknown AWS region");
        return None;
    }
    Some(region)
}

pub(super) fn accounts(w: &mut Walker, node: &Node<'_>) -> Option<Accounts> {
    let f = w.mapping(node, "accounts", keys("accounts"), &["regions"])?;
    let source = account_source(w, &f);
    let role = role_target(w, &f);
    let external_id = opt(&f, "external_id", |n| w.secret(n, "accounts.external_id"));
    let regions = f.get("regions").and_then(|n| regions(w, n));
    let invoke_role_arn = opt(&f, "invoke_role_arn", |n| {
        let path = "accounts.invoke_role_arn";
        let arn = w.string(n, path)?;
        let valid = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/");
        if !valid {
            w.error(
                n,
                path,
                Some(arn),
                "must be an IAM role ARN (arn:aws:iam::<account or {account}>:role/NAME)",
            );
            return None;
        }
        Some(arn)
    });
    Some(Accounts {
        source: source?,
        role: role?,
        external_id: external_id?,
        regions: regions?,
        invoke_role_arn: invoke_role_arn?,
    })
}

fn account_source(w: &mut Walker, f: &Fields<'_, '_>) -> Option<AccountSource> {
    match (f.get("ids"), f.get("organization")) {
        (Some(ids), None) => {
            let ids = account_ids(w, ids, "accounts.ids")?;
            if ids.is_empty() {
                w.error_at("accounts.ids", None, "list at least one account id");
                return None;
            }
            Some(AccountSource::Ids(ids))
        }
        (None, Some(org)) => organization(w, org),
        (Some(_), Some(_)) => {
            w.error(
                f.node,
                "accounts",
                None,
                "give either ids or organization, not both",
            );
            None
        }
        (None, None) => {
            w.error(
                f.node,
                "accounts",
                None,
                "one of ids or organization is required",
            );
            None
        }
    }
}

fn organization(w: &mut Walker, node: &Node<'_>) -> Option<AccountSource> {
    let path = "accounts.organization";
    let f = w.mapping(node, path, keys(path), &[])?;
    let include_ous = or_default(&f, "include_ous", Vec::new, |n, p| {
        let items = w.string_list(n, &p)?;
        let mut ok = true;
        for (item_path, ou) in &items {
            if !is_ou_or_root(ou) {
                w.error_at(
                    item_path,
                    Some(ou.clone()),
                    "not an organizational unit (ou-xxxx-xxxxxxxx) or root (r-xxxx) id",
                );
                ok = false;
            }
        }
        ok.then(|| items.into_iter().map(|(_, ou)| ou).collect())
    });
    let exclude_ids = or_default(&f, "exclude_ids", Vec::new, |n, p| account_ids(w, n, &p));
    Some(AccountSource::Organization {
        include_ous: include_ous?,
        exclude_ids: exclude_ids?,
    })
}

fn is_ou_or_root(id: &str) -> bool {
    let word = |s: &str, min: usize| {
        s.len() >= min
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        return rest
            .split_once('-')
            .is_some_and(|(root, ou)| word(root, 4) && word(ou, 8));
    }
    id.strip_prefix("r-").is_some_and(|root| word(root, 4))
}

fn role_target(w: &mut Walker, f: &Fields<'_, '_>) -> Option<RoleTarget> {
    match (f.get("role"), f.get("role_arn")) {
        (Some(n), None) => {
            let role = w.string(n, "accounts.role")?;
            let valid = !role.is_empty()
                && role.len() <= 64
                && role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !valid {
                w.error(n, "accounts.role", Some(role), "not an IAM role name");
                return None;
            }
            Some(RoleTarget::Name(role))
        }
        (None, Some(n)) => {
            let arn = w.string(n, "accounts.role_arn")?;
            if !arn.contains("{account}") || !arn.starts_with("arn:aws") {
                w.error(
                    n,
                    "accounts.role_arn",
                    Some(arn),
                    "must be a role ARN containing {account}, e.g. arn:aws:iam::{account}:role/X",
                );
                return None;
            }
            Some(RoleTarget::ArnTemplate(arn))
        }
        (Some(_), Some(_)) => {
            w.error(
                f.node,
                "accounts",
                None,
                "give either role or role_arn, not both",
            );
            None
        }
        (None, None) => {
            w.error(
                f.node,
                "accounts",
                None,
                "one of role or role_arn is required",
            );
            None
        }
    }
}

fn regions(w: &mut Walker, node: &Node<'_>) -> Option<Vec<String>> {
    let items = w.list(node, "accounts.regions")?;
    if items.is_empty() {
        w.error(node, "accounts.regions", None, "list at least one region");
        return None;
    }
    let mut regions: Vec<String> = Vec::new();
    let mut ok = true;
    for (item_path, item) in items {
        match region(w, item, &item_path) {
            Some(r) if regions.contains(&r) => {
                w.error(item, &item_path, Some(r), "duplicate region");
                ok = false;
            }
            Some(r) => regions.push(r),
            None => ok = false,
        }
    }
    ok.then_some(regions)
}

pub(super) fn security_hub(w: &mut Walker, node: &Node<'_>) -> Option<SecurityHub> {
    let f = w.mapping(
        node,
        "security_hub",
        keys("security_hub"),
        &["account", "region"],
    )?;
    let account = f
        .get("account")
        .and_then(|n| account_id(w, n, "security_hub.account"));
    let region = f
        .get("region")
        .and_then(|n| region(w, n, "security_hub.region"));
    Some(SecurityHub {
        account: account?,
        region: region?,
    })
}
