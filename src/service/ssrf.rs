//! SSRF policy for every URL a job fetches: http(s) only, and no loopback, link-local,
//! private (RFC 1918, RFC 4193), shared (RFC 6598), unspecified, broadcast or multicast
//! address unless the host is listed in `--allow-hosts` (name, IP, or `name:port`).
//! A name is resolved and every address it resolves to must pass.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A URL refused by the policy; the message names the policy and the way out.
#[derive(Debug, thiserror::Error)]
#[error("refused by the SSRF policy: {0}")]
pub struct Refused(pub String);

/// Why `ip` is not a public address, if it is not.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return non_public_v4(v4);
            }
            non_public_v6(v6)
        }
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || o[0] >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("a shared (carrier-grade NAT) address")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Some("a link-local address")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("a private (unique local) address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

fn allowed(allow: &[String], host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allow.iter().any(|a| {
        let a = a.trim();
        a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(&format!("{host}:{port}"))
    })
}

/// Check `url` against the policy (resolving its host name).
pub async fn check_url(url: &str, allow: &[String]) -> Result<(), Refused> {
    let u = url::Url::parse(url).map_err(|e| Refused(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Refused(format!("{url}: only http:// and https:// URLs can be fetched")));
    }
    let host = u.host_str().ok_or_else(|| Refused(format!("{url}: no host")))?.to_string();
    let port = u.port_or_known_default().unwrap_or(80);
    if allowed(allow, &host, port) {
        return Ok(());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::lookup_host((bare, port)))
            .await
            .map_err(|_| Refused(format!("{host}: name resolution timed out")))?
            .map_err(|e| Refused(format!("{host}: cannot resolve: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    for ip in addrs {
        if let Some(why) = non_public(ip) {
            return Err(Refused(format!(
                "{host} is {why} ({ip}); list it in --allow-hosts (STITCH_ALLOW_HOSTS) to allow jobs to fetch from it"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_ranges_are_refused_unless_allowed() {
        for u in [
            "http://127.0.0.1/x.m3u8",
            "http://10.1.2.3/x",
            "http://192.168.0.1/",
            "http://172.16.5.5/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://localhost:9/",
        ] {
            let e = check_url(u, &[]).await.unwrap_err();
            assert!(e.to_string().contains("SSRF policy") && e.to_string().contains("--allow-hosts"), "{u}: {e}");
        }
        check_url("http://127.0.0.1:8081/x", &["127.0.0.1".into()]).await.unwrap();
        check_url("http://127.0.0.1:8081/x", &["127.0.0.1:8081".into()]).await.unwrap();
        assert!(check_url("http://127.0.0.1:8082/x", &["127.0.0.1:8081".into()]).await.is_err());
        check_url("http://93.184.215.14/x", &[]).await.unwrap();
        assert!(check_url("file:///etc/passwd", &[]).await.is_err());
        assert!(check_url("not a url", &[]).await.is_err());
    }
}
