//! `cargo run --example screenshots [-- --out DIR]`: regenerates the README's screenshots
//! from the real UI on the simulated tenant. Kept out of the shipped binary: it is a
//! developer's tool, and it is the only part of the UI that needs the simulator.

mod shots;
mod svg;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let mut out = std::path::PathBuf::from("screenshots");
    while let Some(arg) = args.next() {
        if let ("--out", Some(dir)) = (arg.as_str(), args.next()) {
            out = dir.into();
        } else {
            eprintln!("usage: cargo run --example screenshots [-- --out DIR]");
            return std::process::ExitCode::from(2);
        }
    }
    lrx::install_crypto_provider();
    match shots::generate(&out).await {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lrx screenshots: could not make the screenshots: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
