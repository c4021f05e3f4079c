use utoipa::OpenApi;

use super::*;
use crate::admin::status::StatusApi;

#[test]
fn the_openapi_fragments_cover_every_route() {
    let stats = StatsApi::openapi();
    let status = StatusApi::openapi();
    let paths: Vec<&String> = stats
        .paths
        .paths
        .keys()
        .chain(status.paths.paths.keys())
        .collect();
    for path in [
        "/api/stats",
        "/api/stats/current",
        "/api/sync/prometheus",
        "/api/status",
        "/api/status/counts",
        "/api/log-level",
    ] {
        assert!(paths.iter().any(|p| *p == path), "{path} in {paths:?}");
    }
    let schemas = stats.components.as_ref().map(|c| c.schemas.len());
    assert!(schemas > Some(0), "response types are described");
}

#[test]
fn resolutions_parse_strictly() {
    for r in Resolution::ALL {
        assert_eq!(parse_resolution(r.as_str()), Ok(r));
    }
    for bad in ["", "Second", "seconds", "week"] {
        let e = parse_resolution(bad).unwrap_err();
        assert_eq!(e.code, "invalid_request");
        assert!(e.message.contains(&format!("{bad:?}")), "{}", e.message);
    }
}
