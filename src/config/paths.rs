//! Where lrx keeps its files: XDG directories (through `directories`) for config, cache and
//! state, and the config file `LRX_CONFIG` may point elsewhere.

use std::path::PathBuf;

/// The directories of one user's lrx.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub state_dir: PathBuf,
    /// What is kept for good: the custody log.
    pub data_dir: PathBuf,
}

impl Paths {
    pub fn discover() -> Self {
        let Some(dirs) = directories::ProjectDirs::from("", "", "lrx") else {
            // No home directory at all (a bare container): keep everything together.
            let base = std::env::temp_dir().join("lrx");
            return Self {
                config_dir: base.join("config"),
                cache_dir: base.join("cache"),
                state_dir: base.join("state"),
                data_dir: base.join("data"),
            };
        };
        Self {
            config_dir: dirs.config_dir().to_path_buf(),
            cache_dir: dirs.cache_dir().to_path_buf(),
            state_dir: dirs
                .state_dir()
                .unwrap_or_else(|| dirs.data_local_dir())
                .to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
        }
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("lrx.log")
    }
}

impl Paths {
    pub fn config_file(&self) -> PathBuf {
        std::env::var_os("LRX_CONFIG")
            .map_or_else(|| self.config_dir.join("config.toml"), PathBuf::from)
    }
}
