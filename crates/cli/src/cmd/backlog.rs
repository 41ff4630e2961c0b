//! `findings-bridge backlog webhook install -c FILE --url BASE` and `backlog webhook show`: the
//! project's webhook that tells closure sync about issue changes (activity types 2 updated,
//! 4 deleted, 14 bulk-updated), pointing at `BASE/v1/backlog/webhook/<backlog.webhook_token>`.
//!
//! Install creates the webhook named [`WEBHOOK_NAME`], or updates it in place when it differs
//! (never a second one; extra ones with that name, left by hand, are removed), and changes
//! nothing when it already agrees. Show prints it with the token masked.
//!
//! Must not: print or log the token or the API key (URLs go through `mask_hook_url`).

use std::process::ExitCode;

use anyhow::{bail, Context};
use fb_backlog::{mask_hook_url, Client, ClientOptions, Webhook, WebhookSpec};
use fb_model::config::{self, Config};
use fb_sync::closure::CLOSURE_ACTIVITY_TYPES;

use crate::{BacklogCommand, Cli, WebhookCommand};

/// The name that identifies our webhook in the project.
pub const WEBHOOK_NAME: &str = "findings-bridge";
const DESCRIPTION: &str =
    "findings-bridge closure sync: issue updates, deletions and bulk updates (managed by `findings-bridge backlog webhook install`)";

pub fn run(cli: &Cli, command: &BacklogCommand) -> anyhow::Result<ExitCode> {
    let path = super::config_path(cli);
    let config = match config::load(&path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            bail!(
                "{}: invalid configuration; nothing was changed",
                path.display()
            );
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let BacklogCommand::Webhook(command) = command;
    match command {
        WebhookCommand::Install { url } => runtime.block_on(install(&config, url)),
        WebhookCommand::Show => runtime.block_on(show(&config)),
    }
}

fn client(config: &Config) -> anyhow::Result<Client> {
    let key = config
        .backlog
        .api_key
        .resolve()
        .context("cannot resolve backlog.api_key")?;
    Client::new(&config.backlog.base_url, key, ClientOptions::default())
        .context("cannot build the Backlog client")
}

/// `BASE/v1/backlog/webhook/<token>`; BASE must be an http(s) URL without query or fragment.
fn hook_url(base: &str, token: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(base).with_context(|| {
        format!("--url {base:?} is not a URL (e.g. https://bridge.example.com)")
    })?;
    if !matches!(parsed.scheme(), "https" | "http")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        bail!("--url {base:?} must be an http(s) URL with a host and no query or fragment");
    }
    Ok(format!(
        "{}/v1/backlog/webhook/{token}",
        base.trim_end_matches('/')
    ))
}

fn wanted_spec(config: &Config, base: &str) -> anyhow::Result<WebhookSpec> {
    let Some(token) = &config.backlog.webhook_token else {
        bail!("backlog.webhook_token is not set in the configuration: the webhook needs it (e.g. webhook_token: env:FB_WEBHOOK_TOKEN)");
    };
    let token = token
        .resolve()
        .context("cannot resolve backlog.webhook_token")?;
    Ok(WebhookSpec {
        name: WEBHOOK_NAME.to_owned(),
        description: DESCRIPTION.to_owned(),
        hook_url: hook_url(base, token.expose())?,
        all_event: false,
        activity_type_ids: CLOSURE_ACTIVITY_TYPES.to_vec(),
    })
}

fn agrees(hook: &Webhook, spec: &WebhookSpec) -> bool {
    let mut types = hook.activity_type_ids.clone();
    types.sort_unstable();
    let mut wanted = spec.activity_type_ids.clone();
    wanted.sort_unstable();
    hook.hook_url == spec.hook_url
        && !hook.all_event
        && types == wanted
        && hook.description == spec.description
}

async fn install(config: &Config, base: &str) -> anyhow::Result<ExitCode> {
    // Everything that can be checked offline is checked before Backlog is called.
    let spec = wanted_spec(config, base)?;
    let client = client(config)?;
    let project = &config.backlog.project;
    let hooks = client
        .webhooks(project)
        .await
        .with_context(|| format!("cannot list the webhooks of project {project}"))?;
    let mut ours = hooks.into_iter().filter(|h| h.name == WEBHOOK_NAME);
    let first = ours.next();
    let extra: Vec<Webhook> = ours.collect();
    let hook = match first {
        None => {
            let created = client
                .create_webhook(project, &spec)
                .await
                .context("cannot create the webhook")?;
            println!("created webhook {} (id {})", created.name, created.id);
            created
        }
        Some(existing) if agrees(&existing, &spec) => {
            println!(
                "webhook {} (id {}) is up to date; nothing changed",
                existing.name, existing.id
            );
            existing
        }
        Some(existing) => {
            let updated = client
                .update_webhook(project, existing.id, &spec)
                .await
                .context("cannot update the webhook")?;
            println!("updated webhook {} (id {})", updated.name, updated.id);
            updated
        }
    };
    for duplicate in extra {
        client
            .delete_webhook(project, duplicate.id)
            .await
            .with_context(|| format!("cannot delete duplicate webhook id {}", duplicate.id))?;
        println!("deleted duplicate webhook id {}", duplicate.id);
    }
    print_hook(&hook);
    Ok(ExitCode::SUCCESS)
}

async fn show(config: &Config) -> anyhow::Result<ExitCode> {
    let client = client(config)?;
    let project = &config.backlog.project;
    let hooks = client
        .webhooks(project)
        .await
        .with_context(|| format!("cannot list the webhooks of project {project}"))?;
    let ours: Vec<&Webhook> = hooks.iter().filter(|h| h.name == WEBHOOK_NAME).collect();
    let Some(hook) = ours.first() else {
        eprintln!(
            "project {project} has no webhook named {WEBHOOK_NAME}; run `findings-bridge backlog webhook install --url BASE`"
        );
        return Ok(ExitCode::FAILURE);
    };
    print_hook(hook);
    if let Some(token) = config
        .backlog
        .webhook_token
        .as_ref()
        .and_then(|t| t.resolve().ok())
    {
        let matches = hook
            .hook_url
            .rsplit_once('/')
            .is_some_and(|(_, tail)| tail == token.expose());
        println!(
            "token:      {}",
            if matches {
                "matches backlog.webhook_token"
            } else {
                "DIFFERS from backlog.webhook_token (run install again)"
            }
        );
    }
    if ours.len() > 1 {
        println!(
            "warning: {} webhooks are named {WEBHOOK_NAME}; install keeps one",
            ours.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_hook(hook: &Webhook) {
    let types = if hook.all_event {
        "all".to_owned()
    } else {
        hook.activity_type_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("id:         {}", hook.id);
    println!("name:       {}", hook.name);
    println!("url:        {}", mask_hook_url(&hook.hook_url));
    println!("activities: {types}");
}

#[cfg(test)]
mod tests {
    use super::hook_url;

    #[test]
    fn hook_url_appends_the_route_and_token() {
        assert_eq!(
            hook_url("https://bridge.example.com/", "tok").unwrap(),
            "https://bridge.example.com/v1/backlog/webhook/tok"
        );
        assert_eq!(
            hook_url("http://127.0.0.1:8080/base", "tok").unwrap(),
            "http://127.0.0.1:8080/base/v1/backlog/webhook/tok"
        );
    }

    #[test]
    fn hook_url_refuses_what_is_not_a_base_url() {
        for bad in [
            "bridge.example.com",
            "ftp://x/",
            "https://x/?a=1",
            "https://x/#f",
        ] {
            assert!(hook_url(bad, "tok").is_err(), "{bad}");
        }
    }
}
