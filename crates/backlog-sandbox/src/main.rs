//! `backlog-sandbox`: runs the Backlog API v2 emulator (see the library docs for what it
//! emulates). Prints `listening on ADDR` on stdout first, so harnesses can read the port.
//!
//! Must not: listen on a public address unless told to.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "backlog-sandbox",
    about = "In-memory Backlog API v2 emulator for tests and demos"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The API key clients must send as `apiKey`.
    #[arg(long, env = "BACKLOG_SANDBOX_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The project key.
    #[arg(long, default_value = "SEC")]
    project: String,
    /// Kept for harnesses: the `listening on` line is always printed first.
    #[arg(long)]
    print_port: bool,
    /// Requests per window in the read bucket.
    #[arg(long, default_value_t = 600)]
    rate_read: u64,
    /// Requests per window in the update bucket.
    #[arg(long, default_value_t = 150)]
    rate_update: u64,
    /// Requests per window in the search bucket.
    #[arg(long, default_value_t = 150)]
    rate_search: u64,
    /// Rate-limit window in seconds.
    #[arg(long, default_value_t = 60)]
    rate_window_secs: i64,
    /// Refuse JSON bodies on `POST /issues` too (UNVERIFIED behaviour of real Backlog).
    #[arg(long)]
    reject_json_create: bool,
    /// Treat `minId`/`maxId` of activities as exclusive (UNVERIFIED).
    #[arg(long)]
    exclusive_min_id: bool,
    /// Built-in names in Japanese, as a Japanese-language space returns them.
    #[arg(long)]
    japanese_names: bool,
    /// Exit when stdin closes (the harness's pipe: a killed test leaves no orphan sandbox).
    #[arg(long)]
    exit_with_stdin: bool,
    /// Keyword search misses issues younger than this many ms (indexing delay, UNVERIFIED).
    #[arg(long, default_value_t = 0)]
    keyword_delay_ms: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut options = backlog_sandbox::Options::new(args.api_key, args.project);
    options.limits = backlog_sandbox::Limits {
        read: args.rate_read,
        update: args.rate_update,
        search: args.rate_search,
    };
    options.window_secs = args.rate_window_secs;
    options.accept_json_create = !args.reject_json_create;
    options.min_id_inclusive = !args.exclusive_min_id;
    options.japanese_names = args.japanese_names;
    options.keyword_delay_ms = args.keyword_delay_ms;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    drop(out);
    let _ = args.print_port;
    if args.exit_with_stdin {
        // Reads to EOF on a plain thread: EOF means the parent closed the pipe or died.
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    backlog_sandbox::serve(listener, options).await
}
