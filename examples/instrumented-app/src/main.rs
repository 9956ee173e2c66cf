//! `ember-instrumented-app [--listen ADDR]` serves the app; `--dump text|openmetrics`
//! simulates traffic and prints the exposition (pipe it to `promtool check metrics`).

use std::sync::Arc;

use ember_client::TextFormat;
use ember_instrumented_app::AppMetrics;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let metrics = AppMetrics::new()?;
    if let Some(i) = args.iter().position(|a| a == "--dump") {
        metrics.simulate();
        let format = match args.get(i + 1).map(String::as_str) {
            Some("openmetrics") => TextFormat::OpenMetrics,
            Some("text") | None => TextFormat::Text,
            Some(other) => return Err(format!("unknown format {other:?} (text or openmetrics)").into()),
        };
        print!("{}", metrics.registry.encode(format));
        return Ok(());
    }
    let addr = args.iter().position(|a| a == "--listen").and_then(|i| args.get(i + 1)).map_or("127.0.0.1:3000", |s| s);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("listening on http://{}/metrics", listener.local_addr()?);
    axum::serve(listener, ember_instrumented_app::router(Arc::new(metrics))).await?;
    Ok(())
}
