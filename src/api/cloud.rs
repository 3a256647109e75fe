//! Which hosts to talk to: API host, sign-in host and token scope per cloud and region
//! (contract §1, §2.6).

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Commercial,
    /// The older `api.securitycenter.microsoft.com` family, still widely used.
    Legacy,
    Gcc,
    GccHigh,
    Dod,
}

impl FromStr for Cloud {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "commercial" | "global" | "public" => Ok(Self::Commercial),
            "legacy" | "securitycenter" => Ok(Self::Legacy),
            "gcc" => Ok(Self::Gcc),
            "gcchigh" => Ok(Self::GccHigh),
            "dod" => Ok(Self::Dod),
            _ => Err(format!(
                "unknown cloud '{text}' (use commercial, legacy, gcc, gcc-high or dod)"
            )),
        }
    }
}

/// Regions of the commercial cloud with their own API hosts.
pub const REGIONS: &[&str] = &["us", "eu", "uk", "au", "swa", "ina", "aea"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The host root as users know it, without `/api`.
    pub api_root: String,
    pub token_url: String,
    pub scope: String,
}

impl Endpoints {
    pub fn for_cloud(cloud: Cloud, region: Option<&str>, tenant: &str) -> Result<Self, String> {
        let region = region.map(str::to_ascii_lowercase);
        if let Some(region) = region.as_ref().filter(|r| !REGIONS.contains(&r.as_str())) {
            return Err(format!(
                "unknown region '{region}' (use one of {})",
                REGIONS.join(", ")
            ));
        }
        // Regional hosts exist for the commercial clouds only; a region is never dropped
        // silently (the analyst may need the data to stay in it).
        if let (Some(region), Cloud::Gcc | Cloud::GccHigh | Cloud::Dod) = (&region, cloud) {
            return Err(format!(
                "--region {region} applies to the commercial cloud only; the {} cloud has one API host",
                match cloud {
                    Cloud::Gcc => "GCC",
                    Cloud::GccHigh => "GCC High",
                    _ => "DoD",
                }
            ));
        }
        let (api_root, login, resource) = match cloud {
            Cloud::Commercial => (
                region.map_or_else(
                    || "https://api.security.microsoft.com".to_string(),
                    |r| format!("https://{r}.api.security.microsoft.com"),
                ),
                "https://login.microsoftonline.com",
                "https://api.securitycenter.microsoft.com".to_string(),
            ),
            Cloud::Legacy => (
                region.map_or_else(
                    || "https://api.securitycenter.microsoft.com".to_string(),
                    |r| format!("https://api-{r}.securitycenter.microsoft.com"),
                ),
                "https://login.microsoftonline.com",
                "https://api.securitycenter.microsoft.com".to_string(),
            ),
            Cloud::Gcc => (
                "https://api-gcc.securitycenter.microsoft.us".to_string(),
                "https://login.microsoftonline.com",
                "https://api-gcc.securitycenter.microsoft.us".to_string(),
            ),
            Cloud::GccHigh | Cloud::Dod => (
                "https://api-gov.securitycenter.microsoft.us".to_string(),
                "https://login.microsoftonline.us",
                "https://api-gov.securitycenter.microsoft.us".to_string(),
            ),
        };
        Ok(Self {
            api_root,
            token_url: format!("{login}/{tenant}/oauth2/v2.0/token"),
            scope: format!("{resource}/.default"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_has_its_hosts() {
        let commercial =
            Endpoints::for_cloud(Cloud::Commercial, None, "t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(commercial.api_root, "https://api.security.microsoft.com");
        assert_eq!(
            commercial.token_url,
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
        assert_eq!(
            commercial.scope,
            "https://api.securitycenter.microsoft.com/.default"
        );
        let eu = Endpoints::for_cloud(Cloud::Commercial, Some("EU"), "t")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eu.api_root, "https://eu.api.security.microsoft.com");
        let high = Endpoints::for_cloud("gcc-high".parse().unwrap_or_default(), None, "t")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            high.token_url
                .starts_with("https://login.microsoftonline.us/")
        );
        assert_eq!(
            high.scope,
            "https://api-gov.securitycenter.microsoft.us/.default"
        );
        assert!(Endpoints::for_cloud(Cloud::Commercial, Some("mars"), "t").is_err());
        let gov = Endpoints::for_cloud(Cloud::Gcc, Some("eu"), "t").expect_err("no regions");
        assert!(gov.contains("commercial cloud only"), "{gov}");
    }
}
