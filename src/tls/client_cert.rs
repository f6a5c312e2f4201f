//! A verified client certificate's names (mutual TLS, issue #17): what fairness keys a client by
//! (`client_key = "certificate"`), what an agent may be named by (`[[agents]]
//! certificate_subject`), and what `/stats` counts.
//!
//! Owns: reading the names from the certificate (its subject's one common name, its DNS, URI and
//! e-mail alternative names) and matching a configured name against them by kind (`cn:`, `dns:`,
//! `uri:`, `email:`; no prefix: the common name).
//! Must never: be made from a certificate the handshake did not verify (`tls` attaches it only
//! with a client CA); take a name it would have to alter to show (control characters, non-ASCII,
//! spaces at its ends: such a name is dropped, never cleaned into another one), or match a name of
//! one kind against another kind (a common name is no URI).

/// The longest name kept.
const MAX_NAME: usize = 256;
/// At most this many alternative names are kept.
const MAX_SANS: usize = 16;

pub use crate::config::agents::{certificate_name as configured, NameKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject as x509-parser shows it (`CN=agent-1, O=acme`): for logs and `/stats`, never
    /// matched.
    pub subject: String,
    /// The subject's common name, when it has exactly one.
    pub common_name: Option<String>,
    /// DNS names, URIs (`spiffe://…`) and e-mail addresses.
    pub alternative_names: Vec<(NameKind, String)>,
}

/// The name as it is, when it can be shown and compared as it is: printable ASCII, bounded, no
/// spaces at its ends.
fn exact(text: &str) -> Option<String> {
    let printable = text.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    (printable && !text.is_empty() && text.len() <= MAX_NAME && text.trim() == text).then(|| text.to_string())
}

impl ClientCertificate {
    pub fn from_der(der: &[u8]) -> Option<ClientCertificate> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject: String =
            cert.subject().to_string().chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(512).collect();
        let mut common_names = cert.subject().iter_common_name();
        let common_name = match (common_names.next(), common_names.next()) {
            (Some(cn), None) => cn.as_str().ok().and_then(exact),
            // None, or several: no common name to go by.
            _ => None,
        };
        let mut alternative_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                let named = match name {
                    GeneralName::DNSName(n) => exact(n).map(|n| (NameKind::Dns, n)),
                    GeneralName::URI(n) => exact(n).map(|n| (NameKind::Uri, n)),
                    GeneralName::RFC822Name(n) => exact(n).map(|n| (NameKind::Email, n)),
                    _ => None,
                };
                alternative_names.extend(named);
                if alternative_names.len() == MAX_SANS {
                    break;
                }
            }
        }
        Some(ClientCertificate { subject, common_name, alternative_names })
    }

    /// The client's name: its common name, else its first alternative name, else its subject.
    pub fn name(&self) -> &str {
        self.common_name.as_deref().or(self.alternative_names.first().map(|(_, n)| n.as_str())).unwrap_or(&self.subject)
    }

    /// Does `wanted` (see [`configured`]) name this certificate, exactly, by a name of its kind?
    pub fn is_named(&self, wanted: &str) -> bool {
        let (kind, text) = configured(wanted);
        if text.is_empty() {
            return false;
        }
        match kind {
            NameKind::CommonName => self.common_name.as_deref() == Some(text),
            kind => self.alternative_names.iter().any(|(k, n)| *k == kind && n == text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(cn: &str, sans: Vec<rcgen::SanType>) -> ClientCertificate {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "acme");
        params.subject_alt_names = sans;
        let key = rcgen::KeyPair::generate().unwrap();
        ClientCertificate::from_der(params.self_signed(&key).unwrap().der()).unwrap()
    }

    fn ia5(text: &str) -> rcgen::string::Ia5String {
        rcgen::string::Ia5String::try_from(text).unwrap()
    }

    #[test]
    fn a_certificate_is_named_by_its_common_name_and_alternative_names_of_their_kind_17() {
        let sans = vec![
            rcgen::SanType::DnsName(ia5("agent-1.fleet.internal")),
            rcgen::SanType::URI(ia5("spiffe://acme/agent-1")),
        ];
        let named = certificate("agent-1", sans);
        assert_eq!(named.name(), "agent-1");
        assert!(named.subject.contains("CN=agent-1") && named.subject.contains("O=acme"), "{}", named.subject);
        for wanted in ["agent-1", "cn:agent-1", "dns:agent-1.fleet.internal", "uri:spiffe://acme/agent-1", " agent-1 "]
        {
            assert!(named.is_named(wanted), "{wanted}");
        }
        // A name of one kind never matches another kind; no substring, no whole subject.
        for not in
            ["agent-2", "agent", "", "cn:", "acme", "uri:agent-1", "dns:spiffe://acme/agent-1", "spiffe://acme/agent-1"]
        {
            assert!(!named.is_named(not), "{not}");
        }
        assert!(!named.is_named(&named.subject), "the subject string is shown, never matched");
        assert_eq!(ClientCertificate::from_der(b"not a certificate"), None);
    }

    #[test]
    fn a_name_that_would_have_to_be_altered_names_nobody_17() {
        // Red team: a stripped character or trimmed space must not turn one name into another.
        for cn in ["agent-1\u{ad}", "agent-1é", " agent-1", "agent-1 ", "agent-1\u{7}"] {
            let named = certificate(cn, vec![]);
            assert_eq!(named.common_name, None, "{cn:?}");
            assert!(!named.is_named("agent-1"), "{cn:?}");
        }
    }
}
