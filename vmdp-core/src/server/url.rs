//! Server URLs: `https://host:port` (and kopia's `kopia://host:port`) to a gRPC target.

use std::fmt;
use std::net::IpAddr;

use crate::Error;

/// A validated kopia server URL.
///
/// Rules (kopia's `baseURLToURI` plus vmdp's stricter checks, spec §1.3 and §9):
/// scheme `https` or `kopia`; an explicit port (kopia substitutes no default);
/// no path, query, fragment or user info (kopia would silently ignore them, and
/// a server cannot be mounted under a path). One trailing `/` is removed, as kopia
/// does when it stores the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    url: String,
    host: String,
    port: u16,
}

impl ServerUrl {
    /// Parses and validates `s`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let input = s.trim();
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "invalid server address {input:?}: {why}; expected 'https://host:port'"
            ))
        };
        let stripped = input.strip_suffix('/').unwrap_or(input);
        let (scheme, rest) = stripped.split_once("://").ok_or_else(|| bad("no scheme"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "https" | "kopia" => {}
            "unix+https" => {
                return Err(bad(
                    "unix sockets (unix+https://) are not supported by vmdp",
                ));
            }
            "http" => {
                return Err(bad(
                    "plain http cannot carry the repository protocol (kopia serves gRPC only over TLS)",
                ));
            }
            other => return Err(bad(&format!("unsupported scheme {other:?}"))),
        }
        if rest.contains(['/', '?', '#']) {
            return Err(bad(
                "a path, query or fragment is not allowed (the server cannot live under a path)",
            ));
        }
        if rest.contains('@') {
            return Err(bad("user info is not allowed in the URL"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unterminated IPv6 address"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("missing port (kopia uses no default port)"))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("invalid IPv6 address"));
            }
            (h, port)
        } else {
            rest.rsplit_once(':')
                .ok_or_else(|| bad("missing port (kopia uses no default port)"))?
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
        {
            return Err(bad("invalid host name"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("invalid port"))?;
        Ok(ServerUrl {
            url: stripped.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// The URL as stored in kopia's config (one trailing `/` removed).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `host:port` (IPv6 in brackets): the HTTP/2 authority and TCP target.
    pub fn authority(&self) -> String {
        match self.ip() {
            Some(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerUrl({})", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kopia_forms() {
        let u = ServerUrl::parse("https://backup.example:51515/").unwrap();
        assert_eq!(u.as_str(), "https://backup.example:51515");
        assert_eq!(u.host(), "backup.example");
        assert_eq!(u.port(), 51515);
        assert_eq!(u.authority(), "backup.example:51515");
        assert_eq!(u.ip(), None);

        let k = ServerUrl::parse("kopia://127.0.0.1:1234").unwrap();
        assert_eq!(k.authority(), "127.0.0.1:1234");
        assert!(k.ip().is_some());

        let v6 = ServerUrl::parse("https://[::1]:51515").unwrap();
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.authority(), "[::1]:51515");
    }

    #[test]
    fn refuses_bad_urls_with_reason() {
        for (input, why) in [
            ("http://h:1", "plain http"),
            ("h:1", "no scheme"),
            ("https://h", "missing port"),
            ("https://h:0", "invalid port"),
            ("https://h:99999", "invalid port"),
            ("https://h:1/kopia", "path"),
            ("https://h:1?x=1", "path"),
            ("https://u@h:1", "user info"),
            ("https://:1", "missing host"),
            ("https://[::1:1", "IPv6"),
            ("https://[zz]:1", "IPv6"),
            ("ftp://h:1", "unsupported scheme"),
            ("unix+https:///run/k.sock", "unix sockets"),
            ("https://h h:1", "invalid host"),
        ] {
            let e = ServerUrl::parse(input).unwrap_err().to_string();
            assert!(e.contains(why), "{input}: {e}");
        }
    }
}
