//! Outbound calls (webhooks, e-mail), with no database: which addresses a webhook may reach
//! (a webhook URL is an SSRF vector), the Standard Webhooks signature, one HTTP delivery, and
//! one message over SMTP.
//!
//! A webhook URL is checked when it is registered and again at every delivery: its scheme is
//! `http` or `https`, it carries no credentials, and every address its host resolves to is
//! public (not loopback, private, link-local, shared, documentation, multicast or reserved,
//! IPv4-mapped and NAT64 forms included) unless a network of the allow-list holds it. The
//! request then goes to exactly the addresses checked (the host is pinned, so a second DNS
//! answer cannot swap in another), follows no redirect, uses no proxy and has a timeout.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

/// Networks an endpoint may be on although they are not public.
#[derive(Clone, Debug, Default)]
pub struct AllowList(Vec<IpNet>);

impl AllowList {
    /// Parses CIDRs (`10.0.0.0/8`) or single addresses; empty entries are ignored.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut nets = Vec::new();
        for e in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let net = e
                .parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("REMEDY_WEBHOOK_ALLOW: {e:?} is not a CIDR or address"))?;
            nets.push(net);
        }
        Ok(AllowList(nets))
    }

    fn holds(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, shared (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24, protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || o[0] >= 240) // 240.0.0.0/4, reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // 64:ff9b::/96 (NAT64) carries an IPv4 address: judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10, site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // 100::/64, discard
        || s[..6] == [0, 0, 0, 0, 0, 0]) // ::/96, IPv4-compatible (deprecated)
}

/// A webhook URL that passed the checks, with the addresses it may be sent to.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: reqwest::Url,
    pub addrs: Vec<SocketAddr>,
}

/// Longest webhook URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// Checks a webhook URL and resolves its host: every address must be public or allow-listed.
/// The error says why, for people (it names no internal detail beyond the address refused).
pub async fn check_url(raw: &str, allow: &AllowList) -> Result<Target, String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(format!("longer than {MAX_URL_CHARS} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are refused (the signature authenticates)".into());
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "no port".to_string())?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(name)) => {
            let looked = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((name.to_string(), port)),
            )
            .await
            .map_err(|_| format!("{name}: no DNS answer in 5 seconds"))?
            .map_err(|e| format!("{name} does not resolve ({e})"))?;
            let mut v: Vec<SocketAddr> = looked.collect();
            v.dedup();
            v
        }
        None => return Err("no host".into()),
    };
    if addrs.is_empty() {
        return Err("the host has no address".into());
    }
    for a in &addrs {
        if !is_public(a.ip()) && !allow.holds(a.ip()) {
            return Err(format!(
                "address {} is not public (loopback, private, link-local or reserved) and not \
                 in REMEDY_WEBHOOK_ALLOW",
                a.ip()
            ));
        }
    }
    Ok(Target { url, addrs })
}

/// A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks writes it.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The `v1,<base64>` signature of a message: HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed
/// with the secret's decoded bytes (Standard Webhooks).
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the secret is not base64".to_string())?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|_| "the secret is empty".to_string())?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// What one delivery attempt got.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Posts one signed message to a checked target: the headers `webhook-id`,
/// `webhook-timestamp` and `webhook-signature` (one `v1,` signature per secret, space
/// separated), no redirect followed, no proxy, `timeout` for the whole exchange. The answer's
/// body is not read beyond its status.
pub async fn post(
    target: &Target,
    msg_id: &str,
    timestamp: i64,
    body: &str,
    secrets: &[&str],
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let fail = |e: String| Outcome {
        status: None,
        error: Some(e),
        elapsed: started.elapsed(),
    };
    let mut signatures = Vec::new();
    for s in secrets {
        match sign(s, msg_id, timestamp, body) {
            Ok(sig) => signatures.push(sig),
            Err(e) => return fail(e),
        }
    }
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("remedy-webhooks/", env!("CARGO_PKG_VERSION")));
    if let Some(url::Host::Domain(name)) = target.url.host() {
        builder = builder.resolve_to_addrs(name, &target.addrs);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => return fail(format!("client: {e}")),
    };
    let sent = client
        .post(target.url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(body.to_string())
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status();
            Outcome {
                status: Some(status.as_u16()),
                error: (!status.is_success()).then(|| {
                    if status.is_redirection() {
                        format!("answered {status}; redirects are not followed")
                    } else {
                        format!("answered {status}")
                    }
                }),
                elapsed: started.elapsed(),
            }
        }
        Err(e) => fail(if e.is_timeout() {
            format!("no answer within {} s", timeout.as_secs())
        } else if e.is_connect() {
            "could not connect".to_string()
        } else {
            format!("request failed: {}", without_url(&e))
        }),
    }
}

fn without_url(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    if let Some(src) = e.source() {
        s = src.to_string();
    }
    s
}

/// How outbound e-mail is sent.
pub struct Mailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

/// One e-mail: plain text and HTML alternatives.
pub struct Mail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

impl Mailer {
    /// The SMTP transport the settings describe, or `None` without a host.
    pub fn from_config(c: &crate::config::NotifyConfig) -> Result<Option<Mailer>, String> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let Some(host) = c.smtp_host.as_deref() else {
            return Ok(None);
        };
        let from = c
            .smtp_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("REMEDY_SMTP_FROM {:?}: {e}", c.smtp_from))?;
        let mut tls = TlsParameters::builder(host.to_string());
        if let Some(path) = &c.smtp_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("REMEDY_SMTP_CA_FILE {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("REMEDY_SMTP_CA_FILE {}: {e}", path.display()))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls.build().map_err(|e| format!("SMTP TLS: {e}"))?;
        let tls = match c.smtp_tls.to_ascii_lowercase().as_str() {
            "starttls" => Tls::Required(tls),
            "tls" => Tls::Wrapper(tls),
            "none" => Tls::None,
            other => {
                return Err(format!(
                    "REMEDY_SMTP_TLS {other:?}: use starttls, tls or none"
                ))
            }
        };
        let mut b = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(c.smtp_port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let Some(user) = &c.smtp_username {
            b = b.credentials(Credentials::new(
                user.clone(),
                c.smtp_password.clone().unwrap_or_default(),
            ));
        }
        Ok(Some(Mailer {
            transport: b.build(),
            from,
        }))
    }

    /// Sends one message; the error is the server's answer or why there was none.
    pub async fn send(&self, m: &Mail<'_>) -> Result<(), String> {
        use lettre::message::{MultiPart, SinglePart};
        use lettre::AsyncTransport;
        let to =
            m.to.parse::<lettre::message::Mailbox>()
                .map_err(|e| format!("recipient {:?}: {e}", m.to))?;
        let msg = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(m.text.to_string()))
                    .singlepart(SinglePart::html(m.html.to_string())),
            )
            .map_err(|e| format!("message: {e}"))?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// Whether a contact is an e-mail address remedy can send to.
pub fn is_address(s: &str) -> bool {
    s.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a} must not be public");
        }
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a} is public");
        }
    }

    #[tokio::test]
    async fn urls_are_refused_unless_public_or_allowed() {
        let none = AllowList::default();
        for u in [
            "http://127.0.0.1:9/",
            "http://10.1.2.3/",
            "http://localhost:9/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://user:pw@93.184.216.34/",
            "not a url",
        ] {
            assert!(check_url(u, &none).await.is_err(), "{u} must be refused");
        }
        let allow = AllowList::parse(&["127.0.0.1/32".into()]).unwrap();
        assert!(check_url("http://127.0.0.1:9/hook", &allow).await.is_ok());
        assert!(check_url("http://10.1.2.3/", &allow).await.is_err());
        assert!(check_url("http://93.184.216.34/", &none).await.is_ok());
        assert!(AllowList::parse(&["nonsense".into()]).is_err());
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks reference libraries' test suites.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().starts_with("whsec_"));
        assert_ne!(new_secret(), new_secret());
    }
}
